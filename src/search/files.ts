/**
 * The search's folder, the only state a search has (so a killed search continues where it stopped):
 *
 *   <out>/search.json        the settings (written first); a rerun with other settings is refused, naming them
 *   <out>/state.json         progress: candidates, rounds, rungs and what each trial scored (after every trial)
 *   <out>/trials/<id>/seed<s>/             one candidate and seed: checkpoint.safetensors, log.txt
 *   <out>/trials/<id>/seed<s>/e<E>/result.json   its score after E epochs (the proof a trial is done)
 *   <out>/reads/<pid>-<ms>.json   what each process read (splits, classes, images: src/data/access.ts)
 *   <out>/result.json, leaderboard.md, leaderboard.csv, search.svg, search.png   the results
 *   <out>/final/, final.md    --final: the real protocol's runs and their table
 *
 * Everything is written atomically; the folder is locked (mpl.lock) while a search runs in it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { watchDataAccess, type DataAccess } from '../data/access.js';
import { configDiff, describeDiff } from '../util/config.js';
import { UserError } from '../util/errors.js';
import { writeJsonAtomic } from '../util/fs.js';
import type { SearchBounds } from './space.js';
import { readJsonFile, reasonOf } from '../util/parse.js';

export const SEARCH_PROTOCOLS = ['base2new', 'fewshot', 'xd', 'dg'] as const;
export type SearchProtocol = (typeof SEARCH_PROTOCOLS)[number];

/** Everything a search's results depend on (its identity): a rerun must give the same ones. */
export interface SearchSettings {
  /** the weights file's base name or the model name, as runs name their backbone */
  backbone: string;
  weights?: string;
  model?: string;
  protocol: SearchProtocol;
  dataset: string;
  name?: string;
  root: string;
  shots: number;
  /** proposals, the pseudo-base/new split */
  seed: number;
  /** seeds of the objective: few-shot subset, initialisation, data order */
  seeds: number[];
  bounds: SearchBounds;
  candidates: number;
  rounds: number;
  eta: number;
  min_epochs: number;
  max_epochs: number;
  lr: number;
  batch_size: number;
  ctx_init: string;
  precision: string;
  allow_generated_split: boolean;
  /** false: train trials without random crops and flips (`--no-augment`; present only when off) */
  augment?: false;
}

/** search.json: the identity and how the trials compute (not part of the identity). */
export interface SearchFile {
  format: 'mpl-search/1';
  settings: SearchSettings;
  device: string;
  workers?: number;
  skip_bad_images?: boolean;
}

/** One trial: a candidate, a seed, a budget in epochs. */
export interface TrialSpec {
  candidate: string;
  depth: number;
  schedule: string;
  seed: number;
  epochs: number;
}

export interface TrialResult extends TrialSpec {
  objective: number;
  /** accuracies (%): base2new { base, new } of the pseudo halves; otherwise { val } */
  scores: Record<string, number>;
  /** the training loss of the last epoch (deterministic, like the objective) */
  train_loss: number;
  /** measured: mean milliseconds per training step (batch), all epochs so far */
  step_ms: number;
  /** epochs trained to reach this budget (the rest came from the previous rung's checkpoint) */
  trained_epochs: number;
  train_seconds: number;
  eval_seconds: number;
  finished_at: string;
}

export const searchFile = (out: string): string => path.join(out, 'search.json');
export const stateFile = (out: string): string => path.join(out, 'state.json');
export const trialDir = (out: string, t: Pick<TrialSpec, 'candidate' | 'seed'>): string => path.join(out, 'trials', t.candidate, `seed${t.seed}`);
export const trialResultFile = (out: string, t: TrialSpec): string => path.join(trialDir(out, t), `e${t.epochs}`, 'result.json');

function readJson(file: string): unknown {
  try {
    return readJsonFile(file, 'search file');
  } catch (e) {
    throw new UserError(`${file}: cannot read it (${reasonOf(e, file)}); delete it, or start the search over with --force`);
  }
}

