/**
 * Loading a dataset the way the official code does: read the lists (split file or folders), check the
 * images exist, draw the few-shot subset for the run seed (on ALL classes, before base/new, so base and
 * new runs of one seed share it), then keep the base or new half of the classes.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheDir } from '../net/cache.js';
import { UserError, fileError } from '../util/errors.js';
import { silentReporter, type Reporter } from '../util/reporter.js';
import { generatedSplitName, makeContext, type DatasetContext, type DatasetDef, type ReadOptions } from './datasets/common.js';
import { jsonlistContext } from './datasets/custom.js';
import { getDataset } from './datasets/index.js';
import { fewshotWithCache, subsampleClasses } from './fewshot.js';
import { lpclipSample } from './nprandom.js';
import { reportDataAccess, type SplitName } from './access.js';
import { GENERATED_MARKER_KEY, checkImageFiles, classnamesByLabel, isFile, toData, writeSplitFile, type GeneratedMarker } from './splits.js';
import type { Datum, LoadedDataset, SplitEntry, Subsample } from './types.js';

export interface LoadOptions extends ReadOptions {
  /** CoOp's $DATA (the folder holding `eurosat/`, `dtd/`, ...); the dataset itself for custom datasets. */
  root: string;
  /** Shots per class for training (and min(K, 4) for val); 0 or undefined = the full lists. */
  shots?: number;
  /**
   * How the few-shot subset is drawn: Dassl's (default: CPython's random, cached in split_fewshot/), or 'lpclip':
   * CoOp's linear-probe script, numpy-seeded from the full train and val lists (src/data/nprandom.ts; not cached).
   */
  sampler?: 'dassl' | 'lpclip';
  /** Keep the full validation list whatever the shots (Tip-Adapter's α/β search uses it; its train is still drawn). */
  fullVal?: boolean;
  /** The run seed (few-shot subset). Default 1. */
  seed?: number;
  /** 'base' / 'new' half of the classes (base-to-new protocol), or 'all' (default). */
  subsample?: Subsample;
  /** Check that every image of a split file exists (Dassl asserts it). Default true. */
  checkFiles?: boolean;
  /**
   * Read/write `split_fewshot/shot_K-seed_S.json` (default true); 'read-only' never writes it. Benchmark
   * datasets keep it in their own folder, as Dassl does; a custom dataset (imagefolder, jsonlist) is the
   * user's own folder, so its cache lives in the tool's cache (fewshotHomeOf).
   */
  cacheFewshot?: boolean | 'read-only';
  /**
   * The lists to hand out (default all three); the others come back empty and are not reported as read
   * (src/data/access.ts). A test list not asked for is dropped as soon as it is listed (its files are not even
   * checked). The schedule search asks for train and val only.
   */
  splits?: readonly SplitName[];
  reporter?: Reporter;
}

export function datasetContext(def: DatasetDef, root: string, reporter: Reporter = silentReporter): DatasetContext {
  if (def.name === 'jsonlist') return { ...jsonlistContext(root), reporter };
  return makeContext(def, root, reporter);
}

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new UserError(`seed must be a non-negative integer, got ${seed}`);
}

/**
 * Where a dataset's `split_fewshot/` cache lives: the dataset folder for the benchmark datasets (CoOp's
 * layout, shared with the official code), `<cache>/fewshot/<hash of the folder's real path>/` for custom
 * datasets, whose folders are never written into.
 */
export function fewshotHomeOf(def: DatasetDef, datasetDir: string): string {
  if (def.dirName !== undefined) return datasetDir;
  let real = datasetDir;
  try {
    real = fs.realpathSync(datasetDir);
  } catch {
    // a missing folder fails later, with its own message
  }
  return path.join(cacheDir(), 'fewshot', createHash('sha256').update(real).digest('hex').slice(0, 16));
}

