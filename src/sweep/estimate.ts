/**
 * How long the unfinished runs of a sweep will take: images to train and to evaluate per run, divided by a
 * measured throughput. The measurement, best first:
 *   1. a finished seed of the same experiment: its own train_seconds + eval_seconds;
 *   2. `--throughput TRAIN[,EVAL]` (images per second), e.g. from `mpl bench train` on the target machine;
 *   3. the finished runs under the sweep's output folder: median training and evaluation images/s of the
 *      same method, backbone and precision (else of any method on that backbone);
 *   4. for ViT-B/16 only, the README's benchmark on a 2-core CPU, said so in the basis line.
 * Image counts: the benchmark datasets' published sizes (classes, test images; training = classes × shots,
 * base-to-new trains on the first ceil(n/2) classes), custom datasets are listed from disk.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadDataset } from '../data/dataset.js';
import { findResultFiles } from '../report/result-files.js';
import { learnsPrompts, methodDef } from '../prompting/methods/index.js';
import type { RunResult } from '../eval/results.js';
import type { RunConfig } from '../eval/run-config.js';
import { UserError } from '../util/errors.js';
import type { PlannedRun } from './expand.js';
import type { RunStatus } from './state.js';

/** Classes and test images of the benchmarks (CoOp's splits; the ImageNet variants' test sets). */
const SIZES: Record<string, { classes: number; test: number }> = {
  imagenet: { classes: 1000, test: 50000 },
  caltech101: { classes: 100, test: 2465 },
  oxford_pets: { classes: 37, test: 3669 },
  stanford_cars: { classes: 196, test: 8041 },
  oxford_flowers: { classes: 102, test: 2463 },
  food101: { classes: 101, test: 30300 },
  fgvc_aircraft: { classes: 100, test: 3333 },
  sun397: { classes: 397, test: 19850 },
  dtd: { classes: 47, test: 1692 },
  eurosat: { classes: 10, test: 8100 },
  ucf101: { classes: 101, test: 3783 },
  imagenet_v2: { classes: 1000, test: 10000 },
  imagenet_sketch: { classes: 1000, test: 50889 },
  imagenet_a: { classes: 200, test: 7500 },
  imagenet_r: { classes: 200, test: 30000 },
};

/** README, Benchmarks: ViT-B/16 on the project's 2-vCPU machine (MPL training, prompted evaluation). */
const REFERENCE = { train: 2.2, eval: 3.1, basis: 'ViT-B/16 on a 2-core CPU (README benchmarks: 2.2 img/s training, 3.1 img/s evaluation)' };

export interface Throughput {
  /** training images per second */
  train: number;
  /** evaluation images per second */
  eval: number;
}

export function parseThroughput(value: string): Throughput {
  const [t, e] = value.split(',').map((x) => Number(x.trim()));
  const ok = (x: number | undefined) => x !== undefined && Number.isFinite(x) && x > 0;
  if (!ok(t) || (e !== undefined && !ok(e)) || value.split(',').length > 2) {
    throw new UserError(`--throughput must be TRAIN[,EVAL] images per second (positive numbers), got '${value}'`);
  }
  return { train: t, eval: e ?? t };
}

/** Images trained (all epochs) and evaluated by one run; null when the dataset's size is unknown. */
function imageCounts(c: RunConfig, custom: Map<string, { perClass: number[]; test: number } | null>): { train: number; eval: number } | null {
  const size = (name: string): { perClass: number[]; test: number } | null => {
    const known = SIZES[name];
    if (known) return { perClass: Array(known.classes).fill(Infinity), test: known.test };
    return custom.get(c.root) ?? null;
  };
  const own = size(c.dataset_type);
  if (!own) return null;
  const classes = c.protocol === 'base2new' ? own.perClass.slice(0, Math.ceil(own.perClass.length / 2)) : own.perClass;
  const perEpoch = classes.reduce((s, n) => s + Math.min(n, c.shots), 0);
  const dropLast = perEpoch >= c.batch_size ? Math.floor(perEpoch / c.batch_size) * c.batch_size : perEpoch;
  let evalImages = own.test;
  for (const t of c.targets ?? []) {
    const s = SIZES[t];
    if (!s) return null;
    evalImages += s.test;
  }
  // images encoded without a gradient step, counted at the evaluation rate: Tip-Adapter's cache passes, the
  // linear probe's training features (both read every training image, no batch dropped)
  const passes = (c.method_options as Record<string, unknown>).cache_passes;
  const encodes = typeof passes === 'number' ? perEpoch * passes : methodDef(c.method).recipe.trainImages === 'evaluation' ? perEpoch : 0;
  return { train: !learnsPrompts(c.method) ? 0 : dropLast * c.epochs, eval: evalImages + encodes };
}

