import { SingleBar, Presets } from 'cli-progress';
import type { ProgressHandle, Reporter } from '../util/reporter.js';

/**
 * The terminal reporter: messages on stderr, progress bars (cli-progress) when stderr is a TTY. A message
 * already said by this command is not said again (the loaders of one run each note the same worker count).
 */
export function terminalReporter(options: { quiet?: boolean } = {}): Reporter {
  const tty = Boolean(process.stderr.isTTY) && !options.quiet;
  const said = new Set<string>();
  const once = (line: string) => {
    if (said.has(line)) return;
    said.add(line);
    process.stderr.write(`${line}\n`);
  };
  return {
    info(message) {
      if (!options.quiet) once(message);
    },
    warn(message) {
      once(`warning: ${message}`);
    },
    line(text) {
      // a terminal shows the same numbers in its progress bar
      if (!tty && !options.quiet) process.stderr.write(`${text}\n`);
    },
    progress(label, total, unit = 'it'): ProgressHandle {
      if (!tty) {
        // Not a terminal (CI, log files): one line at the end instead of a redrawn bar.
        let fields: Record<string, string | number> = {};
        let done = 0;
        return {
          update(d, f) {
            done = d;
            if (f) fields = { ...fields, ...f };
          },
          stop() {
            if (options.quiet) return;
            const extra = Object.entries(fields).map(([k, v]) => `${k} ${v}`).join(' ');
            process.stderr.write(`${label}: ${done}/${total} ${unit}${extra ? ' ' + extra : ''}\n`);
          },
        };
      }
      const bar = new SingleBar(
        {
          format: `${label} |{bar}| {value}/{total} ${unit} {fields} eta {eta_formatted}`,
          stream: process.stderr,
          hideCursor: true,
        },
        Presets.shades_classic,
      );
      bar.start(total, 0, { fields: '' });
      let fields: Record<string, string | number> = {};
      return {
        update(d, f) {
          if (f) fields = { ...fields, ...f };
          bar.update(d, { fields: Object.entries(fields).map(([k, v]) => `${k} ${v}`).join(' ') });
        },
        stop() {
          bar.stop();
        },
      };
    },
  };
}
