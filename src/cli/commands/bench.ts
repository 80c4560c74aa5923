import type { Command } from 'commander';
import { UserError } from '../../util/errors.js';
import { intFlag } from '../flags.js';

/** `mpl bench <what>`: the benchmarks of bench/, with the plain-PyTorch baseline when available. */
export function register(program: Command): void {
  program
    .command('bench')
    .description('run a benchmark (engine, zeroshot, train, data) beside plain PyTorch when /usr/bin/python3 has torch')
    .argument('<what>', 'engine | zeroshot | train | data')
    .option('--json', 'print one JSON object')
    .option('--reps <n>', 'timed repetitions', intFlag('--reps', { min: 1, max: 100_000 }))
    .option('--no-python', 'skip the PyTorch baseline')
    .addHelpText(
      'after',
      `
Examples:
  mpl bench engine            one ViT-B/16 block, forward and forward+backward, ms and GFLOP/s
  mpl bench engine --json     {"fwd_ms", "fwdbwd_ms", "torch_fwd_ms", "torch_fwdbwd_ms", ...}
  mpl bench zeroshot --json   zero-shot evaluation images/s of a random ViT-B/16, batch 100
  mpl bench train --json      one MPL training epoch and one evaluation pass, images/s
  mpl bench data              the image pipeline: decode + augment + batch, images/s`,
    )
    .action(async (what: string, opts: { json?: boolean; reps?: number; python: boolean }) => {
      let result: unknown;
      let text: string;
      if (what === 'engine') {
        const m = await import('../../../bench/engine.js');
        const r = m.runEngineBench({ reps: opts.reps, python: opts.python });
        result = r;
        text = m.formatEngineBench(r);
      } else if (what === 'zeroshot') {
        const m = await import('../../../bench/zeroshot.js');
        const r = m.runZeroshotBench({ reps: opts.reps, python: opts.python });
        result = r;
        text = m.formatZeroshotBench(r);
      } else if (what === 'train') {
        const m = await import('../../../bench/train.js');
        const r = await m.runTrainBench({ python: opts.python });
        result = r;
        text = m.formatTrainBench(r);
      } else if (what === 'data') {
        const m = await import('../../../bench/data.js');
        const r = await m.runDataBench();
        result = r;
        text = m.formatDataBench(r);
      } else {
        throw new UserError(`unknown benchmark '${what}' (engine, zeroshot, train or data)`);
      }
      process.stdout.write((opts.json ? JSON.stringify(result) : text) + '\n');
    });
}
