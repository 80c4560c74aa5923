/**
 * Sweep files: a grid of protocol runs in YAML or JSON, expanded into one `mpl` command per run, each with
 * the folder the run-identity scheme gives it (src/eval/run-config.ts). Paths in the file are relative to
 * the file's folder.
 *
 *   out: runs                     # required
 *   weights: clip.safetensors     # or  model: ViT-B/16
 *   root: ~/data                  # CoOp's data folder, for the benchmark datasets
 *   protocol: base2new            # or a list: [base2new, fewshot]
 *   datasets: [eurosat, dtd, { name: flowers, root: ./my_flowers }]   # {name, root}: your image folder
 *   methods: [coop, { name: mpl, options: { depth: [3, 9] } }]        # entries may override anything
 *   seeds: [1, 2, 3]
 *   shots: 16                     # a list makes a grid (few-shot: default 1, 2, 4, 8, 16)
 *   options: { n-ctx: 1 }         # method flags by their CLI names; a list makes a grid
 *   epochs: 5                     # also lr, batch-size, momentum, weight-decay, warmup-epochs, warmup-lr,
 *                                 # precision (a list makes a grid), device, targets, workers (src/eval/run-settings.ts)
 *   overrides:                    # settings for some runs only (after the grid is expanded)
 *     - { when: { method: coop, dataset: imagenet }, set: { epochs: 50 } }
 *   slurm: { partition: gpu, gres: "gpu:1", cpus-per-task: 8, mem: 32G, time: "12:00:00" }   # checked: slurm-settings.ts
 *
 * Every key is checked; an unknown key or a wrong type is an error that names the file and the key. This file
 * reads and checks (file → Sweep); ./expand.ts expands the checked grid into runs (Sweep → PlannedRun[]).
 */
import * as path from 'node:path';
import * as os from 'node:os';
import { getDataset } from '../data/datasets/index.js';
import type { Protocol } from '../eval/results.js';
import { RUN_RANGES, RUN_SETTINGS, type GivenRunSettings } from '../eval/run-settings.js';
import { OPTION_SPECS, checkMethod, type MethodName } from '../prompting/methods/index.js';
import { printable, UserError } from '../util/errors.js';
import { readConfigText } from '../util/parse.js';
import { inRange, rangeText, type Range } from '../util/range.js';
import { SLURM_KEYS, checkCpusPerTask, checkSbatchArg, checkSlurmValue, type SlurmSettings } from './slurm-settings.js';

export const SWEEP_PROTOCOLS: readonly Protocol[] = ['base2new', 'xd', 'dg', 'fewshot'];

export type OptionValue = string | number | boolean;

/**
 * Settings that the top level, a dataset entry, a method entry and an override may all set: the run settings
 * a sweep takes (the settings table's `sweep` rows, src/eval/run-settings.ts: one value each, or a list for
 * the grid dimensions seeds, shots and precision), the device, method options and targets.
 */
export interface Settings extends Omit<GivenRunSettings, 'seeds' | 'shots' | 'precision'> {
  seeds?: number[];
  shots?: number[];
  precision?: string[];
  device?: string;
  options?: Record<string, OptionValue[]>;
  targets?: string[];
}

export interface DatasetEntry extends Settings {
  /** the dataset reader's CLI name */
  dataset: string;
  /** --name of a custom dataset */
  name?: string;
  root?: string;
}

export interface MethodEntry extends Settings {
  method: MethodName;
}

export interface Override {
  when: { protocol?: string; dataset?: string; method?: string; shots?: number; precision?: string; seed?: number };
  set: Settings;
}

export type { SlurmSettings } from './slurm-settings.js';

export interface Sweep {
  /** where the sweep came from (a file path, or `mpl reproduce table2`) */
  origin: string;
  /** a short name: the file's base name or the preset's; names the sweep's state folder */
  name: string;
  out: string;
  weights?: string;
  model?: string;
  root?: string;
  protocols: Protocol[];
  datasets: DatasetEntry[];
  methods: MethodEntry[];
  top: Settings;
  overrides: Override[];
  skipBadImages: boolean;
  allowGeneratedSplit: boolean;
  slurm: SlurmSettings;
}

// ---------------------------------------------------------------------------------------------------------
// Reading and checking

