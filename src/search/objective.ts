/**
 * The search objective, which never sees the test split or the real new classes.
 *
 *   base2new  Only the BASE classes are loaded (their few-shot train and val lists, as the real run of the
 *             seed gets them). They are split, seeded by the search seed, into pseudo-base (the first half
 *             after a shuffle, ceil(m/2) classes, as base/new halves are sized) and pseudo-new. A candidate
 *             trains on the pseudo-base few-shot train images and is scored on the few-shot val images of
 *             both halves: HM(pseudo-base accuracy, pseudo-new accuracy), as the protocol scores base/new.
 *   fewshot, xd, dg
 *             All classes of the (source) dataset; trained on its few-shot train images, scored by the
 *             accuracy on its few-shot val images. xd/dg targets are never loaded.
 *
 * Datasets whose val list IS their test set (ImageNet: CoOp evaluates on its val folder), and datasets
 * without a val list (an imagefolder with train/ and test/ only), get a held-out validation set instead:
 * min(K, 4) images per class drawn (seeded) from the training images that are not in the K-shot subset. Every list goes through loadDataset with `splits` naming train (and val), so the
 * loaders report exactly what was read (src/data/access.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackboneModel } from '../backbones/model.js';
import { tokenizerFor } from '../backbones/index.js';
import { loadDataset } from '../data/dataset.js';
import { getDataset } from '../data/datasets/index.js';
import { generateFewshotDataset } from '../data/fewshot.js';
import { checkImageHeaders } from '../data/preflight.js';
import { PyRandom } from '../data/pyrandom.js';
import type { Datum } from '../data/types.js';
import { harmonicMean } from '../eval/results.js';
import { readSafetensorsHeader } from '../io/safetensors.js';
import { PromptLearner } from '../prompting/learner.js';
import type { BatchSource } from '../train/batches.js';
import { evaluate } from '../train/evaluate.js';
import { batchSource } from '../train/sources.js';
import { CHECKPOINT_FILE } from '../train/checkpoint.js';
import { train } from '../train/trainer.js';
import { UserError } from '../util/errors.js';
import { ensureDir, writeJsonAtomic } from '../util/fs.js';
import { silentReporter, type Reporter } from '../util/reporter.js';
import { trialDir, trialResultFile, readTrialResult, type SearchSettings, type TrialResult, type TrialSpec } from './files.js';

/** One labelled set the objective scores on, with its own class list (labels 0..n-1). */
export interface ScoreSet {
  /** base2new: 'base' / 'new' (the pseudo halves); otherwise 'val' */
  name: 'base' | 'new' | 'val';
  classnames: string[];
  items: Datum[];
}

/** What one seed of the search trains and scores on. */
export interface SearchData {
  seed: number;
  dataset: string;
  trainClasses: string[];
  train: Datum[];
  scoreSets: ScoreSet[];
  /** where the scoring images come from, for the report */
  validation: 'val split' | 'held out from train';
}

/** The pseudo-base / pseudo-new halves of m classes (indices), seeded: a shuffle, then ceil(m/2) / the rest, each sorted. */
export function pseudoSplit(m: number, seed: number): { base: number[]; novel: number[] } {
  if (m < 2) throw new UserError(`the search splits the base classes into pseudo-base and pseudo-new, so it needs at least 2 base classes (this dataset has ${m})`);
  const order = PyRandom.fromWords([seed, 0x70736e77 /* 'psnw' */]).shuffle(Array.from({ length: m }, (_, i) => i));
  const k = Math.ceil(m / 2);
  return { base: order.slice(0, k).sort((a, b) => a - b), novel: order.slice(k).sort((a, b) => a - b) };
}

/** The items of the given labels, relabelled 0..n-1 in that order. */
function keepLabels(items: Datum[], labels: number[]): Datum[] {
  const relabel = new Map(labels.map((l, i) => [l, i]));
  return items.filter((d) => relabel.has(d.label)).map((d) => ({ ...d, label: relabel.get(d.label)! }));
}

