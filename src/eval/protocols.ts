/**
 * The evaluation protocols of the papers, one function each, over seeds:
 *   base2new  train on the base half of the classes (16 shots), test on base and on new classes, HM;
 *   xd        train on a source (ImageNet, all classes), test the same prompts on other datasets;
 *   dg        the same with the ImageNet variants as targets (domain generalisation);
 *   fewshot   K shots per class, all classes, test on the same dataset.
 * Each run writes into its own folder, named by its configuration (src/eval/run-config.ts):
 * <out>/<protocol>/<dataset>/shots_<k>/<method>/<tag>-<hash>/seed<seed>/ with config.json (the run's full
 * configuration, written first), checkpoint.safetensors (per epoch), prompts.safetensors + prompts.json
 * (official key names), log.txt and result.json (src/eval/results.ts), all written atomically.
 * A run whose result.json exists with the same configuration is skipped, like the official scripts; a run
 * with a checkpoint of the same configuration resumes from it, as Dassl does. `force` starts over; `resume:
 * false` ignores the checkpoint. A folder whose saved configuration differs is never reused: the error says
 * what differs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClipTokenizer } from '../backbones/clip/tokenizer.js';
import { familyOf, tokenizerFor } from '../backbones/index.js';
import type { BackboneArchitecture, BackboneModel, TextTokenizer } from '../backbones/model.js';
import { loadDataset } from '../data/dataset.js';
import type { LoaderOptions } from '../data/loader.js';
import type { Datum, LoadedDataset, Subsample } from '../data/types.js';
import { checkImageHeaders } from '../data/preflight.js';
import { PromptLearner, checkPromptLengths } from '../prompting/learner.js';
import { datasetDefaults, designMethod, methodDef, type MethodName, type MethodOptions } from '../prompting/methods/index.js';
import { validatePlan } from '../prompting/plan.js';
import { savePrompts } from '../prompting/checkpoint.js';
import type { BatchSource } from '../train/batches.js';
import { batchSource } from '../train/sources.js';
import { evaluate, type EvalResult } from '../train/evaluate.js';
import { CHECKPOINT_FILE } from '../train/checkpoint.js';
import { clock, train } from '../train/trainer.js';
import { RunEvents } from '../tensorboard/dassl.js';
import { weightsSha256 } from '../net/digest.js';
import { CACHE_FILE } from '../train/fit.js';
import { configDiff, describeDiff } from '../util/config.js';
import { UserError } from '../util/errors.js';
import { writeJsonAtomic } from '../util/fs.js';
import { percent } from '../util/format.js';
import { lockRunFolder } from '../util/lock.js';
import { silentReporter, type Reporter } from '../util/reporter.js';
import { harmonicMean, type Protocol, type RunResult } from './results.js';
import { appendRunLog, dasslResultBlock, elapsedLine, writeRunLogHead } from './run-log.js';
import { DEFAULT_SHOTS, givenSettings, type GivenRunSettings } from './run-settings.js';
import { buildRunConfig, experimentHash, experimentOf, runConfigFields, runDirOf, settingPath, type RunConfig } from './run-config.js';
import { readJsonFile, reasonOf } from '../util/parse.js';

/**
 * A protocol call: the model, the data, the method, and the run settings of the settings table
 * (src/eval/run-settings.ts: shots, epochs, lr, batchSize, momentum, weightDecay, warmupEpochs, warmupLr,
 * printFreq, and augment: false trains on the images as evaluated, for the tiny CLIP that never saw crops);
 * each left out takes its default there (the method's official recipe). Precision is the model's.
 */
