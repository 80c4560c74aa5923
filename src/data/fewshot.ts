import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileError } from '../util/errors.js';
import { writeJsonAtomic } from '../util/fs.js';
import { silentReporter, type Reporter } from '../util/reporter.js';
import { PyRandom } from './pyrandom.js';
import { listsFingerprint, parseSplit } from './splits.js';
import type { SplitEntry, Subsample } from './types.js';
import { readJsonFile, reasonOf } from '../util/parse.js';

/**
 * Dassl's `DatasetBase.generate_fewshot_dataset(data, num_shots=K)` as the CoOp datasets call it
 * (repeat=False): items grouped by label in the order labels first appear in `items`, and for each label
 * `random.sample(group, K)`, or the whole group (in order, no draw) if it has fewer than K items.
 * Draws from `rng`, which the caller has seeded.
 */
export function generateFewshotDataset<T extends { label: number }>(items: readonly T[], shots: number, rng: PyRandom): T[] {
  if (shots < 1) return items.slice();
  const groups = new Map<number, T[]>(); // Map keeps insertion order, like Python's defaultdict
  for (const item of items) {
    let g = groups.get(item.label);
    if (!g) groups.set(item.label, (g = []));
    g.push(item);
  }
  const out: T[] = [];
  for (const g of groups.values()) {
    if (g.length >= shots) out.push(...rng.sample(g, shots));
    else out.push(...g);
  }
  return out;
}

/**
 * The few-shot protocol of every CoOp dataset: `random.seed(seed)` once, then
 * `train = generate_fewshot_dataset(train, K)` and `val = generate_fewshot_dataset(val, min(K, 4))`.
 * ImageNet samples train only (`sampleVal: false`), its val being the test set.
 */
export function sampleFewshot<T extends { label: number }>(
  train: readonly T[],
  val: readonly T[],
  shots: number,
  seed: number,
  options: { sampleVal?: boolean } = {},
): { train: T[]; val: T[] } {
  const rng = new PyRandom(seed);
  const t = generateFewshotDataset(train, shots, rng);
  const v = options.sampleVal === false ? val.slice() : generateFewshotDataset(val, Math.min(shots, 4), rng);
  return { train: t, val: v };
}

/**
 * `OxfordPets.subsample_classes(*lists, subsample)`: labels of the FIRST list (train) sorted,
 * m = ceil(n / 2); "base" keeps the first m labels, "new" the rest; kept labels are renumbered from 0 in
 * ascending order and applied to every list; items of other classes are dropped. "all" changes nothing.
 */
export function subsampleClasses<T extends { label: number }>(mode: Subsample, ...lists: T[][]): T[][] {
  if (mode === 'all') return lists;
  const labels = [...new Set(lists[0].map((x) => x.label))].sort((a, b) => a - b);
  const m = Math.ceil(labels.length / 2);
  const selected = mode === 'base' ? labels.slice(0, m) : labels.slice(m);
  const relabel = new Map<number, number>(selected.map((y, i) => [y, i]));
  return lists.map((list) => {
    const out: T[] = [];
    for (const item of list) {
      const y = relabel.get(item.label);
      if (y !== undefined) out.push({ ...item, label: y });
    }
    return out;
  });
}

/** The portable few-shot cache: Dassl pickles absolute paths; this keeps them relative to the image folder. */
export interface FewshotCache {
  format: 'mpl-fewshot-v1';
  shots: number;
  seed: number;
  /** Where the lists were drawn from (split file name or folder listing). */
  source: string;
  /** `listsFingerprint` of the full train/val lists the subset was drawn from. */
  fingerprint: string;
  train: SplitEntry[];
  val: SplitEntry[];
}

export function fewshotCachePath(datasetDir: string, shots: number, seed: number): string {
  return path.join(datasetDir, 'split_fewshot', `shot_${shots}-seed_${seed}.json`);
}

/**
 * Few-shot subset with Dassl's caching behaviour: reuse `<datasetDir>/split_fewshot/shot_K-seed_S.json`
 * when it exists, otherwise draw and write it. Unlike Dassl, a cache drawn from different train/val
 * lists (fingerprint mismatch, e.g. after switching from a generated to the official split) is not
 * reused: it is redrawn with a warning. Failing to write the cache (read-only dataset folder) is a
 * warning, not an error.
 */
export function fewshotWithCache(args: {
  train: readonly SplitEntry[];
  val: readonly SplitEntry[];
  shots: number;
  seed: number;
  datasetDir: string;
  source: string;
  sampleVal?: boolean;
  /** false: neither read nor write the cache; 'read-only': reuse it but never write one. */
  cache?: boolean | 'read-only';
  reporter?: Reporter;
}): { train: SplitEntry[]; val: SplitEntry[]; cacheFile?: string; fromCache: boolean } {
  const reporter = args.reporter ?? silentReporter;
  // ImageNet (sampleVal false) keeps its full val list: only train is drawn and cached, as in CoOp.
  const sampleVal = args.sampleVal !== false;
  const fingerprint = listsFingerprint(args.train, sampleVal ? args.val : []);
  const file = fewshotCachePath(args.datasetDir, args.shots, args.seed);
  if (args.cache !== false && fs.existsSync(file)) {
    const cached = readFewshotCache(file);
    if (cached.fingerprint === fingerprint && cached.shots === args.shots && cached.seed === args.seed) {
      return { train: cached.train, val: sampleVal ? cached.val : args.val.slice(), cacheFile: file, fromCache: true };
    }
    reporter.warn(`${file} was drawn from other lists than ${args.source}; drawing the ${args.shots}-shot subset again`);
  }
  const drawn = sampleFewshot(args.train, args.val, args.shots, args.seed, { sampleVal });
  if (args.cache === false || args.cache === 'read-only') return { ...drawn, fromCache: false };
  const cache: FewshotCache = {
    format: 'mpl-fewshot-v1',
    shots: args.shots,
    seed: args.seed,
    source: args.source,
    fingerprint,
    train: drawn.train,
    val: sampleVal ? drawn.val : [],
  };
  try {
    writeJsonAtomic(file, {
      ...cache,
      train: cache.train.map((e) => [e.relpath, e.label, e.classname]),
      val: cache.val.map((e) => [e.relpath, e.label, e.classname]),
    });
    return { ...drawn, cacheFile: file, fromCache: false };
  } catch (e) {
    reporter.warn(`could not write the few-shot cache ${file} (${(e as Error).message}); continuing without it`);
    return { ...drawn, fromCache: false };
  }
}

export function readFewshotCache(file: string): FewshotCache {
  let json: Record<string, unknown>;
  try {
    json = readJsonFile(file, 'few-shot cache') as Record<string, unknown>;
  } catch (e) {
    throw fileError(file, `cannot read the few-shot cache (${reasonOf(e, file)}); delete it to draw the subset again`);
  }
  if (json.format !== 'mpl-fewshot-v1') {
    throw fileError(file, 'not an mpl few-shot cache (format "mpl-fewshot-v1"); delete it to draw the subset again');
  }
  // Same entry format as a split file; reuse its checks (a dummy empty test list).
  const lists = parseSplit({ train: json.train, val: json.val, test: [] }, file, { requireLabelsInTrain: false });
  return {
    format: 'mpl-fewshot-v1',
    shots: Number(json.shots),
    seed: Number(json.seed),
    source: String(json.source),
    fingerprint: String(json.fingerprint),
    train: lists.train,
    val: lists.val,
  };
}
