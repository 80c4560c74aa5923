import type { Command } from 'commander';
import { UserError } from '../../util/errors.js';
import { checkMethod } from '../../prompting/methods/index.js';
import { intFlag } from '../flags.js';
import { addComputeOptions, computeFrom, type ComputeFlags } from '../compute-options.js';

interface BenchFlags extends ComputeFlags {
  json?: boolean;
  arch?: string;
  reps?: number;
  python: boolean;
  classes?: number;
  trainImages?: number;
  evalImages?: number;
  method?: string;
}

/** `mpl bench <what>`: the benchmarks of bench/, beside plain PyTorch in the same run when it is available. */
export function register(program: Command): void {
  const cmd = program
    .command('bench')
    .description('run a benchmark (engine, zeroshot, train, data) beside plain PyTorch (MPL_BENCH_PYTHON, else /usr/bin/python3 with torch)')
    .argument('<what>', 'engine | zeroshot | train | methods | data')
    .option('--json', 'print one JSON object')
    .option('--reps <n>', 'timed repetitions', intFlag('--reps', { min: 1, max: 100_000 }))
    .option('--classes <n>', 'train: classes whose prompts the text encoder runs every step (default 5, EuroSAT base)', intFlag('--classes', { min: 1, max: 100_000 }))
    .option('--train-images <n>', 'train: images in the timed training epoch (default 80 on a CPU, 400 on a GPU)', intFlag('--train-images', { min: 4, max: 10_000_000 }))
    .option('--eval-images <n>', 'train: images in the timed evaluation (default 100 on a CPU, 1000 on a GPU)', intFlag('--eval-images', { min: 1, max: 10_000_000 }))
    .option('--arch <name>', 'train: the architecture, random weights (ViT-B/16; siglip-base-patch16-224 for SigLIP-B/16)', 'ViT-B/16')
    .option('--method <name>', 'train: the method timed, mpl (default), kgcoop or prograd, each beside its official step in PyTorch')
    .option('--no-python', 'skip the PyTorch baseline');
  addComputeOptions(cmd, { device: 'auto', precision: 'fp32' }).addHelpText(
    'after',
    `
Examples:
  mpl bench engine                         one ViT-B/16 block, forward and forward+backward, ms and GFLOP/s (CPU)
  mpl bench zeroshot --json                zero-shot evaluation images/s of a random ViT-B/16, batch 100
  mpl bench train --json                   MPL training and evaluation images/s, fp32
  mpl bench train --precision bf16 --json  the same in bf16, beside PyTorch fp32 and PyTorch bf16 autocast
  mpl bench train --device cuda --precision fp16 --classes 50
  mpl bench train --arch siglip-base-patch16-224 --json   MPL training on a random SigLIP-B/16 (run --arch ViT-B/16 beside it)
  mpl bench train --method prograd --json  ProGrad's training (two backward passes per step) beside PyTorch
  mpl bench methods --json                 training time per method (MPL, linear probe, CLIP-Adapter, Tip-Adapter(-F)), official recipes
  mpl bench data                           the image pipeline: decode + augment + batch, images/s`,
  );
  cmd.action(async (what: string, f: BenchFlags) => {
    let result: unknown;
    let text: string;
    const compute = () => {
      const c = computeFrom(f);
      return { target: { device: c.device, precision: c.precision.name, deviceName: c.description } };
    };
    if (f.method !== undefined && what !== 'train') throw new UserError(`--method applies to mpl bench train only (not ${what})`);
    if (what === 'engine') {
      const m = await import('../../../bench/engine.js');
      const r = m.runEngineBench({ reps: f.reps, python: f.python });
      result = r;
      text = m.formatEngineBench(r);
    } else if (what === 'zeroshot') {
      const m = await import('../../../bench/zeroshot.js');
      const r = m.runZeroshotBench({ reps: f.reps, python: f.python, ...compute() });
      result = r;
      text = m.formatZeroshotBench(r);
    } else if (what === 'methods') {
      const m = await import('../../../bench/methods.js');
      // each method's time as it is measured (stderr), the table at the end
      const r = await m.runMethodsBench({ trainImages: f.trainImages, ...compute(), onMethod: (t) => process.stderr.write(`${JSON.stringify(t)}\n`) });
      result = r;
      text = m.formatMethodsBench(r);
    } else if (what === 'train') {
      if (f.classes !== undefined && f.classes < 1) throw new UserError('--classes must be at least 1');
      const m = await import('../../../bench/train.js');
      const r = await m.runTrainBench({ arch: f.arch, python: f.python, classes: f.classes, trainImages: f.trainImages, evalImages: f.evalImages, method: f.method ? checkMethod(f.method) : undefined, ...compute() });
      result = r;
      text = m.formatTrainBench(r);
    } else if (what === 'data') {
      const m = await import('../../../bench/data.js');
      const r = await m.runDataBench();
      result = r;
      text = m.formatDataBench(r);
    } else {
      throw new UserError(`unknown benchmark '${what}' (engine, zeroshot, train, methods or data)`);
    }
    process.stdout.write((f.json ? JSON.stringify(result) : text) + '\n');
  });
}