export interface ProtocolOptions extends Omit<GivenRunSettings, 'seeds' | 'precision' | 'workers'> {
  /** the model, on its device and in its precision (loadClip's device / precision options) */
  model: BackboneModel;
  /** how the device is named in result.json, e.g. "cuda:0 (NVIDIA H100 80GB HBM3)" (default: the model's device) */
  deviceDescription?: string;
  /** a line saying device and precision (and why `auto` chose them), shown once the first run's data is loaded */
  computeSummary?: string;
  backbone: string;
  /** how the model was given, recorded in result.json so `mpl rerun` can load it again */
  weights?: string;
  modelName?: string;
  /** the weights file the model was loaded from (loadClip's `file`): prompts.json records its sha256 */
  weightsFile?: string;
  method: MethodName;
  methodOptions: MethodOptions;
  /** CoOp's $DATA, or the dataset folder for imagefolder / the JSON file for jsonlist */
  root: string;
  dataset: string;
  /** a readable name for a custom dataset (imagefolder, jsonlist): in run folders, tables and results */
  name?: string;
  seeds: number[];
  out: string;
  /** continue from a checkpoint of the same configuration when one exists (default true, as Dassl) */
  resume?: boolean;
  /** start over: rerun even when a result exists, ignore and replace the checkpoint */
  force?: boolean;
  skipBadImages?: boolean;
  allowGeneratedSplit?: boolean;
  /** data-loader worker threads (the table's `workers`) */
  numWorkers?: number;
  /** a dataset folder per target dataset (xd, dg), for targets that do not live under `root` */
  targetRoots?: Record<string, string>;
  /** the caller already ran preflight() on these options (the CLI does, before loading the model) */
  preflighted?: boolean;
  /**
   * Evaluate on at most this many test images per split: an evenly strided, deterministic subset (every
   * k-th image of the split file's order). Off by default; the papers' numbers use full test sets. The
   * quickstart uses it so a CPU run ends in minutes, and says so.
   */
  maxTestImages?: number;
  reporter?: Reporter;
}

/** Every k-th item so that at most `max` remain (deterministic, keeps the class mix of the list). */
export function strided<T>(items: T[], max?: number): T[] {
  if (!max || items.length <= max) return items;
  const step = items.length / max;
  return Array.from({ length: max }, (_, i) => items[Math.floor(i * step)]);
}

function source(
  items: Datum[],
  mode: 'train' | 'eval',
  o: ProtocolOptions,
  seed: number,
  batchSize: number,
  imageSize: number,
  extra: Partial<Pick<LoaderOptions, 'shuffle' | 'dropLast' | 'cropScale'>> = {},
): BatchSource {
  return batchSource(items, { mode, augment: o.augment, batchSize, seed, imageSize, skipBadImages: o.skipBadImages, numWorkers: o.numWorkers, reporter: o.reporter, ...extra });
}

/** The full configuration of one run of these options. */
export function protocolRunConfig(
  o: Omit<ProtocolOptions, 'model'> & { precision: string },
  protocol: Protocol,
  seed: number,
  shots: number,
  targets?: string[],
): RunConfig {
  return buildRunConfig({
    // every run setting of the table the options give (epochs, lr, warm-up, ...); the run's own below
    ...givenSettings(o),
    protocol,
    dataset: o.dataset,
    name: o.name,
    root: o.root,
    method: o.method,
    methodOptions: o.methodOptions,
    seed,
    shots,
    backbone: o.backbone,
    precision: o.precision,
    maxTestImages: o.maxTestImages,
    targets,
  });
}

/** What identifies a run: its experiment and seed (compared with what a folder's files were saved with). */
const identity = (c: RunConfig): Record<string, unknown> => ({ ...experimentOf(c), seed: c.seed });