/** The search's training and scoring lists for one seed (see the file comment). */
export function searchData(s: SearchSettings, seed: number, reporter: Reporter = silentReporter): SearchData {
  const def = getDataset(s.dataset);
  if (def.testOnly) throw new UserError(`${def.name} is a test-only dataset: it has no training images to search with`);
  const subsample = s.protocol === 'base2new' ? 'base' : 'all';
  const common = { root: s.root, seed, subsample, reporter, allowGeneratedSplit: s.allow_generated_split } as const;
  let train: Datum[] = [];
  let val: Datum[] = [];
  let classnames: string[] = [];
  let validation: SearchData['validation'] = 'val split';
  if (!def.fewshotTrainOnly) {
    const d = loadDataset(s.dataset, { ...common, shots: s.shots, splits: ['train', 'val'] });
    ({ classnames, train, val } = d);
  }
  if (def.fewshotTrainOnly || val.length === 0) {
    // its val list is its test set (ImageNet), or it has none (an imagefolder with train/ and test/ only):
    // validation images are held out from the training images instead
    if (s.shots === 0) {
      throw new UserError(`--shots 0 trains on all images, which leaves none to hold out for validation: ${def.name} has no val split of its own; give --shots K`);
    }
    const full = loadDataset(s.dataset, { ...common, shots: 0, splits: ['train'] });
    classnames = full.classnames;
    train = generateFewshotDataset(full.train, s.shots, new PyRandom(seed));
    const used = new Set(train.map((d) => d.impath));
    const rest = full.train.filter((d) => !used.has(d.impath));
    val = generateFewshotDataset(rest, Math.min(s.shots, 4), PyRandom.fromWords([seed, 0x686f6c64 /* 'hold' */]));
    validation = 'held out from train';
  }
  let trainClasses = classnames;
  let scoreSets: ScoreSet[];
  if (s.protocol === 'base2new') {
    const split = pseudoSplit(classnames.length, s.seed);
    train = keepLabels(train, split.base);
    trainClasses = split.base.map((l) => classnames[l]);
    scoreSets = [
      { name: 'base', classnames: trainClasses, items: keepLabels(val, split.base) },
      { name: 'new', classnames: split.novel.map((l) => classnames[l]), items: keepLabels(val, split.novel) },
    ];
  } else {
    scoreSets = [{ name: 'val', classnames, items: val }];
  }
  for (const set of scoreSets) {
    if (set.items.length === 0) {
      throw new UserError(
        `${s.dataset} (${s.root}): no validation images for the ${set.name === 'val' ? '' : `pseudo-${set.name} `}classes; the search scores on the val split ` +
          '(or on training images beyond the few-shot subset when there is no val split), never on test: give the classes more images',
      );
    }
  }
  if (train.length === 0) throw new UserError(`${s.dataset} (${s.root}): no training images to search with`);
  return { seed, dataset: def.name, trainClasses, train, scoreSets, validation };
}

/**
 * Before any model loads or trial trains: every seed's lists load and every image the search will read has an
 * image header (all problems in one error; with skipBadImages, a warning). Returns the first seed's data.
 */
export function preflightSearch(s: SearchSettings, options: { skipBadImages?: boolean; reporter?: Reporter } = {}): SearchData {
  const all = s.seeds.map((seed) => searchData(s, seed, options.reporter));
  const bad = checkImageHeaders(all.flatMap((d) => [...d.train, ...d.scoreSets.flatMap((x) => x.items)]));
  if (bad.length > 0) {
    const shown = bad.slice(0, 5).map((b) => `${b.file} (${b.problem})`).join(', ') + (bad.length > 5 ? `, and ${bad.length - 5} more` : '');
    if (options.skipBadImages) options.reporter?.warn(`${bad.length} image${bad.length > 1 ? 's look' : ' looks'} unreadable and will be skipped (--skip-bad-images): ${shown}`);
    else throw new UserError(`${bad.length} unreadable image${bad.length > 1 ? 's' : ''}: ${shown}; fix or remove ${bad.length > 1 ? 'them' : 'it'}, or pass --skip-bad-images (nothing was searched)`);
  }
  return all[0];
}

/** The objective from the scores: base2new HM(base, new); otherwise the val accuracy. */
export function objectiveOf(scores: Record<string, number>): number {
  return 'val' in scores ? scores.val : harmonicMean(scores.base, scores.new);
}

/**
 * Test seams (test/seams/kill-after-trials.ts preloads one): called as each trial starts, with the number of
 * trials this process has finished; nothing in the tool adds to it.
 */
export const trialStartSeams: Array<(trialsDone: number) => void> = [];

/**
 * Runs trials in this process on one loaded model: per seed, the data and its batch sources are made once
 * and shared by every candidate (the batches are a function of seed and epoch only).
 */