/** A trial's result when it is on disk (and is this trial's), else null. */
export function readTrialResult(file: string, spec: TrialSpec): TrialResult | null {
  if (!fs.existsSync(file)) return null;
  const r = readJson(file) as TrialResult;
  const same = r && r.candidate === spec.candidate && r.schedule === spec.schedule && r.depth === spec.depth && r.seed === spec.seed && r.epochs === spec.epochs;
  if (!same || !Number.isFinite(r.objective)) throw new UserError(`${file} is not the result of trial ${spec.candidate} (${spec.schedule}, seed ${spec.seed}, ${spec.epochs} epochs); delete it, or start over with --force`);
  return r;
}

/** What a search writes besides the runs of --final (removed by --force; nothing else in the folder is). */
const OWN_FILES = ['state.json', 'trials', 'reads', 'result.json', 'leaderboard.md', 'leaderboard.csv', 'search.svg', 'search.png', '.sweeps'];

/**
 * Writes search.json for a new search, or checks that the one there has the same settings (a rerun
 * continues it). `force` starts over: the search's own files go, and with them every trial.
 */
export function openSearchFolder(out: string, file: SearchFile, force: boolean): 'new' | 'continued' {
  const target = searchFile(out);
  if (force) {
    for (const f of OWN_FILES) fs.rmSync(path.join(out, f), { recursive: true, force: true });
  } else if (fs.existsSync(target)) {
    const saved = readJson(target) as Partial<SearchFile>;
    if (saved.format !== 'mpl-search/1') throw new UserError(`${target} is not an mpl search (format ${String(saved.format)}); use another --out`);
    const diff = configDiff(saved.settings, file.settings);
    if (diff.length) throw new UserError(`${target}: this folder holds a search with other settings (${describeDiff(diff)}); use another --out, or start over with --force`);
    writeJsonAtomic(target, file); // device and workers may differ between sessions
    return 'continued';
  }
  writeJsonAtomic(target, file);
  return 'new';
}

export function readSearchFile(out: string): SearchFile {
  const f = searchFile(out);
  if (!fs.existsSync(f)) throw new UserError(`${f} not found: --out must be the folder of a search started by \`mpl search\``);
  const v = readJson(f) as SearchFile;
  if (v === null || typeof v !== 'object' || v.format !== 'mpl-search/1' || typeof v.settings !== 'object' || v.settings === null) throw new UserError(`${f} is not an mpl search file`);
  return v;
}

// ---- what was read ------------------------------------------------------------------------------------

export interface SplitRead {
  dataset: string;
  split: string;
  subsample: string;
  shots: number;
  seed: number;
  classes: string[];
  images: number;
}

/** Everything a search's processes read, merged. */
export interface Reads {
  splits: SplitRead[];
  /** every image a data loader was built over (absolute paths, sorted) */
  images: string[];
}

/**
 * Records this process's data accesses into <out>/reads/<pid>-<ms>.json, rewritten (atomically) at every
 * access, so a process killed at any point has left what it read. Returns the function that stops it.
 */
export function recordReads(out: string): () => void {
  const file = path.join(out, 'reads', `${process.pid}-${Date.now()}.json`);
  const splits = new Map<string, SplitRead>();
  const images = new Set<string>();
  return watchDataAccess((a: DataAccess) => {
    if (a.kind === 'split') {
      const { kind: _k, ...read } = a;
      splits.set(JSON.stringify(read), read);
    } else {
      for (const p of a.paths) images.add(p);
    }
    writeJsonAtomic(file, { splits: [...splits.values()], images: [...images].sort() } satisfies Reads);
  });
}

/** The reads of every process of the search at `out`. */
export function collectReads(out: string): Reads {
  const dir = path.join(out, 'reads');
  const splits = new Map<string, SplitRead>();
  const images = new Set<string>();
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort() : []) {
    const r = readJson(path.join(dir, f)) as Reads;
    for (const s of r.splits ?? []) splits.set(JSON.stringify(s), s);
    for (const p of r.images ?? []) images.add(p);
  }
  const order = (s: SplitRead) => `${s.dataset}|${s.seed}|${['train', 'val', 'test'].indexOf(s.split)}|${s.subsample}`;
  return { splits: [...splits.values()].sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0)), images: [...images].sort() };
}