function readJson(file: string): Record<string, unknown> {
  try {
    return readJsonFile(file, 'run file') as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${file}: cannot read it (${reasonOf(e, file)}); delete it or start over with --force`);
  }
}

/** Refuses a file of the run folder whose saved configuration is not this run's. */
function checkSaved(file: string, saved: unknown, config: RunConfig): void {
  const recorded = typeof saved === 'object' && saved !== null && 'dataset_type' in saved;
  const diff = recorded ? configDiff(identity(runConfigFields(saved as Record<string, unknown>)), identity(config)) : ['configuration: (not recorded)'];
  if (diff.length) {
    throw new UserError(`${file} was written with another configuration (${describeDiff(diff)}); start over with --force, or use another --out`);
  }
}

/**
 * The result of this configuration when it already finished (the run is skipped), else null. Files of another
 * configuration in the folder are refused. Reads only: nothing is created for a run that will not go ahead.
 */
function finishedRun(o: ProtocolOptions, config: RunConfig): RunResult | null {
  if (o.force) return null;
  const dir = runDirOf(o.out, config);
  const resultFile = path.join(dir, 'result.json');
  const configFile = path.join(dir, 'config.json');
  if (fs.existsSync(resultFile)) {
    const prev = readJson(resultFile) as unknown as RunResult;
    checkSaved(resultFile, prev.config, config);
    return prev;
  }
  if (fs.existsSync(configFile)) checkSaved(configFile, readJson(configFile), config);
  return null;
}

/**
 * The run's folder, claimed: created with config.json (and a stale checkpoint and feature cache removed on `force`). Called only
 * once everything that can refuse the run (data, method, prompt lengths) has accepted it.
 */
function claimRun(o: ProtocolOptions, config: RunConfig): string {
  const dir = runDirOf(o.out, config);
  if (o.force) {
    fs.rmSync(path.join(dir, CHECKPOINT_FILE), { force: true });
    fs.rmSync(path.join(dir, CACHE_FILE), { force: true });
  }
  writeJsonAtomic(path.join(dir, 'config.json'), config);
  return dir;
}

/** Datasets already loaded by a protocol call (the plan, then the run, read the same lists). */
const loadedBy = new WeakMap<object, Map<string, LoadedDataset>>();

function load(o: Omit<ProtocolOptions, 'model'>, name: string, seed: number, subsample: Subsample, shots: number, reporter = o.reporter): LoadedDataset {
  let cache = loadedBy.get(o);
  if (!cache) loadedBy.set(o, (cache = new Map()));
  const key = JSON.stringify([name, seed, subsample, shots]);
  const hit = cache.get(key);
  if (hit) return hit;
  const def = methodDef(o.method);
  const d = loadDataset(name, {
    // the method's own few-shot draw (the linear probe's is lpclip's) and validation list (Tip-Adapter's is the full one)
    ...(def.sampler ? { sampler: def.sampler } : {}),
    ...(def.validation === 'full' ? { fullVal: true } : {}),
    root: (name !== o.dataset && o.targetRoots?.[name]) || o.root,
    seed,
    shots,
    subsample,
    reporter,
    allowGeneratedSplit: o.allowGeneratedSplit,
  });
  cache.set(key, d);
  return d;
}

async function trainOn(o: ProtocolOptions, learner: PromptLearner, data: LoadedDataset, config: RunConfig, dir: string, events: RunEvents, run: RunClock): Promise<{ seconds: number; ips: number; skipped: number; fitted?: Record<string, number> }> {
  const def = methodDef(o.method);
  // fitted from the training images without epochs: Tip-Adapter's cache, the linear probe
  const fits = Boolean(learner.design.featureCache || learner.design.linearProbe);
  if (!def.trainable || (config.epochs === 0 && !fits)) return { seconds: 0, ips: 0, skipped: 0 };
  const size = o.model.arch.vision.image_size;
  const images = def.recipe.trainImages;
  const crop: Partial<Pick<LoaderOptions, 'dropLast' | 'cropScale'>> = images && images !== 'evaluation' ? { cropScale: images.cropScale, ...(images.dropLast === false ? { dropLast: false } : {}) } : {};
  // the linear probe's training features are extracted as lpclip does: the evaluation transform, every image
  const src = images === 'evaluation' ? source(data.train, 'eval', o, config.seed, config.batch_size, size) : source(data.train, 'train', o, config.seed, config.batch_size, size, crop);
  const extra: BatchSource[] = [];
  const open = (s: BatchSource) => (extra.push(s), s);
  try {
    const r = await train(learner, src, {
      // Tip-Adapter's cache: every training image, augmented, in a fixed order (pass p = epoch p of this source)
      ...(learner.design.featureCache ? { cacheSource: open(source(data.train, 'train', o, config.seed, config.batch_size, size, { ...crop, shuffle: false, dropLast: false })) } : {}),
      ...(def.validation ? { validation: open(source(data.val, 'eval', o, 0, 100, size)) } : {}),
      ...(learner.design.selectEpochOn === 'test' ? { testImages: open(source(strided(data.test, o.maxTestImages), 'eval', o, 0, 100, size)) } : {}),
      ...(config.optimizer ? { optimizer: { ...config.optimizer, weightDecay: config.weight_decay } } : {}),
      ...(config.scheduler === 'cosine-per-step' ? { schedule: 'cosine-per-step' as const } : {}),
      epochs: config.epochs,
      lr: config.lr,
      momentum: config.momentum,
      weightDecay: config.weight_decay,
      warmupEpochs: config.warmup.epochs,
      warmupLr: config.warmup.lr,
      printFreq: o.printFreq,
      checkpointDir: dir,
      resume: o.resume !== false && !o.force,
      config: identity(config),
      reporter: run.reporter(o.reporter, trainUnits(data.train.length, 1)),
      logFile: path.join(dir, 'log.txt'),
      observers: [events],
    });
    return { seconds: r.seconds, ips: r.imagesPerSecond, skipped: src.skippedImages?.() ?? 0, ...(r.fitted ? { fitted: r.fitted } : {}) };
  } finally {
    await src.close();
    for (const s of extra) await s.close();
  }
}

/** One evaluation: `what` names it in the progress line ("base classes", "eurosat"). */
async function test(o: ProtocolOptions, learner: PromptLearner, all: Datum[], what: string, run: RunClock): Promise<EvalResult & { skipped: number; of: number; subset: boolean }> {
  const items = strided(all, o.maxTestImages);
  const src = source(items, 'eval', o, 0, 100, o.model.arch.vision.image_size);
  const subset = items.length < all.length ? ` (a strided subset: ${items.length} of ${all.length} test images)` : '';
  try {
    const r = await evaluate(learner, src, run.reporter(o.reporter ?? silentReporter, items.length), `evaluating ${what}${subset}`);
    return { ...r, skipped: src.skippedImages?.() ?? 0, of: all.length, subset: items.length < all.length };
  } finally {
    await src.close();
  }
}

function baseResult(config: RunConfig, deviceDescription: string, extra: Record<string, unknown>): Omit<RunResult, 'train_seconds' | 'eval_seconds' | 'finished_at'> {
  return {
    schema: 'mpl-result/1',
    protocol: config.protocol,
    method: config.method,
    dataset: config.dataset,
    seed: config.seed,
    shots: config.shots,
    backbone: config.backbone,
    precision: config.precision,
    device: deviceDescription,
    tag: settingPath(config),
    config_hash: experimentHash(config),
    config: { ...config, ...extra },
  };
}

/**
 * Everything that can be checked before training, checked at once: every dataset the protocol will read loads
 * (each seed's few-shot subset, the base and new halves, every target), every image it will read exists and
 * has an image header, and, when the architecture is known (`arch`), the method fits the model and every text
 * prompt fits CLIP's context. All problems are listed in one error, each once on its own line, so that a run
 * never stops after hours of training on a missing target or a truncated file. Warnings (too few images per
 * class for the shots, a base/new half of one class, classes without test images) are given once each; with
 * --skip-bad-images unreadable images are a warning.
 */
export function preflight(o: Omit<ProtocolOptions, 'model'>, protocol: Protocol, targets: readonly string[] = [], arch?: BackboneArchitecture, tokenizer?: TextTokenizer): void {
  const problems = new Set<string>();
  const warnings = new Set<string>();
  const images: Datum[] = [];
  const loaded: LoadedDataset[] = [];
  const attempt = <T>(fn: () => T): T | null => {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      problems.add(e.message);
      return null;
    }
  };
  // the datasets report what they warn about (a redrawn few-shot subset) once, with the other warnings
  const quiet: Reporter = { ...(o.reporter ?? silentReporter), warn: (m) => warnings.add(m), info() {} };
  const shots = o.shots ?? DEFAULT_SHOTS;
  // the run's own settings first (--name, ...): a flag error is the only thing to say
  attempt(() => protocolRunConfig({ ...o, precision: 'fp32' }, protocol, o.seeds[0] ?? 1, shots, protocol === 'fewshot' ? undefined : [...targets]));
  if (problems.size) throw new UserError([...problems][0]);
  const def = methodDef(o.method);
  if (def.classifiesUnseenClasses === false && (protocol === 'base2new' || (protocol === 'xd' && targets.length > 0))) {
    throw new UserError(
      `--method ${o.method} classifies only the classes it is fitted on, so it cannot be tested on ${protocol === 'base2new' ? "base2new's new classes" : "other datasets' classes"}; ` +
        `run it in the few-shot protocol (mpl fewshot) or dg (whose targets share ImageNet's classes)`,
    );
  }
  // methods fitted without epochs (Tip-Adapter's cache, the linear probe) read the training images all the same
  const trains = def.trainable && ((o.epochs ?? def.recipe.epochs) > 0 || def.recipe.epochs === 0);
  const use = (d: LoadedDataset | null, train: boolean, label: string) => {
    if (!d) return;
    loaded.push(d);
    if (train && trains) images.push(...d.train);
    if (train && def.validation) images.push(...d.val);
    images.push(...strided(d.test, o.maxTestImages));
    for (const w of dataWarnings(d, label, train && trains ? shots : 0)) warnings.add(w);
    if (d.classnames.length === 0) problems.add(`${d.displayName}: the ${label} has no classes; nothing can be trained or evaluated`);
    else if (d.test.length === 0) problems.add(`${d.displayName}: the ${label} has no test images; nothing can be evaluated`);
  };
  for (const seed of o.seeds) {
    if (protocol === 'base2new') {
      use(attempt(() => load(o, o.dataset, seed, 'base', shots, quiet)), true, 'base half of the classes');
      use(attempt(() => load(o, o.dataset, seed, 'new', shots, quiet)), false, 'new half of the classes');
    } else {
      use(attempt(() => load(o, o.dataset, seed, 'all', shots, quiet)), true, 'training dataset');
    }
  }
  for (const t of targets) use(attempt(() => load(o, t, o.seeds[0] ?? 1, 'all', 0, quiet)), false, 'target dataset');
  if (arch) {
    // the method on this model, and every text prompt of every class set it will meet
    const design = attempt(() => {
      const d = designMethod(o.method, o.methodOptions, arch);
      validatePlan(d.plan, arch);
      return d;
    });
    // the prompts' lengths need the model's tokenizer: CLIP's is known from the architecture; another family's comes
    // with its folder (the run checks them again before its folder is made)
    const tok = tokenizer ?? (familyOf(arch).name === 'clip' ? ClipTokenizer.default() : null);
    if (design && tok) {
      for (const d of loaded) {
        if (d.classnames.length) attempt(() => checkPromptLengths(design, d.classnames, tok, { dataset: d, contextLength: arch.text.context_length }));
      }
    }
  }
  const bad = checkImageHeaders(images);
  if (bad.length > 0) {
    const shown = bad.slice(0, 5).map((b) => `${b.file} (${b.problem})`).join(', ') + (bad.length > 5 ? `, and ${bad.length - 5} more` : '');
    if (o.skipBadImages) warnings.add(`${bad.length} image${bad.length > 1 ? 's look' : ' looks'} unreadable and will be skipped (--skip-bad-images): ${shown}`);
    else problems.add(`${bad.length} unreadable image${bad.length > 1 ? 's' : ''}: ${shown}; fix or remove ${bad.length > 1 ? 'them' : 'it'}, or pass --skip-bad-images`);
  }
  if (problems.size === 1) throw new UserError([...problems][0]);
  if (problems.size > 1) throw new UserError(`${problems.size} problems, found before training (nothing was run or written):\n${[...problems].map((p) => `  - ${p}`).join('\n')}`);
  for (const w of warnings) o.reporter?.warn(w);
}

