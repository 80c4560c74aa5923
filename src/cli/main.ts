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
    .exitOverride();
  for (const register of commands) register(program);
  return program;
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
    throw err;
  }
}
