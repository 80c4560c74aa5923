/**
 * Training benchmark: MPL training steps (EuroSAT base-to-new size by default: 5 classes, batch 4, the official
 * optimiser) and an evaluation pass (batch 100) on a random full-size ViT-B/16, images/s, on a device in a
 * precision, beside the same work in plain PyTorch (the official trainer's computation) in the same run:
 * the PyTorch baseline in fp32 (`torch_*`, the official code's only working CPU precision) and, when the
 * precision is another, in that precision too (`torch_same_precision_*`: the official fp16 recipe, or
 * autocast for amp / bf16) where PyTorch can run it. `--classes N` shows the text encoder's share (ImageNet's
 * base half has 500 classes). Images are random tensors copied from host memory every batch: this measures
 * the model work; `mpl bench data` measures decoding. `--method kgcoop|prograd` times those methods instead
 * (their default options, the learning rate of their recipe, the same batch of 4), beside their official
 * trainers' steps in PyTorch (bench/python/train.py).
 *   npx mpl bench train --device cuda --precision fp16 --classes 50 --json
 *   npx mpl bench train --method prograd --json
 */
import { ClipModel } from '../src/backbones/clip/model.js';
import { ClipTokenizer } from '../src/backbones/clip/tokenizer.js';
import { familyOf, knownArchitecture } from '../src/backbones/index.js';
import type { BackboneArchitecture, BackboneModel, TextTokenizer } from '../src/backbones/model.js';
import { SiglipModel } from '../src/backbones/siglip/model.js';
import type { SiglipArchitecture } from '../src/backbones/siglip/weights.js';
import { PromptLearner } from '../src/prompting/learner.js';
import { RECIPES, type MethodName } from '../src/prompting/methods/index.js';
import { UserError } from '../src/util/errors.js';
import type { Batch, BatchSource } from '../src/train/batches.js';
import { evaluate } from '../src/train/evaluate.js';
import { train } from '../src/train/trainer.js';
import { Generator, checkBlas, getNumThreads, isCuda, noGrad, randn, tensor, tidy, torchVersion, type Device, type PrecisionName } from '../src/torch/index.js';
import { relativeL2, runPython, torchAvailable, type BenchTarget } from './common.js';

export interface TrainBenchResult {
  model: string;
  method: string;
  device: Device;
  device_name: string;
  precision: PrecisionName;
  classes: number;
  train_images: number;
  eval_images: number;
  threads: number;
  libtorch: string;
  trainable_parameters: number;
  train_images_per_s: number;
  eval_images_per_s: number;
  /** ‖logits − logits_fp32‖ / ‖logits_fp32‖ on 8 images, same weights and prompts (precision ≠ fp32) */
  eval_logits_relative_error_vs_fp32?: number;
  torch_version?: string;
  /** the PyTorch baseline in fp32 on the same device */
  torch_train_images_per_s?: number;
  torch_eval_images_per_s?: number;
  /** the PyTorch baseline in the same precision (when it is not fp32 and PyTorch can run it there) */
  torch_same_precision_train_images_per_s?: number;
  torch_same_precision_eval_images_per_s?: number;
  /** mpl / PyTorch in the same precision (fp32 when that is the precision) */
  train_ratio?: number;
  eval_ratio?: number;
  /** mpl in this precision / PyTorch in fp32 */
  train_ratio_vs_fp32?: number;
  eval_ratio_vs_fp32?: number;
  baseline_note?: string;
}

const EUROSAT_BASE = ['Annual Crop Land', 'Forest', 'Herbaceous Vegetation Land', 'Highway or Road', 'Industrial Buildings'];

/** N class names of EuroSAT-like length (the text encoder's work depends on the prompt lengths). */
export function benchClassNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => (i < EUROSAT_BASE.length ? EUROSAT_BASE[i] : `${EUROSAT_BASE[i % EUROSAT_BASE.length]} ${i}`));
}