/** What is legal but probably not meant: classes with fewer training images than the shots, one-class halves, classes never tested. */
function dataWarnings(d: LoadedDataset, label: string, shots: number): string[] {
  const out: string[] = [];
  const count = (items: Datum[]) => {
    const n = new Array<number>(d.classnames.length).fill(0);
    for (const x of items) if (x.label < n.length) n[x.label]++;
    return n;
  };
  const list = (names: string[]) => names.slice(0, 8).join(', ') + (names.length > 8 ? `, and ${names.length - 8} more` : '');
  if (shots > 0) {
    const n = count(d.train);
    const few = d.classnames.map((c, i) => [c, n[i]] as const).filter(([, k]) => k < shots);
    if (few.length) {
      out.push(`${d.displayName} (${label}): ${few.length} class${few.length > 1 ? 'es have' : ' has'} fewer training images than --shots ${shots}, so ${few.length > 1 ? 'they train' : 'it trains'} on what ${few.length > 1 ? 'they have' : 'it has'} (as Dassl's sampler does): ${list(few.map(([c, k]) => `${c} (${k})`))}`);
    }
  }
  if (d.classnames.length === 1) out.push(`${d.displayName} (${label}): one class only, so its accuracy is 100% whatever the prompts are`);
  const t = count(d.test);
  const untested = d.classnames.filter((_, i) => t[i] === 0);
  if (untested.length && d.test.length) out.push(`${d.displayName} (${label}): ${untested.length} class${untested.length > 1 ? 'es have' : ' has'} no test images (not measured): ${list(untested)}`);
  return out;
}

