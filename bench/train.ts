/**
 * Training benchmark: MPL training steps (EuroSAT base-to-new size by default: 5 classes, batch 4, the official
 * optimiser) and an evaluation pass (batch 100) on a random full-size ViT-B/16, images/s, on a device in a
 * precision, beside the same work in plain PyTorch (the official trainer's computation) in the same run:
 * the PyTorch baseline in fp32 (`torch_*`, the official code's only working CPU precision) and, when the
 * precision is another, in that precision too (`torch_same_precision_*`: the official fp16 recipe, or
 * autocast for amp / bf16) where PyTorch can run it. `--classes N` shows the text encoder's share (ImageNet's
 * base half has 500 classes; cross-dataset and domain generalisation train on its 1,000). Images are random
 * tensors copied from host memory every batch: this measures the model work; `mpl bench data` measures decoding.
 *
 * Memory: each side's resident peak (the process's RSS high-water mark, per phase and in all; on a GPU the
 * PyTorch baseline also reports its allocator's peak), both under one cap (bench/memory.ts, `memoryLimit`,
 * default 80% of the memory available at the start): a side that needs more is reported as not fitting in
 * that many GiB, with no images/s, instead of taking the machine's memory. `--method` times another method
 * (its default options, the learning rate of its recipe, the same batch of 4); kgcoop and prograd beside their
 * official trainers' steps in PyTorch (bench/python/train.py), the others without a baseline.
 * Evaluation computes the class text features once (as `mpl` evaluates; the official code runs the text
 * encoder for every batch): `eval_text_seconds` is that one pass, timed on its own.
 *   npx mpl bench train --device cuda --precision fp16 --classes 50 --json
 *   npx mpl bench train --classes 1000 --train-images 8 --eval-images 20 --memory-limit 16 --json
 *   npx mpl bench train --method prograd --json
 */
import { ClipModel } from '../src/backbones/clip/model.js';
import { ClipTokenizer } from '../src/backbones/clip/tokenizer.js';
import { familyOf, knownArchitecture } from '../src/backbones/index.js';
import type { BackboneArchitecture, BackboneModel, TextTokenizer } from '../src/backbones/model.js';
import { SiglipModel } from '../src/backbones/siglip/model.js';
import type { SiglipArchitecture } from '../src/backbones/siglip/weights.js';
import { PromptLearner } from '../src/prompting/learner.js';
import { RECIPES, methodDef, type MethodName } from '../src/prompting/methods/index.js';
import type { Batch, BatchSource } from '../src/train/batches.js';
import { evaluate } from '../src/train/evaluate.js';
import { train } from '../src/train/trainer.js';
import { Generator, checkBlas, devicePeakBytes, getNumThreads, isCuda, noGrad, randn, tensor, tidy, torchVersion, type Device, type PrecisionName } from '../src/torch/index.js';
import { UserError } from '../src/util/errors.js';
import { PYTHON, benchDir, relativeL2, torchAvailable, type BenchTarget } from './common.js';
import { capSelf, defaultMemoryLimit, gib, isOutOfMemory, peakRss, pythonScript, resetPeakRss, runPythonCapped, uncapSelf } from './memory.js';

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
  /** null when the side did not fit in the memory limit */
  train_images_per_s: number | null;
  eval_images_per_s: number | null;
  /** one text pass over the classes (evaluation computes it once), seconds */
  eval_text_seconds?: number;
  /** the evaluation's images/s without that one text pass: what a long evaluation (ImageNet's 50,000) tends to */
  eval_images_per_s_without_text?: number;
  /** the cap both sides ran under (bench/memory.ts) */
  memory_limit_bytes: number;
  /** resident high-water mark of this process: in all, during the timed training, during the timed evaluation */
  peak_rss_bytes: number;
  train_peak_rss_bytes: number;
  eval_peak_rss_bytes: number;
  /** phases ('train', 'eval') that did not fit in memory_limit_bytes */
  did_not_fit: string[];
  /** on a GPU: the caching allocator's peak (in all, training, evaluation), where libtorch reports it (>= 2.9) */
  device_peak_bytes?: number;
  train_device_peak_bytes?: number;
  eval_device_peak_bytes?: number;
  /** the text tower's blocks in the last training step: in all, kept for the backward pass, recomputed */
  text_blocks?: { blocks: number; kept: number; recomputed: number } | null;
  /** ‖logits − logits_fp32‖ / ‖logits_fp32‖ on 8 images, same weights and prompts (precision ≠ fp32) */
  eval_logits_relative_error_vs_fp32?: number;
  torch_version?: string;
  /** the PyTorch baseline in fp32 on the same device (null: it did not fit in the memory limit) */
  torch_train_images_per_s?: number | null;
  torch_eval_images_per_s?: number | null;
  /** the baseline's resident peak (in all, training, evaluation) and, on a GPU, its allocator's peak */
  torch_peak_rss_bytes?: number;
  torch_train_peak_rss_bytes?: number;
  torch_eval_peak_rss_bytes?: number;
  torch_peak_device_bytes?: number;
  /** phases of the fp32 baseline that did not fit in memory_limit_bytes */
  torch_did_not_fit?: string[];
  /** mpl's peak / PyTorch's peak (resident, fp32 baseline) */
  peak_rss_ratio?: number;
  /** the PyTorch baseline in the same precision (when it is not fp32 and PyTorch can run it there) */
  torch_same_precision_train_images_per_s?: number | null;
  torch_same_precision_eval_images_per_s?: number | null;
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