export function loadDataset(name: string, options: LoadOptions): LoadedDataset {
  const def = getDataset(name);
  const reporter = options.reporter ?? silentReporter;
  const ctx = datasetContext(def, options.root, reporter);
  const wanted = new Set<SplitName>(options.splits ?? ['train', 'val', 'test']);
  const listed = def.read(ctx, options);
  // a test list not asked for is dropped before anything looks at it; val still feeds the few-shot draw
  // (the same subset and cache as a full load), and is dropped after it
  const raw = wanted.has('test') ? listed : { ...listed, test: [] };
  if (raw.fromSplitFile && options.checkFiles !== false) checkImageFiles(raw, ctx.imageDir, raw.source);

  const shots = options.shots ?? 0;
  const seed = options.seed ?? 1;
  checkSeed(seed);
  if (!Number.isInteger(shots) || shots < 0) throw new UserError(`shots must be a non-negative integer, got ${shots}`);
  const subsample = options.subsample ?? 'all';
  if (!['all', 'base', 'new'].includes(subsample)) throw new UserError(`subsample must be all, base or new, got "${subsample}"`);

  let train: SplitEntry[] = raw.train;
  let val: SplitEntry[] = raw.val;
  let test: SplitEntry[] = raw.test;
  let fewshot: LoadedDataset['fewshot'];
  if (def.testOnly) {
    if (subsample !== 'all') throw new UserError(`${def.name} is a test-only dataset; base/new subsampling does not apply (use --subsample all)`);
  } else if (shots >= 1 && options.sampler === 'lpclip') {
    // lpclip: np.random.seed(seed), K train and min(K, 4) val images of every train label, in label order
    const s = lpclipSample(train.map((e) => e.label), val.map((e) => e.label), shots, Math.min(shots, 4), seed);
    train = s.train.map((i) => raw.train[i]);
    val = options.fullVal ? val : s.val.map((i) => raw.val[i]);
    fewshot = { shots, seed, fromCache: false };
  } else if (shots >= 1) {
    const fullVal = val;
    const fs = fewshotWithCache({
      train,
      val,
      shots,
      seed,
      datasetDir: fewshotHomeOf(def, ctx.datasetDir),
      source: raw.source,
      sampleVal: !def.fewshotTrainOnly,
      cache: options.cacheFewshot,
      reporter,
    });
    train = fs.train;
    val = options.fullVal ? fullVal : fs.val;
    fewshot = { shots, seed, cacheFile: fs.cacheFile, fromCache: fs.fromCache };
  }
  [train, val, test] = subsampleClasses(subsample, train, val, test);
  if (!wanted.has('train')) train = [];
  if (!wanted.has('val')) val = [];

  const classSource = def.testOnly ? test : train;
  const classnames = classnamesByLabel(classSource, raw.source);
  const data = (list: SplitEntry[]): Datum[] => toData(list, ctx.imageDir);
  for (const [split, list] of [['train', train], ['val', val], ['test', test]] as const) {
    if (!wanted.has(split)) continue;
    const classes = [...new Map(list.map((e) => [e.label, e.classname])).entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => c);
    reportDataAccess({ kind: 'split', dataset: def.name, split, subsample, shots, seed, classes, images: list.length });
  }
  return {
    name: def.name,
    displayName: def.displayName,
    root: ctx.imageDir,
    classnames,
    train: data(train),
    val: data(val),
    test: data(test),
    template: def.template,
    ensembleAddsTemplate: def.ensembleAddsTemplate ?? true,
    source: raw.source,
    fewshot,
    subsample,
  };
}

export interface GenerateResult {
  file: string;
  counts: { train: number; val: number; test: number; classes: number };
}

/**
 * Makes a split the way CoOp does when the official file is missing (seeded with `seed`, default 1) and
 * writes it as `split_mpl_generated_<Name>.json` with a top-level marker, never under the official
 * name: it is not the official split, and is only read with `allowGeneratedSplit`.
 */