/** How the model was given (not part of the identity: the backbone is): what `mpl rerun` loads again. */
function modelSource(o: ProtocolOptions): { weights: string | null; model: string | null } {
  return { weights: o.weights ?? null, model: o.modelName ?? null };
}

/** What prompts.json records about the backbone beyond its name: its architecture and its weights' sha256. */
async function backboneRecord(o: ProtocolOptions): Promise<{ backbone_architecture: BackboneModel['arch']; backbone_sha256?: string }> {
  return { backbone_architecture: o.model.arch, ...(o.weightsFile ? { backbone_sha256: await weightsSha256(o.weightsFile) } : {}) };
}

/** The head of log.txt: configuration, environment, dataset sizes (src/eval/run-log.ts). */
function startLog(o: ProtocolOptions, dir: string, config: RunConfig, data: Array<[string, LoadedDataset]>): void {
  const title = `${config.protocol} ${config.dataset} ${config.method} seed ${config.seed}`;
  writeRunLogHead(path.join(dir, 'log.txt'), { title, config: { ...config, ...modelSource(o) }, device: o.deviceDescription ?? o.model.device, precision: o.model.precision.name, data });
}

/**
 * The end of log.txt, as the official trainers print it: `Finished training` (trained methods), which model
 * is deployed, then Dassl's `=> result` block per evaluation (the first with Dassl's own keywords, the others
 * with theirs: `* new_accuracy`, `* caltech101_accuracy`) and `Elapsed:`. parse_test_res.py reads it.
 */