/** The methods with a PyTorch baseline of their training step (bench/python/train.py); others run without one. */
export const BENCH_METHODS = ['mpl', 'kgcoop', 'prograd'] as const;
const DESCRIPTION: Record<(typeof BENCH_METHODS)[number], string> = {
  mpl: 'mpl (N_CTX 1, add 2, remove 1, depth 9)',
  kgcoop: 'kgcoop (4 context tokens, W 8)',
  prograd: 'prograd (16 context tokens, two backward passes and a projection per step)',
};

export interface TrainBenchOptions extends BenchTarget {
  /** the architecture (random weights): ViT-B/16 (default) or siglip-base-patch16-224 (`--arch`) */
  arch?: string;
  trainImages?: number;
  evalImages?: number;
  classes?: number;
  python?: boolean;
  /** the method trained (default mpl; a PyTorch baseline for BENCH_METHODS only) */
  method?: MethodName;
  /** bytes each side may use (default: 80% of the memory available at the start) */
  memoryLimit?: number;
}

/** Runs a phase under the memory cap: its value, or null when an allocation was refused. */
async function capped<T>(what: string, notFit: string[], fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (e) {
    if (!isOutOfMemory(e)) throw e;
    notFit.push(what);
    return null;
  }
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
  if (!arch || arch.vision.image_size !== 224) throw new UserError(`bench train: ${archName} is not a known 224-pixel architecture (ViT-B/16, siglip-base-patch16-224)`);
  const method = options.method ?? 'mpl';
  const lr = RECIPES[method].lr;
  if (!methodDef(method).trainable) throw new UserError(`${method} has nothing to train; bench train needs a method that learns prompts`);
  const limit = options.memoryLimit ?? defaultMemoryLimit();
  const notFit: string[] = [];
  // an address-space limit would break CUDA, which reserves huge address ranges: on a GPU the cap is the baseline's watchdog
  if (!cuda) capSelf(limit);
  const evalBatch = Math.min(100, nEval);
  const built = await capped('model', notFit, async () => {
    const { model, tokenizer } = randomModel(arch, device, precision);
    return { model, learner: new PromptLearner(model, tokenizer, method, names, { seed: 1 }) };
  });
  if (!built) {
    uncapSelf();
    throw new UserError(`the ${archName} model alone does not fit in the memory limit of ${gib(limit)}; give a larger --memory-limit`);
  }
  const { model, learner } = built;
  const modelRss = peakRss();
  resetPeakRss();
  const gpu = cuda ? Number(/^cuda:(\d+)$/.exec(device)?.[1] ?? 0) : null;
  const modelDevice = gpu === null ? null : devicePeakBytes(gpu, true);
  // warm-up (kernel selection, allocator, cuBLAS handles): a few steps and one evaluation batch, untimed
  const t = await capped('train', notFit, async () => {
    await train(learner, randomSource(cuda ? 12 : 4, 4, 3, nClasses), { epochs: 1, lr, warmupEpochs: 0 });
    return train(learner, randomSource(nTrain, 4, 1, nClasses), { epochs: 1, lr, warmupEpochs: 0 });
  });
  const trainPeak = peakRss();
  resetPeakRss();
  const trainDevice = gpu === null ? null : devicePeakBytes(gpu, true);
  let textSeconds: number | undefined;
  const e = await capped('eval', notFit, async () => {
    await evaluate(learner, randomSource(evalBatch, evalBatch, 4, nClasses));
    const result = await evaluate(learner, randomSource(nEval, evalBatch, 2, nClasses));
    const t0 = process.hrtime.bigint();
    noGrad(() => tidy(() => void learner.textFeatures().toFloat32()));
    textSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return result;
  });
  const evalPeak = peakRss();
  const evalDevice = gpu === null ? null : devicePeakBytes(gpu, true);
  uncapSelf();
  const r: TrainBenchResult = {
    model: `${archName} (random weights)`,
    method: (DESCRIPTION as Partial<Record<MethodName, string>>)[method] ?? `${method} (its default options)`,
    device,
    device_name: deviceName,
    precision,
    classes: nClasses,
    train_images: t?.epochs[0].images ?? Math.floor(nTrain / 4) * 4,
    eval_images: e?.total ?? nEval,
    threads: getNumThreads(),
    libtorch: torchVersion(),
    trainable_parameters: learner.trainableParameters,
    train_images_per_s: t ? t.epochs[0].imagesPerSecond : null,
    eval_images_per_s: e ? e.imagesPerSecond : null,
    eval_text_seconds: textSeconds,
    eval_images_per_s_without_text: e && textSeconds !== undefined && e.seconds > textSeconds ? e.total / (e.seconds - textSeconds) : undefined,
    memory_limit_bytes: limit,
    peak_rss_bytes: Math.max(modelRss, trainPeak, evalPeak),
    train_peak_rss_bytes: trainPeak,
    eval_peak_rss_bytes: evalPeak,
    did_not_fit: notFit,
    text_blocks: learner.lastTextBlocks,
  };
  if (modelDevice !== null && trainDevice !== null && evalDevice !== null) {
    r.device_peak_bytes = Math.max(modelDevice, trainDevice, evalDevice);
    r.train_device_peak_bytes = trainDevice;
    r.eval_device_peak_bytes = evalDevice;
  }
  if (precision !== 'fp32') r.eval_logits_relative_error_vs_fp32 = logitsErrorVsFp32(arch, learner, names, device, method);
  learner.dispose();
  model.dispose();
  if (familyOf(arch).name !== 'clip') {
    // bench/python/train.py is the official (CLIP) trainer's computation; no PyTorch baseline for another family
    r.baseline_note = `no PyTorch baseline for ${familyOf(arch).name}: compare with \`mpl bench train --arch ViT-B/16\` in the same session`;
    return r;
  }
  const withBaseline = (BENCH_METHODS as readonly string[]).includes(method);
  if (!withBaseline && options.python !== false) r.baseline_note = `no PyTorch baseline for ${method} (bench/python/train.py runs ${BENCH_METHODS.join(', ')})`;
  if (withBaseline && options.python !== false && torchAvailable()) {
    const args = (p: PrecisionName) => [String(r.threads), String(nTrain), String(nEval), String(nClasses), device, p, method];
    const fp32 = await baseline(args('fp32'), limit);
    r.torch_version = String(fp32.torch_version);
    r.torch_train_images_per_s = fp32.torch_train_images_per_s as number | null;
    r.torch_eval_images_per_s = fp32.torch_eval_images_per_s as number | null;
    r.torch_peak_rss_bytes = fp32.torch_peak_rss_bytes as number;
    r.torch_train_peak_rss_bytes = fp32.torch_train_peak_rss_bytes as number;
    r.torch_eval_peak_rss_bytes = fp32.torch_eval_peak_rss_bytes as number;
    if (fp32.torch_peak_device_bytes !== undefined) r.torch_peak_device_bytes = fp32.torch_peak_device_bytes as number;
    r.torch_did_not_fit = fp32.torch_did_not_fit as string[];
    r.peak_rss_ratio = r.peak_rss_bytes / r.torch_peak_rss_bytes;
    const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? a / b : undefined);
    r.train_ratio_vs_fp32 = ratio(r.train_images_per_s, r.torch_train_images_per_s);
    r.eval_ratio_vs_fp32 = ratio(r.eval_images_per_s, r.torch_eval_images_per_s);
    if (precision === 'fp32') {
      r.train_ratio = r.train_ratio_vs_fp32;
      r.eval_ratio = r.eval_ratio_vs_fp32;
    } else {
      try {
        const same = await baseline(args(precision), limit);
        r.torch_same_precision_train_images_per_s = same.torch_train_images_per_s as number | null;
        r.torch_same_precision_eval_images_per_s = same.torch_eval_images_per_s as number | null;
        r.train_ratio = ratio(r.train_images_per_s, r.torch_same_precision_train_images_per_s);
        r.eval_ratio = ratio(r.eval_images_per_s, r.torch_same_precision_eval_images_per_s);
      } catch (err) {
        r.baseline_note = `PyTorch ${r.torch_version} cannot run ${precision} on ${device}: ${(err as Error).message.split('\n').filter(Boolean).pop()}`;
      }
    }
  }
  return r;
}