/** Class sizes of a custom dataset, listed from disk (null when it cannot be read). */
function customSize(c: RunConfig): { perClass: number[]; test: number } | null {
  try {
    const d = loadDataset(c.dataset_type, { root: c.root, shots: 0, checkFiles: false, cacheFewshot: 'read-only' });
    const perClass = d.classnames.map((_, label) => d.train.filter((x) => x.label === label).length);
    return { perClass, test: d.test.length };
  } catch {
    return null;
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Measured images/s per (method, backbone, precision) and per backbone, from finished runs under `out`. */
function measured(out: string): { exact: Map<string, Throughput>; backbone: Map<string, Throughput> } {
  const files = fs.existsSync(out) ? findResultFiles([out]) : [];
  const groups = new Map<string, { train: number[]; eval: number[] }>();
  const add = (key: string, train: number | null, ev: number | null) => {
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { train: [], eval: [] }));
    if (train) g.train.push(train);
    if (ev) g.eval.push(ev);
  };
  for (const f of files) {
    let r: RunResult;
    try {
      r = JSON.parse(fs.readFileSync(f, 'utf8')) as RunResult;
    } catch {
      continue;
    }
    const train = typeof r.train_images_per_s === 'number' && r.train_images_per_s > 0 ? r.train_images_per_s : null;
    const ev = typeof r.eval_images === 'number' && r.eval_seconds > 0 ? r.eval_images / r.eval_seconds : null;
    const precision = (r.config as Partial<RunConfig>)?.precision ?? 'fp32';
    add(`${r.method}|${r.backbone}|${precision}`, train, ev);
    add(`*|${r.backbone}|${precision}`, train, ev);
  }
  const reduce = (prefix: (k: string) => boolean) => {
    const m = new Map<string, Throughput>();
    for (const [k, g] of groups) if (prefix(k) && g.train.length && g.eval.length) m.set(k, { train: median(g.train), eval: median(g.eval) });
    return m;
  };
  return { exact: reduce((k) => !k.startsWith('*|')), backbone: reduce((k) => k.startsWith('*|')) };
}

/** The finished sibling seeds of a run (same experiment): their measured seconds. */
function siblingSeconds(run: PlannedRun): number | null {
  const dir = path.dirname(run.runDir);
  if (!fs.existsSync(dir)) return null;
  const secs: number[] = [];
  for (const seed of fs.readdirSync(dir)) {
    const f = path.join(dir, seed, 'result.json');
    if (!fs.existsSync(f)) continue;
    try {
      const r = JSON.parse(fs.readFileSync(f, 'utf8')) as RunResult;
      if (r.train_seconds >= 0 && r.eval_seconds >= 0) secs.push(r.train_seconds + r.eval_seconds);
    } catch {
      // not usable for an estimate
    }
  }
  return secs.length ? median(secs) : null;
}

export interface Estimate {
  /** seconds per run (0 for finished runs; null when unknown) */
  seconds: Array<number | null>;
  /** sum over the unfinished runs whose time is known */
  total: number;
  /** unfinished runs whose time could not be estimated */
  unknown: number;
  /** where the figures come from, one line each */
  basis: string[];
}

export function estimateRuns(runs: PlannedRun[], statuses: RunStatus[], out: string, throughput?: Throughput): Estimate {
  const custom = new Map<string, { perClass: number[]; test: number } | null>();
  for (const r of runs) {
    if (!SIZES[r.config.dataset_type] && !custom.has(r.config.root)) custom.set(r.config.root, customSize(r.config));
  }
  const m = measured(out);
  const basis = new Set<string>();
  const seconds = runs.map((run, i): number | null => {
    if (statuses[i].state === 'done') return 0;
    const sib = siblingSeconds(run);
    if (sib !== null) {
      basis.add('finished seeds of the same configuration');
      // a resumed sibling may have recorded almost no time; no run takes less than a second to start
      return Math.max(sib, 1);
    }
    const c = run.config;
    const counts = imageCounts(c, custom);
    if (!counts) return null;
    let tp: Throughput | undefined = throughput;
    if (tp) basis.add(`--throughput ${tp.train},${tp.eval} img/s`);
    else if ((tp = m.exact.get(`${c.method}|${c.backbone}|${c.precision}`))) basis.add(`finished ${c.method} runs under ${out}`);
    else if ((tp = m.backbone.get(`*|${c.backbone}|${c.precision}`))) basis.add(`finished runs of other methods on ${c.backbone} under ${out}`);
    else if (/^vit-?b\/?16$/i.test(c.backbone) && c.precision === 'fp32') {
      tp = REFERENCE;
      basis.add(REFERENCE.basis);
    }
    if (!tp) return null;
    return counts.train / tp.train + counts.eval / tp.eval;
  });
  const open = seconds.filter((s, i) => statuses[i].state !== 'done');
  return {
    seconds,
    total: open.reduce<number>((a, s) => a + (s ?? 0), 0),
    unknown: open.filter((s) => s === null).length,
    basis: [...basis],
  };
}

/** 45 s, 12 min, 3.4 h, 2.1 days. */
export function formatDuration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}