function endLog(dir: string, trained: boolean, design: PromptLearner['design'], evals: Array<{ keyword: string; what: string; r: EvalResult & { of: number } }>, seconds: number): void {
  const lines: string[] = [];
  if (trained) lines.push('Finished training', design.epochWeights ? 'Deploy the weighted average of the epochs\' prompts (GPA)' : 'Deploy the last-epoch model');
  for (const { keyword, what, r } of evals) {
    const subset = r.total < r.of ? `, a strided subset of ${r.total} of ${r.of} images` : '';
    lines.push(`Do evaluation on test set (${what}${subset})`, ...dasslResultBlock(r, keyword, keyword ? `=> result (${what})` : '=> result'));
  }
  lines.push(elapsedLine(seconds));
  appendRunLog(path.join(dir, 'log.txt'), lines);
}

const announced = new WeakSet<ProtocolOptions>();
/** The compute summary, once per protocol call, after the data loaded (bad input fails in one line). */
function announceCompute(o: ProtocolOptions): void {
  if (!o.computeSummary || announced.has(o)) return;
  announced.add(o);
  o.reporter?.info(o.computeSummary);
}

/** The method options of a run's learner: what was given over the method's settings for the dataset (as recorded). */
function learnerOptions(o: ProtocolOptions, config: RunConfig): MethodOptions {
  const given = Object.fromEntries(Object.entries(o.methodOptions).filter(([, v]) => v !== undefined)) as MethodOptions;
  return { ...datasetDefaults(o.method, config.dataset_type).options, ...given };
}

/** Work units of training one epoch on n images (a training image costs about three evaluated ones). */
const trainUnits = (images: number, epochs: number) => 3 * images * epochs;

/**
 * The whole run's progress: work units (evaluated images; a trained image counts three) planned over every
 * seed still to run, done so far, and the ETA they imply. Each stage's progress bar (an epoch, an evaluation)
 * shows it as `run eta`; a terminal redraws it, a log gets it once per stage.
 */
class RunClock {
  private done = 0;
  private readonly t0 = Date.now();
  constructor(private total: number) {}

  /** The reporter of one kind of stage: each of its progress bars covers `units` of the plan. */
  reporter(base: Reporter | undefined, units: number): Reporter {
    const r = base ?? silentReporter;
    return {
      ...r,
      progress: (label, total, unit) => {
        const bar = r.progress(label, total, unit);
        const start = this.done;
        return {
          update: (d, fields) => {
            this.done = start + (units * d) / Math.max(1, total);
            bar.update(d, { ...fields, ...this.eta() });
          },
          stop: () => {
            this.done = start + units;
            bar.stop();
          },
        };
      },
    };
  }

  private eta(): Record<string, string> {
    const elapsed = (Date.now() - this.t0) / 1000;
    if (this.done <= 0 || elapsed <= 0) return {};
    return { 'run eta': clock((elapsed / this.done) * Math.max(0, this.total - this.done)) };
  }
}

/** The plan of a protocol call: the work left over every seed that has not finished. */
function planRun(o: ProtocolOptions, protocol: Protocol, shots: number, targets: string[]): RunClock {
  const def = methodDef(o.method);
  let units = 0;
  for (const seed of o.seeds) {
    const config = protocolRunConfig({ ...o, precision: o.model.precision.name }, protocol, seed, shots, protocol === 'fewshot' ? undefined : targets);
    if (finishedRun(o, config)) continue;
    const halves = protocol === 'base2new' ? (['base', 'new'] as const) : (['all'] as const);
    for (const half of halves) {
      const d = load(o, o.dataset, seed, half, shots, silentReporter);
      if (half !== 'new' && def.trainable) units += trainUnits(d.train.length, config.epochs);
      units += strided(d.test, o.maxTestImages).length;
    }
    for (const t of targets) units += strided(load(o, t, seed, 'all', 0, silentReporter).test, o.maxTestImages).length;
  }
  return new RunClock(units);
}

