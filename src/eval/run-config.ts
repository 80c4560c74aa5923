/**
 * Run identity: the full configuration of one protocol run, the folder it writes to, and the readable tag
 * that names its settings, as the official scripts do
 * (`output/base2new/train_base/eurosat/shots_16/MPL/vit_b4_c1_add2_rm1/seed1`):
 *
 *   <out>/<protocol>/<dataset>/shots_<k>/<method>/<tag>-<hash>/seed<s>/
 *   e.g. runs/base2new/eurosat/shots_16/mpl/vit_b16_c1_add2_rm1_d9_ep5-3fa9c2d1/seed1/
 *
 * The hash is over the whole experiment configuration (everything but the seed), so a run with other
 * epochs, another image folder or other method options gets its own folder and never finds another
 * configuration's result or checkpoint. What is NOT part of the identity, by decision:
 *   - the device (the same experiment on another device is the same configuration);
 *   - where a benchmark dataset lives (`--root` of eurosat, dtd, ...): the official split files fix its
 *     content, so moving the data keeps the runs. A custom dataset (imagefolder, jsonlist) IS its folder, so
 *     its absolute root is part of the identity; `--name` gives it a readable name in paths and tables.
 * The sweep planner (src/sweep/) computes the same folders without running anything.
 */
import * as path from 'node:path';
import { getDataset } from '../data/datasets/index.js';
import { RECIPES, checkMethod, datasetDefaults, methodDef, resolveOptions, type MethodName, type MethodOptions, type ResolvedOptions } from '../prompting/methods/index.js';
import { canonicalJson, configHash } from '../util/config.js';
import { camelKeys, snakeKeys } from '../util/json.js';
import { UserError } from '../util/errors.js';
import type { Protocol } from './results.js';
import {
  DEFAULT_PRECISION,
  RUN_SETTINGS,
  runSetting,
  PRECISIONS,
  type GivenRunSettings,
  type Precision,
  type RunSettingKey,
} from './run-settings.js';

// the valid values and the precisions live with the settings table; re-exported for their importers
export { PRECISIONS, RUN_RANGES, type Precision } from './run-settings.js';

/** What a caller knows about a run; unset numbers take the method's official recipe (RECIPES). */
export interface RunConfigInput extends Omit<GivenRunSettings, 'seeds' | 'shots' | 'precision'> {
  protocol: Protocol;
  /** the dataset's CLI name or alias (eurosat, EuroSAT, imagefolder, ...) */
  dataset: string;
  /** a readable name for a custom dataset (imagefolder / jsonlist): used in folders and tables */
  name?: string;
  root: string;
  method: MethodName | string;
  methodOptions?: MethodOptions;
  seed: number;
  shots: number;
  /** the backbone's name: the model name (ViT-B/16) or the weights file's base name */
  backbone: string;
  precision?: string;
  maxTestImages?: number;
  /** xd / dg: the evaluated target datasets */
  targets?: string[];
}

/** The full configuration of one run, as recorded in result.json (`config`) and in the checkpoint. */
export interface RunConfig {
  protocol: Protocol;
  /** the name in folders and tables: `--name`, or the dataset's canonical CLI name */
  dataset: string;
  /** the dataset reader (eurosat, imagefolder, jsonlist, ...) */
  dataset_type: string;
  /** absolute path of --root */
  root: string;
  method: MethodName;
  /** every method option after the method's defaults are applied, snake_case as every JSON file (n_ctx, ctx_init) */
  method_options: SnakeOptions;
  seed: number;
  shots: number;
  epochs: number;
  lr: number;
  batch_size: number;
  backbone: string;
  precision: Precision;
  max_test_images: number | null;
  momentum: number;
  weight_decay: number;
  warmup: { epochs: number; lr: number; type: string };
  /** 'cosine' (Dassl's, stepped per epoch after the warm-up), or 'cosine-per-step' (Tip-Adapter-F: per batch, no warm-up) */
  scheduler: string;
  /** present only when the optimiser is not SGD: Tip-Adapter-F's AdamW (its β1 is `momentum`) */
  optimizer?: { name: 'adamw'; betas: [number, number]; eps: number };
  /** present (false) only when training augmentation is off, so that default configurations keep their hash */
  augment?: false;
  targets?: string[];
}

/** Keys of a method's entry in `mpl table --json` besides its datasets: no dataset may be called so. */
export const RESERVED_NAMES = ['average', 'tag', 'test_subset'];

