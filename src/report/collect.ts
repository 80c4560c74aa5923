import { UserError } from '../util/errors.js';
import { canonicalJson, configDiff, describeDiff } from '../util/config.js';
import { harmonicMean, type Protocol, type RunResult } from '../eval/results.js';
import { backboneSlug, buildRunConfig, experimentOf, methodOptionsOf, settingOf, settingPath, type RunConfig } from '../eval/run-config.js';
import { percent } from '../util/format.js';
import { METHODS, methodDef, methodDefs, type MethodName } from '../prompting/methods/index.js';
import { sameDataset, sortDatasets, sortMethods } from './names.js';
import { isNum, isObj, loadResults, PROTOCOLS, type AccuracyProtocol, type LoadedResult } from './result-files.js';

/**
 * Building tables: aggregating the runs' results (read and validated by result-files.ts) the way the papers do
 * (spec/mpl-spec.md §2.5):
 *  - a number per dataset is the mean over seeds; its spread is the population std (numpy's np.std, ddof 0);
 *  - base-to-new HM per dataset is the HM of the seed-mean base and new accuracy (not the mean of per-seed HMs);
 *  - the "Average" over datasets is the mean of the dataset means for base and new, and its HM is the HM of
 *    those two averages (MaPLe: 2·82.28·75.14/(82.28+75.14) = 78.55), not the mean of per-dataset HMs.
 * Nothing here rounds: tables round for display only.
 */

export interface B2NTriple {
  base: number;
  new: number;
  hm: number;
}

export interface B2NSeed extends B2NTriple {
  seed: number;
  train_seconds: number;
  file: string;
}

/** One method on one dataset, base-to-new. */
export interface B2NCell {
  /** per-seed results, ascending seed */
  seeds: B2NSeed[];
  n_seeds: number;
  /** base and new: mean over seeds; hm: HM of mean.base and mean.new (the papers' rule) */
  mean: B2NTriple;
  /** population std over seeds (np.std); std.hm is the spread of the per-seed HMs */
  std: B2NTriple;
  /** mean of the per-seed HMs: for reference only, tables use mean.hm */
  mean_seed_hm: number;
  /** mean training wall-clock seconds over seeds */
  train_seconds: number;
  shots: number;
  backbone: string;
}

/** The "Average" column of a base-to-new table for one method. */
export interface B2NAverage extends B2NTriple {
  /** how many datasets were averaged, and which (a method missing some datasets is not comparable) */
  n_datasets: number;
  datasets: string[];
  /** mean over datasets of the per-dataset mean training seconds */
  train_seconds: number;
}

/** What every method row of a report starts with (base-to-new or accuracy). */
export interface MethodRowHead {
  /** the report key: the method name, or `method@variant` when the method has several settings (rowKeys) */
  key: string;
  method: string;
  /** the readable settings path of the row's configuration, e.g. `shots_16/mpl/vit_b16_c1_add2_rm1_d9_ep5` */
  tag: string;
  /** evaluated on a strided subset of at most this many test images per split; null: the full test split */
  test_subset: number | null;
  shots: number;
  backbone: string;
}

export interface B2NMethodReport extends MethodRowHead {
  /** dataset name → cell, in the papers' column order */
  datasets: Record<string, B2NCell>;
  average: B2NAverage;
}

export interface AccSeed {
  seed: number;
  accuracy: Record<string, number>;
  train_seconds: number;
  file: string;
}

/** One method trained on one (source) dataset, evaluated on one or more datasets. */
export interface AccCell {
  seeds: AccSeed[];
  n_seeds: number;
  /** evaluated dataset → mean / population std over the seeds that evaluated it, and how many did */
  mean: Record<string, number>;
  std: Record<string, number>;
  n: Record<string, number>;
  /** the evaluated dataset that is the training dataset itself (null when it was not evaluated) */
  source: string | null;
  /** mean[source], or null */
  source_accuracy: number | null;
  /** mean of mean[t] over every evaluated t except the source (Table III's "Avg"); null when there is none */
  target_average: number | null;
  train_seconds: number;
  shots: number;
  backbone: string;
}