export function generateSplit(
  name: string,
  options: { root: string; seed?: number; force?: boolean; reporter?: Reporter },
): GenerateResult {
  const def = getDataset(name);
  if (!def.generateSplit) {
    const why = def.testOnly
      ? 'it is test-only and reads its folders directly'
      : def.splitFile === undefined
        ? 'it needs no split file (its own lists or folders are the split)'
        : 'CoOp has no generation procedure for it';
    throw new UserError(`${def.name}: no split to generate; ${why}`);
  }
  const seed = options.seed ?? 1;
  checkSeed(seed);
  const ctx = datasetContext(def, options.root, options.reporter);
  const file = path.join(ctx.datasetDir, generatedSplitName(def.displayName));
  if (isFile(file) && !options.force) throw fileError(file, 'already exists; pass --force to overwrite it');
  const split = def.generateSplit(ctx, seed);
  const marker: GeneratedMarker = {
    note:
      'NOT the official CoOp split: generated by mpl with the CoOp procedure on sorted file lists. ' +
      'Results on it are not comparable with published numbers.',
    dataset: def.displayName,
    seed,
    rule: def.generateRule ?? '',
    created: new Date().toISOString(),
  };
  writeSplitFile(file, split, marker);
  const classes = new Set(split.train.map((e) => e.label)).size;
  return { file, counts: { train: split.train.length, val: split.val.length, test: split.test.length, classes } };
}

export { GENERATED_MARKER_KEY };

export interface DatasetInfo {
  name: string;
  displayName: string;
  datasetDir: string;
  imageDir: string;
  source: string;
  generatedSplit: boolean;
  template: string;
  testOnly: boolean;
  classnames: string[];
  /** Base / new halves (labels 0..m-1 / m..n-1 of the full class list); empty for test-only datasets. */
  baseClasses: string[];
  newClasses: string[];
  counts: { train: number; val: number; test: number };
  /** Images per class in train (full lists), by label. */
  trainPerClass: number[];
  fewshot?: { shots: number; seed: number; train: string[]; val: string[]; cacheFile?: string; fromCache: boolean };
}

/**
 * What `mpl data info` shows: class list, base/new halves, list sizes and, with `shots`, the few-shot
 * subset of the seed (paths relative to the image folder). Reads an existing few-shot cache but never
 * writes one.
 */
export function describeDataset(name: string, options: LoadOptions): DatasetInfo {
  const def = getDataset(name);
  const reporter = options.reporter ?? silentReporter;
  const ctx = datasetContext(def, options.root, reporter);
  const raw = def.read(ctx, options);
  if (raw.fromSplitFile && options.checkFiles !== false) checkImageFiles(raw, ctx.imageDir, raw.source);
  const full = def.testOnly ? raw.test : raw.train;
  const classnames = classnamesByLabel(full, raw.source);
  const m = Math.ceil(classnames.length / 2);
  const trainPerClass = new Array<number>(classnames.length).fill(0);
  for (const e of raw.train) trainPerClass[e.label]++;
  const info: DatasetInfo = {
    name: def.name,
    displayName: def.displayName,
    datasetDir: ctx.datasetDir,
    imageDir: ctx.imageDir,
    source: raw.source,
    generatedSplit: Boolean(raw.generated),
    template: def.template,
    testOnly: Boolean(def.testOnly),
    classnames,
    baseClasses: def.testOnly ? [] : classnames.slice(0, m),
    newClasses: def.testOnly ? [] : classnames.slice(m),
    counts: { train: raw.train.length, val: raw.val.length, test: raw.test.length },
    trainPerClass,
  };
  const shots = options.shots ?? 0;
  if (shots >= 1 && !def.testOnly) {
    const seed = options.seed ?? 1;
    checkSeed(seed);
    const fs = fewshotWithCache({
      train: raw.train,
      val: raw.val,
      shots,
      seed,
      datasetDir: fewshotHomeOf(def, ctx.datasetDir),
      source: raw.source,
      sampleVal: !def.fewshotTrainOnly,
      cache: options.cacheFewshot === false ? false : 'read-only',
      reporter,
    });
    info.fewshot = {
      shots,
      seed,
      train: fs.train.map((e) => e.relpath),
      val: def.fewshotTrainOnly ? [] : fs.val.map((e) => e.relpath),
      cacheFile: fs.cacheFile,
      fromCache: fs.fromCache,
    };
  }
  return info;
}