/** Batches of one fixed random image batch held in host memory (copied to the device every batch). */
export function randomSource(n: number, batchSize: number, seed: number, classes: number): BatchSource {
  const g = new Generator(seed);
  const one = randn([batchSize, 3, 224, 224], g);
  const images = one.toFloat32();
  one.dispose();
  const labels = Int32Array.from({ length: batchSize }, (_, i) => i % classes);
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

/** The methods with a PyTorch baseline of their training step (bench/python/train.py). */
export const BENCH_METHODS = ['mpl', 'kgcoop', 'prograd'] as const;
const DESCRIPTION: Record<(typeof BENCH_METHODS)[number], string> = {
  mpl: 'mpl (N_CTX 1, add 2, remove 1, depth 9)',
  kgcoop: 'kgcoop (4 context tokens, W 8)',
  prograd: 'prograd (16 context tokens, two backward passes and a projection per step)',
};

export interface TrainBenchOptions extends BenchTarget {
  /** the architecture (random weights): ViT-B/16 (default) or siglip-base-patch16-224 (`--arch`) */
  arch?: string;
  /** mpl (default), kgcoop or prograd */
  method?: MethodName;
  trainImages?: number;
  evalImages?: number;
  classes?: number;
  python?: boolean;
}

export async function runTrainBench(options: TrainBenchOptions = {}): Promise<TrainBenchResult> {
  const { device, precision, deviceName } = options.target ?? { device: 'cpu', precision: 'fp32', deviceName: 'cpu' };
  if (!isCuda(device)) checkBlas();
  const cuda = isCuda(device);
  const nTrain = options.trainImages ?? (cuda ? 400 : 80);
  const nEval = options.evalImages ?? (cuda ? 1000 : 100);
  const nClasses = options.classes ?? EUROSAT_BASE.length;
  const names = benchClassNames(nClasses);
  const archName = options.arch ?? 'ViT-B/16';
  const arch = knownArchitecture(archName);
  if (!arch || arch.vision.image_size !== 224) throw new Error(`bench train: ${archName} is not a known 224-pixel architecture (ViT-B/16, siglip-base-patch16-224)`);
  const method = options.method ?? 'mpl';
  if (!(BENCH_METHODS as readonly string[]).includes(method)) throw new UserError(`--method ${method}: the training benchmark times ${BENCH_METHODS.join(', ')}`);
  const lr = RECIPES[method].lr;
  const { model, tokenizer } = randomModel(arch, device, precision);
  const learner = new PromptLearner(model, tokenizer, method, names, { seed: 1 });
  const evalBatch = Math.min(100, nEval);
  // warm-up (kernel selection, allocator, cuBLAS handles): a few steps and one evaluation batch, untimed
  await train(learner, randomSource(cuda ? 12 : 4, 4, 3, nClasses), { epochs: 1, lr, warmupEpochs: 0 });
  await evaluate(learner, randomSource(evalBatch, evalBatch, 4, nClasses));
  const t = await train(learner, randomSource(nTrain, 4, 1, nClasses), { epochs: 1, lr, warmupEpochs: 0 });
  const e = await evaluate(learner, randomSource(nEval, evalBatch, 2, nClasses));
  const r: TrainBenchResult = {
    model: `${archName} (random weights)`,
    method: DESCRIPTION[method as (typeof BENCH_METHODS)[number]],
    device,
    device_name: deviceName,
    precision,
    classes: nClasses,
    train_images: t.epochs[0].images,
    eval_images: e.total,
    threads: getNumThreads(),
    libtorch: torchVersion(),
    trainable_parameters: learner.trainableParameters,
    train_images_per_s: t.epochs[0].imagesPerSecond,
    eval_images_per_s: e.imagesPerSecond,
  };
  if (precision !== 'fp32') r.eval_logits_relative_error_vs_fp32 = logitsErrorVsFp32(arch, learner, names, device, method);
  learner.dispose();
  model.dispose();
  if (familyOf(arch).name !== 'clip') {
    // bench/python/train.py is the official (CLIP) trainer's computation; no PyTorch baseline for another family
    r.baseline_note = `no PyTorch baseline for ${familyOf(arch).name}: compare with \`mpl bench train --arch ViT-B/16\` in the same session`;
    return r;
  }
  if (options.python !== false && torchAvailable()) {
    const args = (p: PrecisionName) => [String(r.threads), String(nTrain), String(nEval), String(nClasses), device, p, method];
    const fp32 = runPython('train.py', args('fp32'));
    r.torch_version = String(fp32.torch_version);
    r.torch_train_images_per_s = Number(fp32.torch_train_images_per_s);
    r.torch_eval_images_per_s = Number(fp32.torch_eval_images_per_s);
    r.train_ratio_vs_fp32 = r.train_images_per_s / r.torch_train_images_per_s;
    r.eval_ratio_vs_fp32 = r.eval_images_per_s / r.torch_eval_images_per_s;
    if (precision === 'fp32') {
      r.train_ratio = r.train_ratio_vs_fp32;
      r.eval_ratio = r.eval_ratio_vs_fp32;
    } else {
      try {
        const same = runPython('train.py', args(precision));
        r.torch_same_precision_train_images_per_s = Number(same.torch_train_images_per_s);
        r.torch_same_precision_eval_images_per_s = Number(same.torch_eval_images_per_s);
        r.train_ratio = r.train_images_per_s / r.torch_same_precision_train_images_per_s;
        r.eval_ratio = r.eval_images_per_s / r.torch_same_precision_eval_images_per_s;
      } catch (err) {
        r.baseline_note = `PyTorch ${r.torch_version} cannot run ${precision} on ${device}: ${(err as Error).message.split('\n').filter(Boolean).pop()}`;
      }
    }
  }
  return r;
}

/** Relative L2 error of this precision's evaluation logits against an fp32 copy of the same model and prompts. */
function logitsErrorVsFp32(arch: BackboneArchitecture, learner: PromptLearner, names: string[], device: Device, method: MethodName): number {
  const { model: ref, tokenizer } = randomModel(arch, device, 'fp32');
  const refLearner = new PromptLearner(ref, tokenizer, method, names, { seed: 1 });
  try {
    refLearner.loadStateDict(learner.stateDict());
    const g = new Generator(5);
    const images = tidy(() => randn([8, 3, 224, 224], g).toFloat32());
    const logits = (l: PromptLearner) => noGrad(() => tidy(() => l.forward(tensor(images, [8, 3, 224, 224], 'float32', device)).logits.toFloat32()));
    return relativeL2(logits(learner), logits(refLearner));
  } finally {
    refLearner.dispose();
    ref.dispose();
  }
}

/**
 * A random model of an architecture and a tokenizer for it. A random SigLIP has no vocabulary file: the bench
 * gives every word its own id (SigLIP's layout: no start token, `</s>` = 1 last, padded with it to the fixed
 * length), which costs the encoders exactly what real ids do.
 */
function randomModel(arch: BackboneArchitecture, device: Device, precision: PrecisionName): { model: BackboneModel; tokenizer: TextTokenizer } {
  if (familyOf(arch).name === 'clip') return { model: ClipModel.random(arch, 0, { device, precision }), tokenizer: ClipTokenizer.default() };
  const L = arch.text.context_length;
  const ids = new Map<string, number>();
  const encode = (text: string) => text.toLowerCase().replace(/[^a-z0-9 ]/g, '').split(/\s+/).filter(Boolean).map((w) => ids.get(w) ?? (ids.set(w, 3 + (ids.size % (arch.text.vocab_size - 3))), ids.get(w)!));
  const tokenizer: TextTokenizer = {
    encode,
    tokenize(texts) {
      const list = typeof texts === 'string' ? [texts] : texts;
      const out = new Int32Array(list.length * L).fill(1);
      list.forEach((t, i) => out.set([...encode(t).slice(0, L - 1), 1], i * L));
      return { ids: out, shape: [list.length, L], eotIndex: new Int32Array(list.length).fill(L - 1) };
    },
  };
  return { model: SiglipModel.random(arch as SiglipArchitecture, 0, { device, precision }), tokenizer };
}

export function formatTrainBench(r: TrainBenchResult): string {
  const f = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(2));
  const lines = [
    `${r.method.split(' ')[0] === 'mpl' ? 'MPL' : r.method.split(' ')[0]} training (${r.train_images} images, batch 4, ${r.classes} classes) and evaluation (${r.eval_images} images, batch 100), ${r.precision} on ${r.device_name}`,
    `  ${r.model}, ${r.trainable_parameters.toLocaleString('en-US')} trainable parameters, libtorch ${r.libtorch}, ${r.threads} threads`,
    `  mpl ${r.precision.padEnd(5)}       train ${f(r.train_images_per_s)} images/s   eval ${f(r.eval_images_per_s)} images/s`,
  ];
  if (r.eval_logits_relative_error_vs_fp32 !== undefined) lines.push(`  eval logits vs fp32: relative L2 error ${r.eval_logits_relative_error_vs_fp32.toExponential(2)}`);
  if (r.torch_train_images_per_s !== undefined) {
    if (r.precision !== 'fp32' && r.torch_same_precision_train_images_per_s !== undefined) {
      lines.push(`  PyTorch ${r.precision.padEnd(5)}   train ${f(r.torch_same_precision_train_images_per_s)} images/s   eval ${f(r.torch_same_precision_eval_images_per_s)} images/s`);
    }
    lines.push(`  PyTorch fp32      train ${f(r.torch_train_images_per_s)} images/s   eval ${f(r.torch_eval_images_per_s)} images/s   (torch ${r.torch_version})`);
    if (r.train_ratio !== undefined) lines.push(`  ratio mpl/PyTorch, same precision: train ${r.train_ratio.toFixed(3)}x   eval ${r.eval_ratio!.toFixed(3)}x`);
    if (r.precision !== 'fp32') lines.push(`  ratio mpl ${r.precision}/PyTorch fp32: train ${r.train_ratio_vs_fp32!.toFixed(3)}x   eval ${r.eval_ratio_vs_fp32!.toFixed(3)}x`);
    if (r.baseline_note) lines.push(`  ${r.baseline_note}`);
  } else lines.push(r.baseline_note ? `  (${r.baseline_note})` : '  (PyTorch baseline skipped: the baseline interpreter cannot import torch; set MPL_BENCH_PYTHON)');
  return lines.join('\n');
}