export interface AccAverage {
  /** mean over training datasets of source_accuracy (in-domain accuracy: few-shot, zero-shot) */
  source: number | null;
  /** mean over training datasets of target_average (transfer accuracy: cross-dataset, DG) */
  targets: number | null;
  n_datasets: number;
  datasets: string[];
  train_seconds: number;
}

export interface AccMethodReport extends MethodRowHead {
  /** training (source) dataset → cell */
  datasets: Record<string, AccCell>;
  average: AccAverage;
}

export interface Report {
  /** the folders that were searched */
  sources: string[];
  /** how many result files were read */
  n_results: number;
  /** method key → report, in the papers' row order; a protocol with no results is absent */
  base2new?: Record<string, B2NMethodReport>;
  accuracy: Partial<Record<AccuracyProtocol, Record<string, AccMethodReport>>>;
}

// ---------------------------------------------------------------------------------------------------------
// Aggregation

/**
 * numpy's sum of a float64 array (np.add.reduce): pairwise summation, 8 running sums over blocks of 8 below
 * 128 values. Summing in numpy's order makes means and stds bit-identical to parse_test_res.py's np.mean and
 * np.std, so that a figure rounded to two decimals here and there is the same string.
 */
function numpySum(xs: readonly number[], lo = 0, n = xs.length): number {
  if (n < 8) {
    let s = 0;
    for (let i = 0; i < n; i++) s += xs[lo + i];
    return s;
  }
  if (n <= 128) {
    const r = xs.slice(lo, lo + 8);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += xs[lo + i + j];
    let s = (r[0] + r[1] + (r[2] + r[3])) + (r[4] + r[5] + (r[6] + r[7]));
    for (; i < n; i++) s += xs[lo + i];
    return s;
  }
  let half = Math.floor(n / 2);
  half -= half % 8;
  return numpySum(xs, lo, half) + numpySum(xs, lo + half, n - half);
}

/** The mean, as np.mean computes it. */
export function mean(xs: number[]): number {
  if (xs.length === 0) return NaN;
  return numpySum(xs) / xs.length;
}

/** Population standard deviation (divides by n), as np.std computes it and the papers' parse_test_res.py reports. */
export function populationStd(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const m = mean(xs);
  return Math.sqrt(numpySum(xs.map((x) => (x - m) * (x - m))) / xs.length);
}

/**
 * A per-seed accuracy as the run's log.txt prints it (Dassl's `* accuracy: 74.12%`, two decimals) and as
 * parse_test_res.py and the papers' spreadsheets read it back. Seeds enter every aggregate so; from there on
 * nothing is rounded until display.
 */
export function asLogged(x: number): number {
  return Number(percent(x));
}

/** What is shown for one base-to-new cell of seeds, everywhere (tables, the protocol summary, reports). */
export interface B2NStats {
  /** base and new: mean over seeds; hm: HM of mean.base and mean.new (the papers' rule) */
  mean: B2NTriple;
  /** population std over seeds; std.hm is the spread of the per-seed HMs (each seed's HM of its base and new) */
  std: B2NTriple;
  /** mean of the per-seed HMs: for reference only, never shown as the HM */
  mean_seed_hm: number;
}

/** The one base-to-new aggregation: per-seed values as logged, HM of the means, spreads over seeds. */
export function b2nStats(seeds: ReadonlyArray<{ base: number; new: number }>): B2NStats & { seeds: B2NTriple[] } {
  const logged = seeds.map((s) => {
    const base = asLogged(s.base);
    const novel = asLogged(s.new);
    return { base, new: novel, hm: harmonicMean(base, novel) };
  });
  const base = mean(logged.map((s) => s.base));
  const novel = mean(logged.map((s) => s.new));
  return {
    seeds: logged,
    mean: { base, new: novel, hm: harmonicMean(base, novel) },
    std: {
      base: populationStd(logged.map((s) => s.base)),
      new: populationStd(logged.map((s) => s.new)),
      hm: populationStd(logged.map((s) => s.hm)),
    },
    mean_seed_hm: mean(logged.map((s) => s.hm)),
  };
}