/** A finished run of this configuration (result.json there, no --force): said, added to `results`, true. */
function skipFinished(o: ProtocolOptions, config: RunConfig, results: RunResult[]): boolean {
  const done = finishedRun(o, config);
  if (!done) return false;
  o.reporter?.info(
    `${path.join(runDirOf(o.out, config), 'result.json')} exists with this configuration: skipping this run (use --force to run it again)`,
  );
  results.push(done);
  return true;
}

/** Base-to-new generalisation over seeds. */
export async function runBase2New(o: ProtocolOptions): Promise<RunResult[]> {
  if (!o.preflighted) preflight(o, 'base2new', [], o.model.arch, tokenizerFor(o.model));
  const results: RunResult[] = [];
  const shots = o.shots ?? DEFAULT_SHOTS;
  const run = planRun(o, 'base2new', shots, []);
  for (const seed of o.seeds) {
    const t0 = Date.now();
    // the precision the model computes in is part of the run identity
    const config = protocolRunConfig({ ...o, precision: o.model.precision.name }, 'base2new', seed, shots);
    if (skipFinished(o, config, results)) continue;
    const base = load(o, o.dataset, seed, 'base', shots);
    const novel = load(o, o.dataset, seed, 'new', shots);
    // the learner refuses what cannot run (the method on this model, prompts longer than the context) before the folder exists
    // the options as recorded (the method's defaults for this dataset included)
    const learner = new PromptLearner(o.model, tokenizerFor(o.model), o.method, base.classnames, { ...learnerOptions(o, config), seed, dataset: base });
    let events: RunEvents | null = null;
    try {
      checkPromptLengths(learner.design, novel.classnames, tokenizerFor(o.model), { dataset: novel, contextLength: o.model.arch.text.context_length });
      const dir = claimRun(o, config);
      using lock = lockRunFolder(dir); // released when this seed's run ends, however it ends
      announceCompute(o);
      o.reporter?.info(`base2new ${o.dataset} ${o.method} seed ${seed}: ${base.classnames.length} base / ${novel.classnames.length} new classes, ${base.train.length} training images`);
      startLog(o, dir, config, [['base', base], ['new', novel]]);
      events = new RunEvents(dir); // <dir>/tensorboard/, Dassl's tags (src/tensorboard/dassl.ts)
      const t = await trainOn(o, learner, base, config, dir, events, run);
      savePrompts(dir, learner, { backbone: o.backbone, ...(await backboneRecord(o)), dataset: config.dataset, seed, precision: config.precision });
      const b = await test(o, learner, base.test, 'base classes', run);
      learner.setClassnames(novel.classnames);
      const n = await test(o, learner, novel.test, 'new classes', run);
      events.evaluation('test', b, config.epochs);
      events.evaluation('test_new', n, config.epochs);
      endLog(dir, methodDef(o.method).trainable && config.epochs > 0, learner.design, [{ keyword: '', what: 'base classes', r: b }, { keyword: 'new', what: 'new classes', r: n }], (Date.now() - t0) / 1000);
      const result: RunResult = {
        ...baseResult(config, o.deviceDescription ?? o.model.device, { ...modelSource(o), base_classes: base.classnames, new_classes: novel.classnames }),
        base: b.accuracy,
        new: n.accuracy,
        hm: harmonicMean(b.accuracy, n.accuracy),
        per_class: { base: b.perClass, new: n.perClass },
        macro_f1: { base: b.macroF1, new: n.macroF1 },
        train_seconds: t.seconds,
        eval_seconds: b.seconds + n.seconds,
        eval_images: b.total + n.total,
        train_images_per_s: t.ips,
        skipped_images: t.skipped + b.skipped + n.skipped,
        ...(t.fitted ? { fitted: t.fitted } : {}),
        eval_subset: b.subset || n.subset,
        finished_at: new Date().toISOString(),
      };
      writeJsonAtomic(path.join(dir, 'result.json'), result);
      o.reporter?.info(`seed ${seed}: base ${percent(b.accuracy)}  new ${percent(n.accuracy)}  HM ${percent(result.hm!)}  -> ${dir}`);
      results.push(result);
    } finally {
      events?.close();
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
  if (!o.preflighted) preflight(o, protocol, targets, o.model.arch, tokenizerFor(o.model));
  const results: RunResult[] = [];
  const shots = o.shots ?? DEFAULT_SHOTS;
  const run = planRun(o, protocol, shots, targets);
  for (const seed of o.seeds) {
    const t0 = Date.now();
    const config = protocolRunConfig({ ...o, precision: o.model.precision.name }, protocol, seed, shots, protocol === 'fewshot' ? undefined : targets);
    if (skipFinished(o, config, results)) continue;
    const src = load(o, o.dataset, seed, 'all', shots);
    const targetData = targets.map((t) => load(o, t, seed, 'all', 0));
    const learner = new PromptLearner(o.model, tokenizerFor(o.model), o.method, src.classnames, { ...learnerOptions(o, config), seed, dataset: src });
    let events: RunEvents | null = null;
    try {
      for (const d of targetData) checkPromptLengths(learner.design, d.classnames, tokenizerFor(o.model), { dataset: d, contextLength: o.model.arch.text.context_length });
      const dir = claimRun(o, config);
      using lock = lockRunFolder(dir); // released when this seed's run ends, however it ends
      announceCompute(o);
      startLog(o, dir, config, [['source', src]]);
      events = new RunEvents(dir); // <dir>/tensorboard/, Dassl's tags (src/tensorboard/dassl.ts)
      const t = await trainOn(o, learner, src, config, dir, events, run);
      savePrompts(dir, learner, { backbone: o.backbone, ...(await backboneRecord(o)), dataset: config.dataset, seed, precision: config.precision });
      let evalImages = 0;
      const accuracy: Record<string, number> = {};
      const perClass: Record<string, Record<string, number>> = {};
      const macroF1: Record<string, number> = {};
      const evals: Array<{ keyword: string; what: string; r: EvalResult & { of: number; subset: boolean } }> = [];
      let evalSeconds = 0;
      let skipped = t.skipped;
      const own = await test(o, learner, src.test, config.dataset, run);
      evals.push({ keyword: '', what: config.dataset, r: own });
      accuracy[config.dataset] = own.accuracy;
      perClass[config.dataset] = own.perClass;
      macroF1[config.dataset] = own.macroF1;
      events.evaluation('test', own, config.epochs);
      evalSeconds += own.seconds;
      evalImages += own.total;
      skipped += own.skipped;
      for (const d of targetData) {
        learner.setClassnames(d.classnames, d); // the target's classes and template, as the official per-dataset evaluation
        const r = await test(o, learner, d.test, d.name, run);
        evals.push({ keyword: d.name, what: d.name, r });
        accuracy[d.name] = r.accuracy;
        perClass[d.name] = r.perClass;
        macroF1[d.name] = r.macroF1;
        events.evaluation(`test_${d.name}`, r, config.epochs);
        evalSeconds += r.seconds;
        evalImages += r.total;
        skipped += r.skipped;
        o.reporter?.info(`${protocol} ${o.method} seed ${seed}: ${d.name} ${percent(r.accuracy)}`);
      }
      endLog(dir, methodDef(o.method).trainable && config.epochs > 0, learner.design, evals, (Date.now() - t0) / 1000);
      const result: RunResult = {
        ...baseResult(config, o.deviceDescription ?? o.model.device, modelSource(o)),
        accuracy,
        per_class: perClass,
        macro_f1: macroF1,
        train_seconds: t.seconds,
        eval_seconds: evalSeconds,
        eval_images: evalImages,
        train_images_per_s: t.ips,
        skipped_images: skipped,
        ...(t.fitted ? { fitted: t.fitted } : {}),
        eval_subset: evals.some((e) => e.r.subset),
        finished_at: new Date().toISOString(),
      };
      writeJsonAtomic(path.join(dir, 'result.json'), result);
      o.reporter?.info(`${protocol} ${o.method} seed ${seed}: ${config.dataset} ${percent(own.accuracy)}  -> ${dir}`);
      results.push(result);
    } finally {
      events?.close();
      learner.dispose();
    }
  }
  return results;
}

export const XD_TARGETS = ['caltech101', 'oxford_pets', 'stanford_cars', 'oxford_flowers', 'food101', 'fgvc_aircraft', 'sun397', 'dtd', 'eurosat', 'ucf101'];
export const DG_TARGETS = ['imagenet_v2', 'imagenet_sketch', 'imagenet_a', 'imagenet_r'];
export const FEWSHOT_SHOTS = [1, 2, 4, 8, 16];
