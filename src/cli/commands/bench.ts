import type { Command } from 'commander';
import { UserError } from '../../util/errors.js';
import { intFlag, numberFlag } from '../flags.js';
import { addComputeOptions, computeFrom, type ComputeFlags } from '../compute-options.js';
import { checkMethod } from '../../prompting/methods/index.js';

interface BenchFlags extends ComputeFlags {
  json?: boolean;
  reps?: number;
  python: boolean;
  classes?: number;
  trainImages?: number;
  evalImages?: number;
  arch?: string;
  memoryLimit?: number;
  trainPerClass?: number;
  valPerClass?: number;
  dir?: string;
  method?: string;
}

/** `mpl bench <what>`: the benchmarks of bench/, beside plain PyTorch in the same run when it is available. */
export function register(program: Command): void {
  const cmd = program
    .command('bench')
    .description('run a benchmark (engine, zeroshot, train, methods, data, imagenet-data) beside plain PyTorch (MPL_BENCH_PYTHON, else /usr/bin/python3 with torch)')
    .argument('<what>', 'engine | zeroshot | train | methods | data | imagenet-data')
    .option('--json', 'print one JSON object')
    .option('--reps <n>', 'timed repetitions', intFlag('--reps', { min: 1, max: 100_000 }))
    .option('--classes <n>', 'train: classes whose prompts the text encoder runs every step (default 5, EuroSAT base)', intFlag('--classes', { min: 1, max: 100_000 }))
    .option('--train-images <n>', 'train: images in the timed training epoch (default 80 on a CPU, 400 on a GPU)', intFlag('--train-images', { min: 4, max: 10_000_000 }))
    .option('--eval-images <n>', 'train: images in the timed evaluation (default 100 on a CPU, 1000 on a GPU)', intFlag('--eval-images', { min: 1, max: 10_000_000 }))
    .option('--arch <name>', 'train: the architecture, random weights (ViT-B/16; siglip-base-patch16-224 for SigLIP-B/16)', 'ViT-B/16')
    .option('--method <name>', 'train: the method timed (default mpl); mpl, kgcoop and prograd beside their official step in PyTorch, the others without a baseline')
    .option('--memory-limit <GiB>', 'train: memory each side may use; a side that needs more is reported as not fitting (default: 80% of the memory available at the start)', numberFlag('--memory-limit', { exclusiveMin: true }))
    .option('--train-per-class <n>', 'imagenet-data: training files per class folder (default 1281: 1.28M files)', intFlag('--train-per-class', { min: 1, max: 100_000 }))
    .option('--val-per-class <n>', 'imagenet-data: validation files per class folder (default 50)', intFlag('--val-per-class', { min: 1, max: 100_000 }))
    .option('--dir <folder>', 'imagenet-data: where the generated tree is written, then removed (default: the temporary folder)')
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
  mpl bench train --classes 1000 --train-images 8 --eval-images 20 --memory-limit 16 --json
                                           ImageNet's 1,000 classes; each side capped at 16 GiB
  mpl bench train --arch siglip-base-patch16-224 --json   MPL training on a random SigLIP-B/16 (run --arch ViT-B/16 beside it)
  mpl bench train --method prograd --json  ProGrad's training (two backward passes per step) beside PyTorch
  mpl bench methods --json                 training time per method (MPL, linear probe, CLIP-Adapter, Tip-Adapter(-F)), official recipes
  mpl bench data                           the image pipeline: decode + augment + batch, images/s
  mpl bench imagenet-data                  listing a 1.28M-file ImageNet tree, the 16-shot subset, the variants`,
  );
  cmd.action(async (what: string, f: BenchFlags) => {
    let result: unknown;
    let text: string;
    const compute = () => {
      const c = computeFrom(f);
      return { target: { device: c.device, precision: c.precision.name, deviceName: c.description } };
    };
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
      const memoryLimit = f.memoryLimit === undefined ? undefined : Math.floor(f.memoryLimit * 2 ** 30);
      const method = f.method === undefined ? undefined : checkMethod(f.method);
      const r = await m.runTrainBench({ arch: f.arch, method, python: f.python, classes: f.classes, trainImages: f.trainImages, evalImages: f.evalImages, memoryLimit, ...compute() });
      result = r;
      text = m.formatTrainBench(r);
    } else if (what === 'data') {
      const m = await import('../../../bench/data.js');
      const r = await m.runDataBench();
      result = r;
      text = m.formatDataBench(r);
    } else if (what === 'imagenet-data') {
      const m = await import('../../../bench/imagenet-data.js');
      const r = await m.runImagenetDataBench({ trainPerClass: f.trainPerClass, valPerClass: f.valPerClass, dir: f.dir });
      result = r;
      text = m.formatImagenetDataBench(r);
    } else {
      throw new UserError(`unknown benchmark '${what}' (engine, zeroshot, train, methods, data or imagenet-data)`);
    }
    process.stdout.write((f.json ? JSON.stringify(result) : text) + '\n');
  });
}