/** How the spread beside each figure is named, wherever it is shown. */
export const SPREAD_NAME = 'population std over seeds';
export const HM_RULE = "HM = harmonic mean of the mean base and mean new accuracy (the papers' rule)";
export const HM_SPREAD = 'for HM: of the per-seed HMs';

/** A result's configuration when it is a full one (written by this version); null for older files. */
function runConfigOf(r: RunResult): RunConfig | null {
  const c = r.config as Partial<RunConfig> | undefined;
  const ok =
    isObj(c) && typeof c.dataset_type === 'string' && isObj(c.method_options) && typeof c.method === 'string' &&
    isNum(c.epochs) && isNum(c.lr) && isNum(c.batch_size) && typeof c.backbone === 'string' && typeof c.precision === 'string';
  return ok ? (c as RunConfig) : null;
}

/** What a row is made of: the setting (everything but dataset and seed), its fields, its tag. */
interface SettingInfo {
  /** canonical JSON of the setting: results with equal settings may share a row */
  setting: string;
  /** canonical JSON of the experiment: results with equal experiments may share a cell */
  experiment: string;
  /** the experiment as an object, to name differences */
  experimentValue: unknown;
  /** the setting's fields, flat (method options and warm-up spelled out): what row names are made of */
  fields: Record<string, unknown>;
  /** the same fields of the default configuration (official recipe, fp32, full test, ...), when known */
  defaults: Record<string, unknown> | null;
  /** words that name the row whatever else is in the table (MethodDef.rowMarks: `test-selected`) */
  marks?: string[];
  tag: string;
  /** evaluated on a strided subset of at most this many test images per split (null: the full test split) */
  testSubset: number | null;
}

const findMethodDef = (name: string) => methodDefs().find((d) => d.name === name);

