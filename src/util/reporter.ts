/**
 * How library code reports progress and messages without touching the terminal. The CLI passes a
 * reporter that draws progress bars and prints; tests and scripts pass `silentReporter` or their own.
 */
export interface ProgressHandle {
  update(done: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

export interface Reporter {
  info(message: string): void;
  warn(message: string): void;
  /** A progress bar for `total` units (images, bytes, batches); `label` says what is counted. */
  progress(label: string, total: number, unit?: string): ProgressHandle;
}

const noopHandle: ProgressHandle = { update() {}, stop() {} };

export const silentReporter: Reporter = {
  info() {},
  warn() {},
  progress() {
    return noopHandle;
  },
};
