import { Command, CommanderError } from 'commander';
import { UserError } from '../util/errors.js';
import { commands } from './commands/index.js';

function packageVersion(): string {
  // dist/src/cli/main.js -> package.json three folders up
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../../../package.json') as { version: string }).version;
}

/** Builds the `mpl` program. Each command lives in src/cli/commands/<name>.ts and registers itself. */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('mpl')
    .description('Modular Prompt Learning for CLIP: train, evaluate and compare prompt-learning methods')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError(false)
    // commander's own usage errors ("error: unknown option '--x'") get the same `mpl:` prefix as ours;
    // subcommands inherit this (they are created after it)
    .configureOutput({ outputError: (text, write) => write(usageErrorLine(text)) })
    .exitOverride();
  for (const register of commands) register(program);
  return program;
}

/** Commander's usage error ("error: unknown option '--x'\n(Did you mean --y?)") as one `mpl:` line. */
function usageErrorLine(text: string): string {
  const line = text.replace(/^error: /, '').trim().split('\n').map((l) => l.trim()).join(' ');
  return `mpl: ${line} (--help lists the options)\n`;
}

/** Runs the CLI; resolves to the process exit code. Bad input prints one line: `mpl: <reason>`. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit through here with code 0; usage errors were already printed by commander.
      return err.exitCode;
    }
    if (err instanceof UserError) {
      process.stderr.write(`mpl: ${err.message}\n`);
      return err.exitCode;
    }
    const sys = systemErrorLine(err);
    if (sys) {
      process.stderr.write(`mpl: ${sys}\n`);
      return 1;
    }
    throw err;
  }
}

/**
 * A file-system error that escaped as a plain Node error (a full disk while appending a log, a folder that
 * vanished): one line naming the path instead of a stack trace. Anything else is a bug and keeps its stack.
 */
function systemErrorLine(err: unknown): string | null {
  const e = err as NodeJS.ErrnoException;
  if (!(err instanceof Error) || typeof e.code !== 'string' || typeof e.syscall !== 'string') return null;
  const advice: Record<string, string> = {
    ENOSPC: 'no space left on the device: free some space and run the command again (with --resume to continue a training run)',
    EDQUOT: 'disk quota exceeded: free some space and run the command again',
    EIO: 'I/O error on the device',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOTDIR: 'a part of the path is a file, not a folder',
    EISDIR: 'is a folder, not a file',
    ENOENT: 'no such file or folder',
  };
  const what = advice[e.code] ?? e.message.split('\n')[0];
  return `${e.path ? `${e.path}: ` : ''}${what} (${e.code}, ${e.syscall})`;
}
