/**
 * The evaluation protocols of the papers, one function each, over seeds:
 *   base2new  train on the base half of the classes (16 shots), test on base and on new classes, HM;
 *   xd        train on a source (ImageNet, all classes), test the same prompts on other datasets;
 *   dg        the same with the ImageNet variants as targets (domain generalisation);
 *   fewshot   K shots per class, all classes, test on the same dataset.
 * Each run writes into <out>/<protocol>/<dataset>/<method>/seed<seed>/: checkpoint.safetensors (per epoch,
 * for --resume), prompts.safetensors + prompts.json (official key names + the full config), log.txt and
 * result.json (src/eval/results.ts), all written atomically. A run whose result.json exists is skipped,
 * like the official scripts, unless `force` is set.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ClipModel } from '../clip/model.js';
import { ClipTokenizer } from '../clip/tokenizer.js';
import { loadDataset } from '../data/dataset.js';
import type { Datum, LoadedDataset, Subsample } from '../data/types.js';
import { PromptLearner } from '../prompting/learner.js';
import { RECIPES, type MethodName, type MethodOptions } from '../prompting/methods.js';
import { savePrompts } from '../prompting/checkpoint.js';
import type { BatchSource } from '../train/batches.js';
import { batchSource } from '../train/sources.js';
import { evaluate, type EvalResult } from '../train/evaluate.js';
import { train } from '../train/trainer.js';
import { writeJsonAtomic } from '../util/fs.js';
import { silentReporter, type Reporter } from '../util/reporter.js';
import { harmonicMean, type Protocol, type RunResult } from './results.js';

export interface ProtocolOptions {
  model: ClipModel;
  backbone: string;
  method: MethodName;
  methodOptions: MethodOptions;
  /** CoOp's $DATA, or the dataset folder for imagefolder / the JSON file for jsonlist */
  root: string;
  dataset: string;
  seeds: number[];
  shots?: number;
  epochs?: number;
  lr?: number;
  batchSize?: number;
  out: string;
  resume?: boolean;
  force?: boolean;
  skipBadImages?: boolean;
  allowGeneratedSplit?: boolean;
  numWorkers?: number;
  /**
   * Evaluate on at most this many test images per split: an evenly strided, deterministic subset (every
   * k-th image of the split file's order). Off by default; the papers' numbers use full test sets. The
   * quickstart uses it so a CPU run ends in minutes, and says so.
   */
  maxTestImages?: number;
  /**
   * Training augmentation: Dassl's random resized crop (scale 0.08-1) and flip, as the official code
   * (default), or none (false): the images as evaluated, in a shuffled order. The tiny CLIP
   * (assets/tiny-clip) never saw crops in pretraining, and crops down to 8% of its centred objects would
   * train the prompts on images unlike any it is tested on.
   */
  augment?: boolean;
  reporter?: Reporter;
}

/** Every k-th item so that at most `max` remain (deterministic, keeps the class mix of the list). */
export function strided<T>(items: T[], max?: number): T[] {
  if (!max || items.length <= max) return items;
  const step = items.length / max;
  return Array.from({ length: max }, (_, i) => items[Math.floor(i * step)]);
}

function source(items: Datum[], mode: 'train' | 'eval', o: ProtocolOptions, seed: number, batchSize: number, imageSize: number): BatchSource {
  // without augmentation, training batches go through the evaluation transform, still shuffled per epoch
  const plain = mode === 'train' && o.augment === false ? { mode: 'eval' as const, shuffle: true, dropLast: items.length >= batchSize } : { mode };
  return batchSource(items, { ...plain, batchSize, seed, imageSize, skipBadImages: o.skipBadImages, numWorkers: o.numWorkers, reporter: o.reporter });
}

function runDir(o: ProtocolOptions, protocol: Protocol, dataset: string, seed: number): string {
  return path.join(o.out, protocol, dataset, o.method, `seed${seed}`);
}

