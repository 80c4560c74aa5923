/**
 * Training benchmark: one MPL training epoch (EuroSAT base-to-new size by default: 5 classes x 16 shots =
 * 80 images, batch 4, the official optimiser) and one evaluation pass (batch 100) on a random full-size
 * ViT-B/16, images/s, beside the same work in plain PyTorch (the official trainer's computation).
 * Images are random tensors: this measures the model work; `node dist/bench/data.js` measures decoding.
 *   node dist/bench/train.js [--json] [--train-images N] [--eval-images N]   (or: npx mpl bench train --json)
 */
import { knownArchitectures } from '../src/clip/config.js';
import { ClipModel } from '../src/clip/model.js';
import { ClipTokenizer } from '../src/clip/tokenizer.js';
import { PromptLearner } from '../src/prompting/learner.js';
import type { Batch, BatchSource } from '../src/train/batches.js';
import { evaluate } from '../src/train/evaluate.js';
import { train } from '../src/train/trainer.js';
import { Generator, checkBlas, getNumThreads, randn, torchVersion } from '../src/torch/index.js';
import { runPython, torchAvailable } from './common.js';

export interface TrainBenchResult {
  model: string;
  method: string;
  classes: number;
  train_images: number;
  eval_images: number;
  threads: number;
  libtorch: string;
  trainable_parameters: number;
  train_images_per_s: number;
  eval_images_per_s: number;
  torch_version?: string;
  torch_train_images_per_s?: number;
  torch_eval_images_per_s?: number;
  train_ratio?: number;
  eval_ratio?: number;
}

const EUROSAT_BASE = ['Annual Crop Land', 'Forest', 'Herbaceous Vegetation Land', 'Highway or Road', 'Industrial Buildings'];

function randomSource(n: number, batchSize: number, seed: number): BatchSource {
  const g = new Generator(seed);
  const one = randn([batchSize, 3, 224, 224], g);
  const images = one.toFloat32();
  one.dispose();
  const labels = Int32Array.from({ length: batchSize }, (_, i) => i % EUROSAT_BASE.length);
  const batches = Math.floor(n / batchSize);
  return {
    length: batches * batchSize,
    batchesPerEpoch: () => batches,
    async *batches(): AsyncGenerator<Batch> {
      for (let b = 0; b < batches; b++) yield { images, labels, size: batchSize, imageSize: 224 };
    },
    async close() {},
  };
}

export async function runTrainBench(options: { trainImages?: number; evalImages?: number; python?: boolean } = {}): Promise<TrainBenchResult> {
  checkBlas();
  const nTrain = options.trainImages ?? 80;
  const nEval = options.evalImages ?? 100;
  const model = ClipModel.random(knownArchitectures['ViT-B/16'], 0);
  const learner = new PromptLearner(model, ClipTokenizer.default(), 'mpl', EUROSAT_BASE, { seed: 1 });
  const t = await train(learner, randomSource(nTrain, 4, 1), { epochs: 1, lr: 0.0035, warmupEpochs: 0 });
  const e = await evaluate(learner, randomSource(nEval, Math.min(100, nEval), 2));
  const r: TrainBenchResult = {
    model: 'ViT-B/16 (random weights)',
    method: 'mpl (N_CTX 1, add 2, remove 1, depth 9)',
    classes: EUROSAT_BASE.length,
    train_images: t.epochs[0].images,
    eval_images: e.total,
    threads: getNumThreads(),
    libtorch: torchVersion(),
    trainable_parameters: learner.trainableParameters,
    train_images_per_s: t.epochs[0].imagesPerSecond,
    eval_images_per_s: e.imagesPerSecond,
  };
  learner.dispose();
  model.dispose();
  if (options.python !== false && torchAvailable()) {
    const py = runPython('train.py', [String(r.threads), String(nTrain), String(nEval), String(EUROSAT_BASE.length)]);
    r.torch_version = String(py.torch_version);
    r.torch_train_images_per_s = Number(py.torch_train_images_per_s);
    r.torch_eval_images_per_s = Number(py.torch_eval_images_per_s);
    r.train_ratio = r.train_images_per_s / r.torch_train_images_per_s;
    r.eval_ratio = r.eval_images_per_s / r.torch_eval_images_per_s;
  }
  return r;
}

export function formatTrainBench(r: TrainBenchResult): string {
  const lines = [
    `MPL training epoch (${r.train_images} images, batch 4, ${r.classes} classes) and evaluation (${r.eval_images} images, batch 100)`,
    `  ${r.model}, ${r.trainable_parameters.toLocaleString('en-US')} trainable parameters, libtorch ${r.libtorch}, ${r.threads} threads`,
    `  mpl      train ${r.train_images_per_s.toFixed(2)} images/s   eval ${r.eval_images_per_s.toFixed(2)} images/s`,
  ];
  if (r.torch_train_images_per_s !== undefined) {
    lines.push(
      `  PyTorch  train ${r.torch_train_images_per_s.toFixed(2)} images/s   eval ${r.torch_eval_images_per_s!.toFixed(2)} images/s   (torch ${r.torch_version})`,
      `  ratio mpl/PyTorch throughput: train ${r.train_ratio!.toFixed(3)}x   eval ${r.eval_ratio!.toFixed(3)}x`,
    );
  } else lines.push('  (PyTorch baseline skipped: /usr/bin/python3 cannot import torch)');
  return lines.join('\n');
}

if (require.main === module) {
  const arg = (k: string) => {
    const i = process.argv.indexOf(k);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  void runTrainBench({ trainImages: arg('--train-images'), evalImages: arg('--eval-images') }).then((r) =>
    console.log(process.argv.includes('--json') ? JSON.stringify(r) : formatTrainBench(r)),
  );
}