/** Every field of a RunConfig: what a saved configuration is compared on (result.json adds class lists). */
const RUN_CONFIG_KEYS: readonly string[] = [
  ...[
    'protocol',
    'dataset',
    'dataset_type',
    'root',
    'method',
    'method_options',
    'seed',
    'shots',
    'epochs',
    'lr',
    'batch_size',
    'backbone',
    'precision',
    'max_test_images',
    'momentum',
    'weight_decay',
    'warmup',
    'scheduler',
    'optimizer',
    'augment',
    'targets',
  ],
  // a setting added to the table later is recorded after these
  ...RUN_SETTINGS.map((s) => s.recorded?.split('.')[0]).filter((k): k is string => k !== undefined),
].filter((k, n, all) => all.indexOf(k) === n);

/** The RunConfig fields of a saved configuration (a result's `config` also holds the class lists). */
export function runConfigFields(saved: Record<string, unknown>): RunConfig {
  return Object.fromEntries(RUN_CONFIG_KEYS.filter((k) => k in saved).map((k) => [k, saved[k]])) as unknown as RunConfig;
}

/** ResolvedOptions as written in JSON files: the same values under snake_case keys (src/util/json.ts). */
export type SnakeOptions = Record<string, string | number | boolean | null>;

/** A configuration's method options as the library takes them (camelCase; older camelCase files too). */
export function methodOptionsOf(c: Pick<RunConfig, 'method_options'>): ResolvedOptions {
  return camelKeys<ResolvedOptions>(c.method_options as Record<string, unknown>);
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkPrecision(value: string | undefined): Precision {
  const p = value ?? DEFAULT_PRECISION;
  if (!(PRECISIONS as readonly string[]).includes(p)) throw new UserError(`--precision must be one of ${PRECISIONS.join(', ')}, got '${p}'`);
  return p as Precision;
}

/** Builds (and checks) the configuration of one run. */
export function buildRunConfig(i: RunConfigInput): RunConfig {
  const def = getDataset(i.dataset);
  const custom = def.dirName === undefined; // imagefolder / jsonlist: --root is the dataset itself
  if (i.name !== undefined) {
    if (!custom) throw new UserError(`--name names a custom dataset (imagefolder, jsonlist); ${def.name} is already named`);
    if (!NAME_RE.test(i.name) || RESERVED_NAMES.includes(i.name)) throw new UserError(`--name must be letters, digits, '.', '_' or '-' (at most 64; not 'average', 'tag' or 'test_subset'), got '${i.name}'`);
  }
  const method = checkMethod(i.method);
  const recipe = RECIPES[method];
  // the method's official settings for this dataset (Tip-Adapter's configs/<dataset>.yaml) under what is given
  const perDataset = datasetDefaults(method, def.name);
  const given = Object.fromEntries(Object.entries(i.methodOptions ?? {}).filter(([, v]) => v !== undefined)) as MethodOptions;
  // every setting of the table: the value given, else the recipe's (RUN_SETTINGS' defaults)
  const official = { ...recipe, ...(perDataset.epochs !== undefined ? { epochs: perDataset.epochs } : {}) };
  const fallback = (k: RunSettingKey) => runSetting(k).default?.(official);
  const input: Record<string, unknown> = { ...(i as unknown as Record<string, unknown>), seeds: [i.seed] };
  const value = (k: RunSettingKey) => input[k] ?? fallback(k);
  // settings a method's own training has no use for are refused, not ignored (the values it records anyway,
  // as `mpl rerun` replays them, are accepted)
  const refuse = (keys: RunSettingKey[], why: string) => {
    const flags = keys.filter((k) => input[k] !== undefined && input[k] !== (k === 'epochs' ? 0 : fallback(k))).map((k) => `--${runSetting(k).flag}`);
    if (flags.length) throw new UserError(`${flags.join(', ')} ${flags.length > 1 ? 'do' : 'does'} not apply to --method ${method}: ${why}`);
  };
  if (methodDef(method).trainable && recipe.epochs === 0) {
    refuse(
      ['epochs', 'lr', 'momentum', 'weightDecay', 'warmupEpochs', 'warmupLr'],
      'it is fitted on the training features, without epochs of gradient steps',
    );
  }
  if (recipe.optimizer)
    refuse(
      ['momentum'],
      `it trains with ${recipe.optimizer.name === 'adamw' ? 'AdamW' : recipe.optimizer.name} (betas ${recipe.optimizer.betas.join(', ')})`,
    );
  if (recipe.schedule === 'cosine-per-step') refuse(['warmupEpochs', 'warmupLr'], 'its learning rate follows a cosine per step, with no warm-up');
  const config: Record<string, unknown> = {
    protocol: i.protocol,
    dataset: i.name ?? def.name,
    dataset_type: def.name,
    root: path.resolve(i.root),
    method,
    method_options: snakeKeys(resolveOptions(method, { ...perDataset.options, ...given })) as unknown as SnakeOptions,
    backbone: i.backbone,
    max_test_images: i.maxTestImages ?? null,
  };
  // the recorded settings, each at its place (`warmup.lr`), in its recorded form
  for (const s of RUN_SETTINGS) {
    if (!s.recorded) continue;
    const v = s.key === 'precision' ? checkPrecision(i.precision) : value(s.key);
    setRecorded(config, s.recorded, s.toRecord ? s.toRecord(v as never) : v);
  }
  if (recipe.optimizer) config.optimizer = { name: recipe.optimizer.name, betas: [recipe.optimizer.betas[0], recipe.optimizer.betas[1]], eps: recipe.optimizer.eps };
  if (i.targets) config.targets = i.targets.map((t) => getDataset(t).name);
  return inRecordOrder(config) as unknown as RunConfig;
}

/** Sets a dotted path ('warmup.lr') of a configuration; an undefined value is not recorded. */
function setRecorded(config: Record<string, unknown>, at: string, v: unknown): void {
  if (v === undefined) return;
  const parts = at.split('.');
  let o = config;
  for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
  o[parts[parts.length - 1]] = v;
}

/** The configuration's keys in the order every earlier version wrote them (config.json, result.json, log.txt). */
function inRecordOrder(config: Record<string, unknown>): Record<string, unknown> {
  const keys = [...RUN_CONFIG_KEYS, ...Object.keys(config).filter((k) => !(RUN_CONFIG_KEYS as readonly string[]).includes(k))];
  return Object.fromEntries(keys.filter((k) => config[k] !== undefined).map((k) => [k, config[k]]));
}

const isCustom = (c: Pick<RunConfig, 'dataset_type'>): boolean => getDataset(c.dataset_type).dirName === undefined;

/** The experiment: the configuration without the seed (a benchmark dataset's root left out, see above). */
export function experimentOf(c: RunConfig): Record<string, unknown> {
  const { seed: _seed, root, ...rest } = c;
  return isCustom(c) ? { ...rest, root } : rest;
}

/** The setting: the experiment without the dataset, what one row of a table holds across its columns. */
export function settingOf(c: RunConfig): Record<string, unknown> {
  const { dataset: _d, dataset_type: _t, root: _r, seed: _s, targets: _g, ...rest } = c;
  return rest;
}

/** "ViT-B/16" → "vit_b16", "ViT-L/14@336px" → "vit_l14_336px", "tiny_clip.safetensors" → "tiny_clip". */
export function backboneSlug(backbone: string): string {
  const s = backbone
    .replace(/\.(safetensors|pt|pth|bin)$/i, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return s.replace(/^vit_([a-z])_(\d+)/, 'vit_$1$2') || 'model';
}

/**
 * The words of the readable tag: backbone, method options, epochs, then batch size and learning rate when
 * they differ from the method's official recipe, then the precision when it is not fp32. The tag is for
 * people; the hash beside it is the identity. Tags are frozen (test/eval/run-identity.test.ts): tables name
 * rows by their settings, not by these words (an MPL schedule run keeps the add/rm words of its folder).
 */
export function tagWords(c: RunConfig): string[] {
  const recipe = RECIPES[c.method];
  return [
    backboneSlug(c.backbone),
    ...methodDef(c.method).tagWords(methodOptionsOf(c)),
    `ep${c.epochs}`,
    ...(c.batch_size !== recipe.batchSize ? [`bs${c.batch_size}`] : []),
    ...(c.lr !== recipe.lr ? [`lr${c.lr}`] : []),
    ...(c.precision !== 'fp32' ? [c.precision] : []),
    ...(c.augment === false ? ['noaug'] : []),
  ];
}

export function runTag(c: RunConfig): string {
  return tagWords(c).join('_');
}

/** The short hash of the experiment (8 hex digits): the last part of the folder name. */
export function experimentHash(c: RunConfig): string {
  return configHash(experimentOf(c));
}

/** `shots_16/mpl/vit_b16_c1_add2_rm1_d9_ep5`: the readable path of a configuration below its dataset. */
export function settingPath(c: RunConfig): string {
  return path.join(`shots_${c.shots}`, c.method, runTag(c));
}

/** The folder a run writes: <out>/<protocol>/<dataset>/shots_<k>/<method>/<tag>-<hash>/seed<s>. */
export function runDirOf(out: string, c: RunConfig): string {
  return path.join(out, c.protocol, c.dataset, `shots_${c.shots}`, c.method, `${runTag(c)}-${experimentHash(c)}`, `seed${c.seed}`);
}

/** The folder a result was written in: its recorded configuration's runDirOf (result.json adds fields to it). */
export function resultRunDir(out: string, r: { config: Record<string, unknown> }): string {
  return runDirOf(out, runConfigFields(r.config));
}

/** True when two configurations are the same experiment and seed. */
export function sameRun(a: RunConfig, b: RunConfig): boolean {
  return a.seed === b.seed && canonicalJson(experimentOf(a)) === canonicalJson(experimentOf(b));
}