/**
 * The PyTorch baseline (bench/python/train.py) under the memory cap. A phase the cap refused comes back in
 * torch_did_not_fit; a run the watchdog had to end (resident past the limit) comes back as not fitting at all.
 */
async function baseline(args: string[], limit: number): Promise<Record<string, unknown>> {
  const run = await runPythonCapped(PYTHON, pythonScript(benchDir(), 'train.py'), args, limit, 24 * 3600 * 1000);
  if (run.killedOverLimit) {
    return {
      torch_version: run.json?.torch_version ?? '?',
      torch_train_images_per_s: null,
      torch_eval_images_per_s: null,
      torch_peak_rss_bytes: run.peakSeen,
      torch_train_peak_rss_bytes: run.peakSeen,
      torch_eval_peak_rss_bytes: run.peakSeen,
      torch_did_not_fit: ['train', 'eval'],
    };
  }
  if (run.status !== 0 || !run.json) throw new Error(`train.py failed: ${run.stderr.trim().split('\n').slice(-3).join(' ')}`);
  return run.json;
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
  const limit = gib(r.memory_limit_bytes);
  const rate = (x: number | null | undefined, phase: string, notFit: string[] | undefined) =>
    notFit?.includes(phase) ? `did not fit in ${limit}` : x === undefined || x === null ? '-' : `${x.toFixed(3)} images/s`;
  const side = (name: string, train: number | null | undefined, ev: number | null | undefined, notFit: string[] | undefined, peak?: number) =>
    `  ${name.padEnd(17)} train ${rate(train, 'train', notFit)}   eval ${rate(ev, 'eval', notFit)}${peak === undefined ? '' : `   peak RSS ${gib(peak)}`}`;
  const lines = [
    `${r.method.split(' ')[0].toUpperCase()} training (${r.train_images} images, batch 4, ${r.classes} classes) and evaluation (${r.eval_images} images, batch ${Math.min(100, r.eval_images)}), ${r.precision} on ${r.device_name}`,
    `  ${r.model}, ${r.trainable_parameters.toLocaleString('en-US')} trainable parameters, libtorch ${r.libtorch}, ${r.threads} threads, memory limit ${limit} per side`,
    side(`mpl ${r.precision}`, r.train_images_per_s, r.eval_images_per_s, r.did_not_fit, r.peak_rss_bytes),
  ];
  if (r.eval_text_seconds !== undefined) {
    const rest = r.eval_images_per_s_without_text === undefined ? '' : `; without it ${r.eval_images_per_s_without_text.toFixed(3)} images/s`;
    lines.push(`  mpl evaluation computes the ${r.classes} classes' text features once: ${r.eval_text_seconds.toFixed(2)} s of it${rest}`);
  }
  if (r.text_blocks && r.text_blocks.recomputed > 0) {
    lines.push(`  mpl text tower: ${r.text_blocks.blocks} blocks of classes, ${r.text_blocks.kept} kept for the backward pass, ${r.text_blocks.recomputed} recomputed in it`);
  }
  if (r.eval_logits_relative_error_vs_fp32 !== undefined) lines.push(`  eval logits vs fp32: relative L2 error ${r.eval_logits_relative_error_vs_fp32.toExponential(2)}`);
  if (r.torch_version !== undefined) {
    if (r.precision !== 'fp32' && r.torch_same_precision_train_images_per_s !== undefined) {
      lines.push(side(`PyTorch ${r.precision}`, r.torch_same_precision_train_images_per_s, r.torch_same_precision_eval_images_per_s, undefined));
    }
    lines.push(side(`PyTorch fp32`, r.torch_train_images_per_s, r.torch_eval_images_per_s, r.torch_did_not_fit, r.torch_peak_rss_bytes) + `   (torch ${r.torch_version})`);
    if (r.torch_peak_device_bytes !== undefined) {
      const ours = r.device_peak_bytes === undefined ? 'not reported by this libtorch (< 2.9)' : gib(r.device_peak_bytes);
      lines.push(`  GPU allocator peak: mpl ${ours}, PyTorch fp32 ${gib(r.torch_peak_device_bytes)}`);
    }
    const x = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(3)}x`);
    lines.push(`  ratio mpl/PyTorch, same precision: train ${x(r.train_ratio)}   eval ${x(r.eval_ratio)}   peak RSS ${x(r.peak_rss_ratio)}${r.torch_did_not_fit?.length ? ' (PyTorch: its peak before it stopped)' : ''}`);
    if (r.precision !== 'fp32') lines.push(`  ratio mpl ${r.precision}/PyTorch fp32: train ${x(r.train_ratio_vs_fp32)}   eval ${x(r.eval_ratio_vs_fp32)}`);
    if (r.baseline_note) lines.push(`  ${r.baseline_note}`);
  } else if (r.baseline_note) lines.push(`  (${r.baseline_note})`);
  else lines.push('  (PyTorch baseline skipped: --no-python, or the baseline interpreter cannot import torch; set MPL_BENCH_PYTHON)');
  return lines.join('\n');
}