function load(o: ProtocolOptions, name: string, seed: number, subsample: Subsample, shots: number): LoadedDataset {
  return loadDataset(name, {
    root: o.root,
    seed,
    shots,
    subsample,
    reporter: o.reporter,
    allowGeneratedSplit: o.allowGeneratedSplit,
  });
}

async function trainOn(o: ProtocolOptions, learner: PromptLearner, data: LoadedDataset, seed: number, dir: string): Promise<{ seconds: number; ips: number }> {
  const recipe = RECIPES[o.method];
  if (o.method === 'zeroshot' || (o.epochs ?? recipe.epochs) === 0) return { seconds: 0, ips: 0 };
  const src = source(data.train, 'train', o, seed, o.batchSize ?? recipe.batchSize, o.model.arch.vision.image_size);
  try {
    const r = await train(learner, src, {
      epochs: o.epochs ?? recipe.epochs,
      lr: o.lr ?? recipe.lr,
      checkpointDir: dir,
      resume: o.resume,
      reporter: o.reporter,
      logFile: path.join(dir, 'log.txt'),
    });
    return { seconds: r.seconds, ips: r.imagesPerSecond };
  } finally {
    await src.close();
  }
}

async function test(o: ProtocolOptions, learner: PromptLearner, all: Datum[]): Promise<EvalResult> {
  const items = strided(all, o.maxTestImages);
  if (items.length < all.length) o.reporter?.info(`evaluating on ${items.length} of ${all.length} test images (a strided subset)`);
  const src = source(items, 'eval', o, 0, 100, o.model.arch.vision.image_size);
  try {
    return await evaluate(learner, src, o.reporter ?? silentReporter);
  } finally {
    await src.close();
  }
}

function baseResult(o: ProtocolOptions, protocol: Protocol, seed: number, shots: number, extra: Record<string, unknown>): Omit<RunResult, 'train_seconds' | 'eval_seconds' | 'finished_at'> {
  const recipe = RECIPES[o.method];
  return {
    schema: 'mpl-result/1',
    protocol,
    method: o.method,
    dataset: o.dataset,
    seed,
    shots,
    backbone: o.backbone,
    config: {
      method: o.method,
      method_options: o.methodOptions,
      dataset: o.dataset,
      root: o.root,
      seed,
      shots,
      epochs: o.epochs ?? recipe.epochs,
      lr: o.lr ?? recipe.lr,
      batch_size: o.batchSize ?? recipe.batchSize,
      max_test_images: o.maxTestImages ?? null,
      augment: o.augment ?? true,
      momentum: 0.9,
      weight_decay: 5e-4,
      warmup: { epochs: 1, lr: 1e-5, type: 'constant' },
      scheduler: 'cosine',
      backbone: o.backbone,
      ...extra,
    },
  };
}

function done(dir: string, o: ProtocolOptions): RunResult | null {
  const f = path.join(dir, 'result.json');
  if (o.force || !fs.existsSync(f)) return null;
  o.reporter?.info(`${f} exists: skipping this run (use --force to run it again)`);
  return JSON.parse(fs.readFileSync(f, 'utf8')) as RunResult;
}