/** A configuration's setting as flat fields: `depth` for method_options.depth, `warmup_lr` for warmup.lr. */
function flatSetting(c: RunConfig): Record<string, unknown> {
  const { method_options: options, warmup, ...rest } = settingOf(c) as Record<string, unknown> & { method_options: Record<string, unknown>; warmup: Record<string, unknown> };
  const out: Record<string, unknown> = { ...rest, augment: c.augment ?? true, max_test_images: c.max_test_images ?? null };
  for (const [k, v] of Object.entries(warmup ?? {})) out[`warmup_${k}`] = v;
  // the options the method takes (a run records every option, derived and unused ones too)
  const def = findMethodDef(c.method);
  const takes = def ? new Set((def.options as readonly string[]).map((k) => k.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`))) : null;
  for (const [k, v] of Object.entries(options ?? {})) if (!takes || takes.has(k)) out[k] = v;
  // a per-layer schedule replaces the uniform add/remove counts: those are not settings of such a run
  if (options?.schedule) {
    delete out.n_add;
    delete out.n_rm;
  }
  return out;
}

function settingInfo(r: RunResult): SettingInfo {
  const c = runConfigOf(r);
  if (c) {
    const experiment = experimentOf(c);
    let defaults: Record<string, unknown> | null = null;
    try {
      defaults = flatSetting(buildRunConfig({ protocol: c.protocol, dataset: c.dataset_type, root: c.root, method: c.method, seed: c.seed, shots: c.shots, backbone: c.backbone }));
    } catch {
      defaults = null; // a method or dataset this version does not know
    }
    return {
      setting: canonicalJson(settingOf(c)),
      experiment: canonicalJson(experiment),
      experimentValue: experiment,
      fields: flatSetting(c),
      defaults,
      marks: (METHODS as readonly string[]).includes(c.method) ? (methodDef(c.method as MethodName).rowMarks?.(methodOptionsOf(c)) ?? []) : [],
      tag: r.tag ?? settingPath(c),
      // marked only when the limit cut a split (older files, without eval_subset: whenever a limit was set)
      testSubset: r.eval_subset === false ? null : (c.max_test_images ?? null),
    };
  }
  // Older result files record only shots and backbone: those are what can be told apart.
  const setting = { method: r.method, shots: r.shots, backbone: r.backbone };
  const experiment = { ...setting, dataset: r.dataset };
  return {
    setting: canonicalJson(setting),
    experiment: canonicalJson(experiment),
    experimentValue: experiment,
    fields: { shots: r.shots, backbone: r.backbone },
    defaults: null,
    tag: r.tag ?? `shots_${r.shots}/${r.method}`,
    testSubset: null,
  };
}

/** Fields a row name never leaves out at their default: what a reader needs to tell rows apart first. */
const ALWAYS_NAMED = new Set(['shots', 'backbone']);

/** How one setting reads in a row name: the tag's words where it has one (d3, 16shot, lr0.01), else key=value. */
export function settingWord(key: string, v: unknown): string {
  const short: Record<string, string> = { n_ctx: 'c', n_add: 'add', n_rm: 'rm', depth: 'd', depth_text: 'dt', depth_vision: 'dv', n_ctx_vision: 'v', epochs: 'ep', lr: 'lr', batch_size: 'bs' };
  if (key in short && typeof v === 'number') return `${short[key]}${v}`;
  if (key === 'shots') return `${String(v)}shot`;
  if (key === 'backbone') return backboneSlug(String(v));
  if (key === 'precision') return String(v);
  if (key === 'augment') return v === false ? 'noaug' : 'aug';
  if (key === 'max_test_images') return v === null ? 'full test' : `test≤${String(v)}`;
  if (key === 'csc') return v ? 'csc' : 'no csc';
  if (key === 'ensemble') return v ? 'ensemble' : 'single';
  if (key === 'schedule') return v === null ? 'no schedule' : `schedule ${String(v)}`;
  return `${key}=${typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v ?? null)}`;
}

/**
 * The row key of every result. A row only ever holds one configuration. Runs of one protocol and method
 * with a single setting are one row keyed by the method name; when there are several, each is named by the
 * settings that differ between them (`mpl@d3`, `coop@4shot`, `mpl@lr0.01`, `mpl@ctx_init="a picture of a"`):
 * settings at their default value are left out when the others still tell the rows apart (the row with none
 * left keeps the plain method name), else every differing setting is named with its value.
 */
function rowKeys(results: LoadedResult[], infos: SettingInfo[]): string[] {
  const settings = new Map<string, Map<string, SettingInfo>>(); // protocol+method → setting → info
  results.forEach(({ result: r }, i) => {
    const id = `${r.protocol}\u0000${r.method}`;
    if (!settings.has(id)) settings.set(id, new Map());
    settings.get(id)!.set(infos[i].setting, infos[i]);
  });
  const keyOf = new Map<string, string>(); // protocol+method+setting → key
  for (const [id, bySetting] of settings) {
    const method = id.split('\u0000')[1];
    const all = [...bySetting.values()];
    if (all.length === 1 && !all[0].marks?.length) {
      keyOf.set(`${id}\u0000${all[0].setting}`, method);
      continue;
    }
    const keys = [...new Set(all.flatMap((x) => Object.keys(x.fields)))].sort(settingOrder);
    const differing = keys.filter((k) => new Set(all.map((x) => canonicalJson(x.fields[k] ?? null))).size > 1);
    const words = (x: SettingInfo, skipDefaults: boolean) =>
      differing
        .filter((k) => k in x.fields)
        .filter((k) => !(skipDefaults && !ALWAYS_NAMED.has(k) && x.defaults && k in x.defaults && canonicalJson(x.defaults[k]) === canonicalJson(x.fields[k])))
        .map((k) => settingWord(k, x.fields[k]))
        .join(',');
    let variants = all.map((x) => words(x, true));
    const distinct = new Set(variants).size === variants.length;
    if (!distinct) variants = all.map((x) => words(x, false));
    all.forEach((x, k) => {
      // a mark (Tip-Adapter-F selected on the test set) names the row even when nothing else differs
      const v = [...(x.marks ?? []), variants[k]].filter(Boolean).join(',');
      keyOf.set(`${id}\u0000${x.setting}`, v ? `${method}@${v}` : method);
    });
  }
  return results.map(({ result: r }, i) => keyOf.get(`${r.protocol}\u0000${r.method}\u0000${infos[i].setting}`)!);
}

/** Row names list settings in the order of the tag: shots, backbone, method options, epochs, then the rest. */
const ORDER = ['shots', 'backbone', 'n_ctx', 'n_ctx_vision', 'n_add', 'n_rm', 'schedule', 'depth', 'depth_text', 'depth_vision', 'csc', 'class_token_position', 'ctx_init', 'template', 'ensemble', 'epochs', 'batch_size', 'lr', 'precision', 'augment', 'max_test_images'];
function settingOrder(a: string, b: string): number {
  const ia = ORDER.indexOf(a) < 0 ? ORDER.length : ORDER.indexOf(a);
  const ib = ORDER.indexOf(b) < 0 ? ORDER.length : ORDER.indexOf(b);
  return ia - ib || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Groups results by protocol / row key / dataset, with seeds ascending. A cell only ever aggregates seeds of
 * one experiment: two files for the same seed, or two experiments in one cell (two image folders both named
 * `imagefolder`), are errors naming the files, since silently picking or mixing would hide a mistake.
 */
function group(results: LoadedResult[]): { grouped: Map<Protocol, Map<string, Map<string, LoadedResult[]>>>; tags: Map<string, { tag: string; testSubset: number | null }> } {
  const infos = results.map((lr) => settingInfo(lr.result));
  const keys = rowKeys(results, infos);
  const tags = new Map<string, { tag: string; testSubset: number | null }>();
  const out = new Map<Protocol, Map<string, Map<string, LoadedResult[]>>>();
  const cellExperiment = new Map<LoadedResult[], { info: SettingInfo; file: string }>();
  results.forEach((lr, i) => {
    const r = lr.result;
    // a row is marked when any of its evaluations used a subset
    const seen = tags.get(`${r.protocol}\u0000${keys[i]}`);
    tags.set(`${r.protocol}\u0000${keys[i]}`, { tag: infos[i].tag, testSubset: seen?.testSubset ?? infos[i].testSubset });
    let byMethod = out.get(r.protocol);
    if (!byMethod) out.set(r.protocol, (byMethod = new Map()));
    let byDataset = byMethod.get(keys[i]);
    if (!byDataset) byMethod.set(keys[i], (byDataset = new Map()));
    let runs = byDataset.get(r.dataset);
    if (!runs) {
      byDataset.set(r.dataset, (runs = []));
      cellExperiment.set(runs, { info: infos[i], file: lr.file });
    }
    const first = cellExperiment.get(runs)!;
    if (first.info.experiment !== infos[i].experiment) {
      throw new UserError(
        `${first.file} and ${lr.file} are different configurations of ${r.protocol} ${keys[i]} on ${r.dataset} ` +
          `(${describeDiff(configDiff(first.info.experimentValue, infos[i].experimentValue))}); give custom datasets distinct --name`,
      );
    }
    const dup = runs.find((x) => x.result.seed === r.seed);
    if (dup) {
      throw new UserError(
        `two results for ${r.protocol} ${keys[i]} ${r.dataset} seed ${r.seed}: ${dup.file} and ${lr.file}`,
      );
    }
    runs.push(lr);
  });
  for (const byMethod of out.values()) {
    for (const byDataset of byMethod.values()) {
      for (const runs of byDataset.values()) runs.sort((a, b) => a.result.seed - b.result.seed);
    }
  }
  return { grouped: out, tags };
}

function b2nCell(runs: LoadedResult[]): B2NCell {
  const stats = b2nStats(runs.map(({ result: r }) => ({ base: r.base!, new: r.new! })));
  const seeds: B2NSeed[] = runs.map(({ file, result: r }, i) => ({
    seed: r.seed,
    ...stats.seeds[i],
    train_seconds: r.train_seconds,
    file,
  }));
  return {
    seeds,
    n_seeds: seeds.length,
    mean: stats.mean,
    std: stats.std,
    mean_seed_hm: stats.mean_seed_hm,
    train_seconds: mean(seeds.map((s) => s.train_seconds)),
    shots: runs[0].result.shots,
    backbone: runs[0].result.backbone,
  };
}

function accCell(dataset: string, runs: LoadedResult[]): AccCell {
  const seeds: AccSeed[] = runs.map(({ file, result: r }) => ({
    seed: r.seed,
    accuracy: Object.fromEntries(Object.entries(r.accuracy!).map(([k, v]) => [k, asLogged(v)])),
    train_seconds: r.train_seconds,
    file,
  }));
  const targets = sortDatasets(new Set(seeds.flatMap((s) => Object.keys(s.accuracy))));
  const meanBy: Record<string, number> = {};
  const stdBy: Record<string, number> = {};
  const nBy: Record<string, number> = {};
  for (const t of targets) {
    const xs = seeds.filter((s) => t in s.accuracy).map((s) => s.accuracy[t]);
    meanBy[t] = mean(xs);
    stdBy[t] = populationStd(xs);
    nBy[t] = xs.length;
  }
  const source = targets.find((t) => sameDataset(t, dataset)) ?? null;
  const others = targets.filter((t) => t !== source);
  return {
    seeds,
    n_seeds: seeds.length,
    mean: meanBy,
    std: stdBy,
    n: nBy,
    source,
    source_accuracy: source === null ? null : meanBy[source],
    target_average: others.length ? mean(others.map((t) => meanBy[t])) : null,
    train_seconds: mean(seeds.map((s) => s.train_seconds)),
    shots: runs[0].result.shots,
    backbone: runs[0].result.backbone,
  };
}

const nullableMean = (xs: Array<number | null>): number | null => {
  const ys = xs.filter((x): x is number => x !== null);
  return ys.length ? mean(ys) : null;
};

const tagOf = (t: { tag: string; testSubset: number | null }) => ({ tag: t.tag, test_subset: t.testSubset });

/** Aggregates loaded results; `sources` is recorded in the report as given. */
export function aggregate(results: LoadedResult[], sources: string[] = []): Report {
  const report: Report = { sources, n_results: results.length, accuracy: {} };
  const { grouped, tags } = group(results);
  // what every method row starts with: its key and tag, the method, shots and backbone of its first run
  const rowHead = (protocol: Protocol, key: string, byDataset: Map<string, LoadedResult[]>): MethodRowHead => {
    const first = byDataset.values().next().value![0].result;
    return { key, method: first.method, ...tagOf(tags.get(`${protocol}\u0000${key}`)!), shots: first.shots, backbone: first.backbone };
  };
  for (const protocol of PROTOCOLS) {
    const byMethod = grouped.get(protocol);
    if (!byMethod) continue;
    if (protocol === 'base2new') {
      const methods: Record<string, B2NMethodReport> = {};
      for (const key of sortMethods(byMethod.keys())) {
        const byDataset = byMethod.get(key)!;
        const datasets: Record<string, B2NCell> = {};
        for (const d of sortDatasets(byDataset.keys())) datasets[d] = b2nCell(byDataset.get(d)!);
        const cells = Object.values(datasets);
        const base = mean(cells.map((c) => c.mean.base));
        const novel = mean(cells.map((c) => c.mean.new));
        methods[key] = {
          ...rowHead(protocol, key, byDataset),
          datasets,
          average: {
            base,
            new: novel,
            hm: harmonicMean(base, novel), // HM of the averages (spec §2.5), not the mean of the HMs
            n_datasets: cells.length,
            datasets: Object.keys(datasets),
            train_seconds: mean(cells.map((c) => c.train_seconds)),
          },
        };
      }
      report.base2new = methods;
    } else {
      const methods: Record<string, AccMethodReport> = {};
      for (const key of sortMethods(byMethod.keys())) {
        const byDataset = byMethod.get(key)!;
        const datasets: Record<string, AccCell> = {};
        for (const d of sortDatasets(byDataset.keys())) datasets[d] = accCell(d, byDataset.get(d)!);
        const cells = Object.values(datasets);
        methods[key] = {
          ...rowHead(protocol, key, byDataset),
          datasets,
          average: {
            source: nullableMean(cells.map((c) => c.source_accuracy)),
            targets: nullableMean(cells.map((c) => c.target_average)),
            n_datasets: cells.length,
            datasets: Object.keys(datasets),
            train_seconds: mean(cells.map((c) => c.train_seconds)),
          },
        };
      }
      report.accuracy[protocol] = methods;
    }
  }
  return report;
}

/** Finds, validates and aggregates every result under the folders; `protocol` keeps only that protocol. */
export function collect(dirs: string[], options: { protocol?: Protocol } = {}): Report {
  let results = loadResults(dirs);
  if (options.protocol) {
    const p = options.protocol;
    results = results.filter((r) => r.result.protocol === p);
    if (results.length === 0) throw new UserError(`no ${p} results under ${dirs.join(', ')}`);
  }
  return aggregate(results, dirs);
}

/** Parses a --protocol value. */
export function parseProtocol(value: string): Protocol {
  if (!PROTOCOLS.includes(value as Protocol)) {
    throw new UserError(`--protocol: unknown protocol '${value}' (${PROTOCOLS.join(', ')})`);
  }
  return value as Protocol;
}

/** The protocols present in a report, in the fixed order base2new, xd, dg, fewshot, zeroshot. */
export function reportProtocols(report: Report): Protocol[] {
  return PROTOCOLS.filter((p) => (p === 'base2new' ? report.base2new : report.accuracy[p]) !== undefined);
}

// ---------------------------------------------------------------------------------------------------------
// The JSON interface of `mpl table --json` (documented in docs/reports.md)

export const REPORT_SCHEMA = 'mpl-report/1';

/**
 * The report as `mpl table --json` prints it: one key per protocol present, each
 * `{ "<method>": { "<dataset>": cell, ..., "average": {...}, "tag": "shots_16/mpl/..." } }`, where a base-to-new cell is
 * `{ seeds: [{seed, base, new, hm, train_seconds, file}], n_seeds, mean: {base,new,hm}, std: {base,new,hm},
 * mean_seed_hm, train_seconds, shots, backbone }`. Datasets and methods keep the papers' order.
 */
export function reportToJson(report: Report): Record<string, unknown> {
  const out: Record<string, unknown> = {
    schema: REPORT_SCHEMA,
    sources: report.sources,
    n_results: report.n_results,
  };
  const flatten = (methods: Record<string, { datasets: Record<string, unknown>; average: unknown; tag: string; test_subset: number | null }>) => {
    const o: Record<string, unknown> = {};
    for (const [key, m] of Object.entries(methods)) o[key] = { ...m.datasets, average: m.average, tag: m.tag, test_subset: m.test_subset };
    return o;
  };
  if (report.base2new) out.base2new = flatten(report.base2new);
  for (const p of PROTOCOLS) {
    if (p === 'base2new') continue;
    const m = report.accuracy[p];
    if (m) out[p] = flatten(m);
  }
  return out;
}