export class TrialRunner {
  private readonly sources = new Map<number, { data: SearchData; train: BatchSource; score: BatchSource[] }>();
  /** trials evaluated by this runner (the fault injection of the resume test counts them) */
  evaluated = 0;

  /** trials print one line each (search.ts); of the trainer only the warnings get through */
  private readonly quiet: Reporter;

  constructor(
    readonly out: string,
    readonly settings: SearchSettings,
    readonly model: BackboneModel,
    readonly options: { numWorkers?: number; skipBadImages?: boolean; reporter?: Reporter } = {},
  ) {
    this.quiet = { ...silentReporter, warn: (m) => options.reporter?.warn(m) };
  }

  private seedData(seed: number) {
    let entry = this.sources.get(seed);
    if (!entry) {
      const data = searchData(this.settings, seed, this.options.reporter);
      const size = this.model.arch.vision.image_size;
      const common = { imageSize: size, numWorkers: this.options.numWorkers, skipBadImages: this.options.skipBadImages, reporter: this.options.reporter };
      entry = {
        data,
        train: batchSource(data.train, { ...common, mode: 'train', augment: this.settings.augment !== false, seed, batchSize: this.settings.batch_size }),
        score: data.scoreSets.map((set) => batchSource(set.items, { ...common, mode: 'eval', batchSize: 100 })),
      };
      this.sources.set(seed, entry);
    }
    return entry;
  }

  /** One candidate, one seed, trained up to `epochs` (continuing its checkpoint) and scored; memoised on disk. */
  async run(spec: TrialSpec): Promise<TrialResult> {
    const file = trialResultFile(this.out, spec);
    const done = readTrialResult(file, spec);
    if (done) return done;
    const s = this.settings;
    const { data, train: trainSrc, score } = this.seedData(spec.seed);
    const dir = trialDir(this.out, spec);
    ensureDir(dir);
    dropCheckpointBeyond(dir, spec.epochs);
    const learner = new PromptLearner(this.model, tokenizerFor(this.model), 'mpl', data.trainClasses, {
      nCtx: s.bounds.nCtx,
      ctxInit: s.ctx_init,
      depth: spec.depth,
      schedule: spec.schedule,
      seed: spec.seed,
      dataset: data.dataset,
    });
    try {
      for (const seam of trialStartSeams) seam(this.evaluated);
      const t = await train(learner, trainSrc, {
        epochs: s.max_epochs,
        stopAfterEpoch: spec.epochs,
        lr: s.lr,
        checkpointDir: dir,
        resume: true,
        config: { search: s, candidate: spec.candidate, depth: spec.depth, schedule: spec.schedule, seed: spec.seed },
        logFile: path.join(dir, 'log.txt'),
        reporter: this.quiet,
      });
      const scores: Record<string, number> = {};
      let evalSeconds = 0;
      for (const [i, set] of data.scoreSets.entries()) {
        learner.setClassnames(set.classnames);
        const r = await evaluate(learner, score[i]);
        scores[set.name] = r.accuracy;
        evalSeconds += r.seconds;
      }
      const steps = t.epochs.length * trainSrc.batchesPerEpoch();
      const result: TrialResult = {
        ...spec,
        objective: objectiveOf(scores),
        scores,
        train_loss: t.epochs[t.epochs.length - 1].loss,
        step_ms: steps ? (1000 * t.epochs.reduce((a, e) => a + e.seconds, 0)) / steps : 0,
        trained_epochs: t.epochs.length - t.resumedFrom,
        train_seconds: t.seconds,
        eval_seconds: evalSeconds,
        finished_at: new Date().toISOString(),
      };
      writeJsonAtomic(file, result);
      this.evaluated++;
      return result;
    } finally {
      learner.dispose();
    }
  }

  async close(): Promise<void> {
    for (const e of this.sources.values()) await Promise.all([e.train.close(), ...e.score.map((x) => x.close())]);
    this.sources.clear();
  }
}

/**
 * A checkpoint past the epochs asked for (a later rung trained, its own result lost) cannot give this rung's
 * prompts back: it is removed and the trial retrains from epoch 1, which gives the same prompts.
 */
function dropCheckpointBeyond(dir: string, epochs: number): void {
  const file = path.join(dir, CHECKPOINT_FILE);
  if (!fs.existsSync(file)) return;
  let epoch = 0;
  try {
    epoch = Number(readSafetensorsHeader(file).metadata.epoch);
  } catch {
    return; // the trainer refuses it with the proper message
  }
  if (epoch > epochs) fs.rmSync(file);
}