class Checker {
  constructor(readonly origin: string) {}
  fail(where: string, what: string): never {
    // values from the file are in the message: control characters escaped, so it stays one line
    throw new UserError(printable(`${this.origin}: ${where ? `${where}: ` : ''}${what}`));
  }
  obj(v: unknown, where: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(where, 'expected a mapping of keys to values');
    return v as Record<string, unknown>;
  }
  keys(o: Record<string, unknown>, allowed: readonly string[], where: string): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.fail(where, `unknown key '${k}' (known: ${allowed.join(', ')})`);
    }
  }
  str(v: unknown, where: string): string {
    if (typeof v !== 'string' || v === '') this.fail(where, `expected a non-empty string, got ${JSON.stringify(v)}`);
    return v as string;
  }
  int(v: unknown, where: string, min = 0): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) this.fail(where, `expected an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    return v as number;
  }
  /** A number in a stated range (the settings table's ranges, the options table): the refusal states it. */
  ranged(v: unknown, where: string, r: Range, integer: boolean): number {
    if (typeof v !== 'number' || !inRange(v, r, integer)) this.fail(where, `expected ${rangeText(r, integer)}, got ${JSON.stringify(v)}`);
    return v as number;
  }
  bool(v: unknown, where: string): boolean {
    if (typeof v !== 'boolean') this.fail(where, `expected true or false, got ${JSON.stringify(v)}`);
    return v as boolean;
  }
  /** A value or a list of values (a grid dimension); at least one, no repeats. */
  list<T>(v: unknown, where: string, each: (x: unknown, w: string) => T): T[] {
    const xs = Array.isArray(v) ? v : [v];
    if (xs.length === 0) this.fail(where, 'expected at least one value');
    const out = xs.map((x, i) => each(x, Array.isArray(v) ? `${where}[${i}]` : where));
    const seen = new Set(out.map((x) => JSON.stringify(x)));
    if (seen.size !== out.length) this.fail(where, 'lists a value twice');
    return out;
  }
}

/** The run settings of sweep files: grid dimensions (a list makes a grid) and settings of one value. */
const GRID_SETTINGS = RUN_SETTINGS.filter((r) => r.sweep === 'grid');
const ONE_SETTINGS = RUN_SETTINGS.filter((r) => r.sweep === 'one');
const SETTING_KEYS = [...RUN_SETTINGS.filter((r) => r.sweep).map((r) => r.flag!), 'device', 'options', 'targets'];
const TOP_KEYS = ['out', 'weights', 'model', 'root', 'protocol', 'datasets', 'methods', 'overrides', 'slurm', 'skip-bad-images', 'allow-generated-split', ...SETTING_KEYS];
const SLURM_FILE_KEYS = [...SLURM_KEYS.map((k) => k.sweepKey), 'cpus-per-task', 'sbatch-args'];

/** Runs a check that names the key itself; its error gets the file's name in front. */
function inFile<T>(c: Checker, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof UserError && !e.message.startsWith(`${c.origin}: `)) throw new UserError(`${c.origin}: ${e.message}`);
    throw e;
  }
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

function settingsFrom(c: Checker, o: Record<string, unknown>, where: string): Settings {
  const at = (k: string) => (where ? `${where}.${k}` : k);
  const s: Settings = {};
  // "1,2,3" as on the command line, or a YAML list
  const ints = (v: unknown) => (typeof v === 'string' && /^\s*\d+(\s*,\s*\d+)*\s*$/.test(v) ? v.split(',').map(Number) : v);
  for (const r of GRID_SETTINGS) {
    const v = o[r.flag!];
    if (v === undefined) continue;
    const values =
      r.kind === 'choice'
        ? c.list(v, at(r.flag!), (x, w) => {
            const given = c.str(x, w);
            return r.choices!.includes(given) ? given : c.fail(w, `must be one of ${r.choices!.join(', ')}, got '${given}'`);
          })
        : c.list(ints(v), at(r.flag!), (x, w) => c.ranged(x, w, r.range ?? {}, true));
    (s as Record<string, unknown>)[r.key] = values;
  }
  for (const r of ONE_SETTINGS) {
    if (o[r.flag!] !== undefined) (s as Record<string, unknown>)[r.key] = c.ranged(o[r.flag!], at(r.flag!), r.range ?? {}, r.kind === 'int');
  }
  if (o.device !== undefined) {
    if (Array.isArray(o.device)) c.fail(at('device'), 'one device only: the device is not part of a run\'s identity, so a list would make the same run twice');
    s.device = c.str(o.device, at('device'));
  }
  if (o.targets !== undefined) s.targets = c.list(o.targets, at('targets'), (x, w) => knownDataset(c, c.str(x, w), w));
  if (o.options !== undefined) {
    const opts = c.obj(o.options, at('options'));
    s.options = {};
    for (const [given, v] of Object.entries(opts)) {
      const flag = given.replace(/^--/, ''); // `depth` or `--depth`
      const def = OPTION_SPECS.find((f) => f.flag === flag);
      if (!def) c.fail(at(`options.${flag}`), `unknown method flag (known: ${OPTION_SPECS.map((f) => f.flag).join(', ')})`);
      s.options[flag] = c.list(v, at(`options.${flag}`), (x, w): OptionValue => {
        switch (def!.kind) {
          case 'int':
            return c.ranged(x, w, def!.range ?? { min: 0 }, true);
          case 'number':
            return c.ranged(x, w, def!.range ?? { min: 0, exclusiveMin: true }, false);
          case 'boolean':
            return c.bool(x, w);
          case 'choice':
            if (typeof x !== 'string' || !def!.choices!.includes(x)) c.fail(w, `expected one of ${def!.choices!.join(', ')}, got ${JSON.stringify(x)}`);
            return x as string;
          default:
            if (typeof x !== 'string') c.fail(w, `expected a string, got ${JSON.stringify(x)}`);
            return x as string;
        }
      });
    }
  }
  return s;
}

function knownDataset(c: Checker, name: string, where: string): string {
  try {
    return getDataset(name).name;
  } catch (e) {
    return c.fail(where, (e as Error).message);
  }
}

function datasetEntry(c: Checker, v: unknown, where: string, dir: string): DatasetEntry {
  if (typeof v === 'string') return { dataset: knownDataset(c, v, where) };
  const o = c.obj(v, where);
  c.keys(o, ['name', 'root', 'dataset', ...SETTING_KEYS], where);
  const name = c.str(o.name, `${where}.name`);
  const root = o.root === undefined ? undefined : path.resolve(dir, expandHome(c.str(o.root, `${where}.root`)));
  let dataset: string;
  let customName: string | undefined;
  if (o.dataset !== undefined) {
    dataset = knownDataset(c, c.str(o.dataset, `${where}.dataset`), `${where}.dataset`);
    if (getDataset(dataset).dirName === undefined) customName = name;
  } else {
    let known: string | undefined;
    try {
      known = getDataset(name).name;
    } catch {
      known = undefined;
    }
    if (known && getDataset(known).dirName !== undefined) dataset = known;
    else {
      // your own data: {name, root} with root a folder (imagefolder) or a JSON list (jsonlist)
      if (!root) c.fail(where, `'${name}' is not a benchmark dataset: give its root (an image folder or a JSON list)`);
      dataset = root.endsWith('.json') ? 'jsonlist' : 'imagefolder';
      customName = known ? undefined : name;
    }
  }
  if (getDataset(dataset).dirName === undefined && !root) c.fail(where, `${dataset} needs a root`);
  return { ...settingsFrom(c, o, where), dataset, name: customName, root };
}

function methodEntry(c: Checker, v: unknown, where: string): MethodEntry {
  const named = (n: unknown, w: string): MethodName => {
    try {
      return checkMethod(c.str(n, w));
    } catch (e) {
      return c.fail(w, (e as Error).message);
    }
  };
  if (typeof v === 'string') return { method: named(v, where) };
  const o = c.obj(v, where);
  c.keys(o, ['name', ...SETTING_KEYS], where);
  return { ...settingsFrom(c, o, where), method: named(o.name, `${where}.name`) };
}

function overrideEntry(c: Checker, v: unknown, where: string): Override {
  const o = c.obj(v, where);
  c.keys(o, ['when', 'set'], where);
  const w = c.obj(o.when, `${where}.when`);
  c.keys(w, ['protocol', 'dataset', 'method', 'shots', 'precision', 'seed'], `${where}.when`);
  const when: Override['when'] = {};
  if (w.protocol !== undefined) when.protocol = c.str(w.protocol, `${where}.when.protocol`);
  if (w.dataset !== undefined) when.dataset = c.str(w.dataset, `${where}.when.dataset`);
  if (w.method !== undefined) when.method = checkMethod(c.str(w.method, `${where}.when.method`));
  if (w.shots !== undefined) when.shots = c.ranged(w.shots, `${where}.when.shots`, RUN_RANGES.shots, true);
  if (w.precision !== undefined) when.precision = c.str(w.precision, `${where}.when.precision`);
  if (w.seed !== undefined) when.seed = c.ranged(w.seed, `${where}.when.seed`, RUN_RANGES.seed, true);
  const setObj = c.obj(o.set, `${where}.set`);
  c.keys(
    setObj,
    SETTING_KEYS.filter((k) => !GRID_SETTINGS.some((r) => r.flag === k)),
    `${where}.set`,
  );
  const set = settingsFrom(c, setObj, `${where}.set`);
  for (const [flag, values] of Object.entries(set.options ?? {})) {
    if (values.length > 1) c.fail(`${where}.set.options.${flag}`, 'an override sets one value (grids belong to the entries)');
  }
  return { when, set };
}

/** Checks a sweep given as plain data (a parsed file or a preset); `dir` resolves relative paths. */
export function sweepFromObject(raw: unknown, origin: string, name: string, dir: string): Sweep {
  const c = new Checker(origin);
  const o = c.obj(raw, '');
  c.keys(o, TOP_KEYS, '');
  if (o.weights !== undefined && o.model !== undefined) c.fail('', 'give weights or model, not both');
  if (o.weights === undefined && o.model === undefined) c.fail('', 'give weights (a CLIP weights file) or model (e.g. ViT-B/16)');
  const protocols = c.list(o.protocol ?? c.fail('', "missing key 'protocol' (base2new, xd, dg or fewshot)"), 'protocol', (x, w) => {
    const p = c.str(x, w);
    if (!(SWEEP_PROTOCOLS as readonly string[]).includes(p)) c.fail(w, `unknown protocol '${p}' (${SWEEP_PROTOCOLS.join(', ')})`);
    return p as Protocol;
  });
  const needList = (k: string): unknown[] => {
    const v = o[k] ?? c.fail('', `missing key '${k}'`);
    return Array.isArray(v) ? v : [v];
  };
  const slurmRaw = o.slurm === undefined ? {} : c.obj(o.slurm, 'slurm');
  c.keys(slurmRaw, SLURM_FILE_KEYS, 'slurm');
  // every value is checked against what SLURM accepts (it becomes an #SBATCH directive), named by its key
  const slurm: SlurmSettings = {};
  for (const k of SLURM_KEYS) {
    const v = slurmRaw[k.sweepKey];
    if (v !== undefined) slurm[k.key] = inFile(c, () => checkSlurmValue(k.key, c.str(typeof v === 'number' ? String(v) : v, `slurm.${k.sweepKey}`), `slurm.${k.sweepKey}`));
  }
  if (slurmRaw['cpus-per-task'] !== undefined) slurm.cpusPerTask = inFile(c, () => checkCpusPerTask(c.int(slurmRaw['cpus-per-task'], 'slurm.cpus-per-task', 1), 'slurm.cpus-per-task'));
  if (slurmRaw['sbatch-args'] !== undefined) {
    slurm.sbatchArgs = c.list(slurmRaw['sbatch-args'], 'slurm.sbatch-args', (x, w) => inFile(c, () => (checkSbatchArg(c.str(x, w), w), x as string)));
  }
  const sweep: Sweep = {
    origin,
    name,
    out: path.resolve(dir, expandHome(c.str(o.out ?? c.fail('', "missing key 'out' (the output folder)"), 'out'))),
    weights: o.weights === undefined ? undefined : path.resolve(dir, expandHome(c.str(o.weights, 'weights'))),
    model: o.model === undefined ? undefined : c.str(o.model, 'model'),
    root: o.root === undefined ? undefined : path.resolve(dir, expandHome(c.str(o.root, 'root'))),
    protocols,
    datasets: needList('datasets').map((d, i) => datasetEntry(c, d, `datasets[${i}]`, dir)),
    methods: needList('methods').map((m, i) => methodEntry(c, m, `methods[${i}]`)),
    top: settingsFrom(c, o, ''),
    overrides: o.overrides === undefined ? [] : (Array.isArray(o.overrides) ? o.overrides : c.fail('overrides', 'expected a list')).map((v, i) => overrideEntry(c, v, `overrides[${i}]`)),
    skipBadImages: o['skip-bad-images'] === undefined ? false : c.bool(o['skip-bad-images'], 'skip-bad-images'),
    allowGeneratedSplit: o['allow-generated-split'] === undefined ? false : c.bool(o['allow-generated-split'], 'allow-generated-split'),
    slurm,
  };
  for (const [i, d] of sweep.datasets.entries()) {
    if (getDataset(d.dataset).dirName !== undefined && !d.root && !sweep.root) c.fail(`datasets[${i}]`, `${d.dataset} needs the data folder: set root (CoOp's $DATA) at the top or in the entry`);
  }
  return sweep;
}

/** Reads a sweep file (.yaml, .yml or .json), within the parsing limits of src/util/parse.ts. */
export function readSweepFile(file: string): Sweep {
  const raw = readConfigText(file, 'sweep file');
  const name = path.basename(file).replace(/\.(ya?ml|json)$/i, '');
  return sweepFromObject(raw, file, name, path.dirname(path.resolve(file)));
}
