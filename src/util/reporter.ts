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
  /**
   * A periodic progress line (the trainer's every-N-batches line: loss, accuracy, lr, ETA). Meant for output
   * that is not a terminal (log files, SLURM, CI), where a redrawn bar shows nothing; a terminal may ignore it.
   */
  line?(text: string): void;
}

const noopHandle: ProgressHandle = { update() {}, stop() {} };

export const silentReporter: Reporter = {
  info() {},
  warn() {},
  progress() {
    return noopHandle;
  },
};