/** Base-to-new generalisation over seeds. */
export async function runBase2New(o: ProtocolOptions): Promise<RunResult[]> {
  const results: RunResult[] = [];
  const shots = o.shots ?? 16;
  for (const seed of o.seeds) {
    const dir = runDir(o, 'base2new', o.dataset, seed);
    const prev = done(dir, o);
    if (prev) {
      results.push(prev);
      continue;
    }
    fs.mkdirSync(dir, { recursive: true });
    const base = load(o, o.dataset, seed, 'base', shots);
    const novel = load(o, o.dataset, seed, 'new', shots);
    o.reporter?.info(`base2new ${o.dataset} ${o.method} seed ${seed}: ${base.classnames.length} base / ${novel.classnames.length} new classes, ${base.train.length} training images`);
    const learner = new PromptLearner(o.model, ClipTokenizer.default(), o.method, base.classnames, { ...o.methodOptions, seed, dataset: base.name });
    try {
      const t = await trainOn(o, learner, base, seed, dir);
      savePrompts(dir, learner, { backbone: o.backbone, dataset: o.dataset, seed });
      const b = await test(o, learner, base.test);
      learner.setClassnames(novel.classnames);
      const n = await test(o, learner, novel.test);
      const result: RunResult = {
        ...baseResult(o, 'base2new', seed, shots, { base_classes: base.classnames, new_classes: novel.classnames }),
        base: b.accuracy,
        new: n.accuracy,
        hm: harmonicMean(b.accuracy, n.accuracy),
        per_class: { base: b.perClass, new: n.perClass },
        train_seconds: t.seconds,
        eval_seconds: b.seconds + n.seconds,
        train_images_per_s: t.ips,
        finished_at: new Date().toISOString(),
      };
      writeJsonAtomic(path.join(dir, 'result.json'), result);
      o.reporter?.info(`seed ${seed}: base ${b.accuracy.toFixed(2)}  new ${n.accuracy.toFixed(2)}  HM ${result.hm!.toFixed(2)}  -> ${dir}`);
      results.push(result);
    } finally {
      learner.dispose();
    }
  }
  return results;
}

/**
 * Train on `o.dataset` (all classes) and evaluate on it and on each target (all classes, full test sets):
 * cross-dataset transfer (xd), domain generalisation (dg) and few-shot (no targets) share this.
 */
export async function runTransfer(o: ProtocolOptions, protocol: Protocol, targets: string[]): Promise<RunResult[]> {
  const results: RunResult[] = [];
  const shots = o.shots ?? 16;
  for (const seed of o.seeds) {
    const label = protocol === 'fewshot' ? `${o.dataset}` : o.dataset;
    const dir = protocol === 'fewshot' ? path.join(o.out, protocol, `${label}_${shots}shots`, o.method, `seed${seed}`) : runDir(o, protocol, label, seed);
    const prev = done(dir, o);
    if (prev) {
      results.push(prev);
      continue;
    }
    fs.mkdirSync(dir, { recursive: true });
    const src = load(o, o.dataset, seed, 'all', shots);
    const learner = new PromptLearner(o.model, ClipTokenizer.default(), o.method, src.classnames, { ...o.methodOptions, seed, dataset: src.name });
    try {
      const t = await trainOn(o, learner, src, seed, dir);
      savePrompts(dir, learner, { backbone: o.backbone, dataset: o.dataset, seed });
      const accuracy: Record<string, number> = {};
      const perClass: Record<string, Record<string, number>> = {};
      let evalSeconds = 0;
      const own = await test(o, learner, src.test);
      accuracy[src.name] = own.accuracy;
      perClass[src.name] = own.perClass;
      evalSeconds += own.seconds;
      for (const target of targets) {
        const d = load(o, target, seed, 'all', 0);
        learner.setClassnames(d.classnames);
        const r = await test(o, learner, d.test);
        accuracy[d.name] = r.accuracy;
        perClass[d.name] = r.perClass;
        evalSeconds += r.seconds;
        o.reporter?.info(`${protocol} ${o.method} seed ${seed}: ${d.name} ${r.accuracy.toFixed(2)}`);
      }
      const result: RunResult = {
        ...baseResult(o, protocol, seed, shots, { targets }),
        accuracy,
        per_class: perClass,
        train_seconds: t.seconds,
        eval_seconds: evalSeconds,
        train_images_per_s: t.ips,
        finished_at: new Date().toISOString(),
      };
      writeJsonAtomic(path.join(dir, 'result.json'), result);
      results.push(result);
    } finally {
      learner.dispose();
    }
  }
  return results;
}

export const XD_TARGETS = ['caltech101', 'oxford_pets', 'stanford_cars', 'oxford_flowers', 'food101', 'fgvc_aircraft', 'sun397', 'dtd', 'eurosat', 'ucf101'];
export const DG_TARGETS = ['imagenet_v2', 'imagenet_sketch', 'imagenet_a', 'imagenet_r'];
export const FEWSHOT_SHOTS = [1, 2, 4, 8, 16];
