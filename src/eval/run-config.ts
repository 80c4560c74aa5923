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
import { TRAIN_DEFAULTS } from '../train/defaults.js';
import { canonicalJson, configHash } from '../util/config.js';
import { camelKeys, snakeKeys } from '../util/json.js';
import { UserError } from '../util/errors.js';
import type { Protocol } from './results.js';
import type { Range } from '../util/range.js';

export const PRECISIONS = ['fp32', 'fp16', 'amp', 'bf16'] as const;

/**
 * The valid values of the run settings, the same however they are given (flags, sweep files, config files,
 * `mpl search`), said in every refusal. `shots: 0` is Dassl's "all images" (NUM_SHOTS < 1: no few-shot draw).
 */
export const RUN_RANGES = {
  shots: { min: 0, max: 100_000, note: '0 = all images' },
  epochs: { min: 0, max: 100_000 },
  batchSize: { min: 1, max: 4096 },
  lr: { min: 0, exclusiveMin: true },
  workers: { min: 0, max: 1024 },
  seed: { min: 0, max: 0xffffffff },
} as const satisfies Record<string, Range>;
export type Precision = (typeof PRECISIONS)[number];

/** What a caller knows about a run; unset numbers take the method's official recipe (RECIPES). */
export interface RunConfigInput {
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
  epochs?: number;
  lr?: number;
  batchSize?: number;
  /** SGD and warm-up (default: the official 0.9, 5e-4, one constant epoch at 1e-5; --config maps Dassl's OPTIM.*) */
  momentum?: number;
  weightDecay?: number;
  warmupEpochs?: number;
  warmupLr?: number;
  /** the backbone's name: the model name (ViT-B/16) or the weights file's base name */
  backbone: string;
  precision?: string;
  maxTestImages?: number;
  /** false: train without random crops and flips (`--no-augment`, the tiny CLIP); default true */
  augment?: boolean;
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
const RUN_CONFIG_KEYS: ReadonlyArray<keyof RunConfig> = [
  'protocol', 'dataset', 'dataset_type', 'root', 'method', 'method_options', 'seed', 'shots', 'epochs', 'lr',
  'batch_size', 'backbone', 'precision', 'max_test_images', 'momentum', 'weight_decay', 'warmup', 'scheduler', 'augment', 'targets', 'optimizer',
];

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
  const p = value ?? 'fp32';
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
  const perStep = recipe.schedule === 'cosine-per-step';
  // settings a method's own training has no use for are refused, not ignored (the values it records anyway,
  // as `mpl rerun` replays them, are accepted)
  const momentum = recipe.optimizer?.betas[0] ?? TRAIN_DEFAULTS.momentum;
  const weightDecay = recipe.optimizer?.weightDecay ?? TRAIN_DEFAULTS.weightDecay;
  const [warmupEpochs, warmupLr] = perStep ? [0, 0] : [TRAIN_DEFAULTS.warmupEpochs, TRAIN_DEFAULTS.warmupLr];
  const refuse = (flags: Array<[string, unknown, unknown]>, why: string) => {
    const given = flags.filter(([, v, recorded]) => v !== undefined && v !== recorded).map(([f]) => f);
    if (given.length) throw new UserError(`${given.join(', ')} ${given.length > 1 ? 'do' : 'does'} not apply to --method ${method}: ${why}`);
  };
  if (methodDef(method).trainable && recipe.epochs === 0) {
    refuse(
      [['--epochs', i.epochs, 0], ['--lr', i.lr, recipe.lr], ['--momentum', i.momentum, momentum], ['--weight-decay', i.weightDecay, weightDecay], ['--warmup-epochs', i.warmupEpochs, warmupEpochs], ['--warmup-lr', i.warmupLr, warmupLr]],
      'it is fitted on the training features, without epochs of gradient steps',
    );
  }
  if (recipe.optimizer) refuse([['--momentum', i.momentum, momentum]], `it trains with ${recipe.optimizer.name === 'adamw' ? 'AdamW' : recipe.optimizer.name} (betas ${recipe.optimizer.betas.join(', ')})`);
  if (perStep) refuse([['--warmup-epochs', i.warmupEpochs, 0], ['--warmup-lr', i.warmupLr, 0]], 'its learning rate follows a cosine per step, with no warm-up');
  const config: RunConfig = {
    protocol: i.protocol,
    dataset: i.name ?? def.name,
    dataset_type: def.name,
    root: path.resolve(i.root),
    method,
    method_options: snakeKeys(resolveOptions(method, { ...perDataset.options, ...given })) as unknown as SnakeOptions,
    seed: i.seed,
    shots: i.shots,
    epochs: i.epochs ?? perDataset.epochs ?? recipe.epochs,
    lr: i.lr ?? recipe.lr,
    batch_size: i.batchSize ?? recipe.batchSize,
    backbone: i.backbone,
    precision: checkPrecision(i.precision),
    max_test_images: i.maxTestImages ?? null,
    momentum: i.momentum ?? momentum,
    weight_decay: i.weightDecay ?? weightDecay,
    warmup: perStep ? { epochs: 0, lr: 0, type: 'none' } : { epochs: i.warmupEpochs ?? warmupEpochs, lr: i.warmupLr ?? warmupLr, type: 'constant' },
    scheduler: recipe.schedule ?? 'cosine',
  };
  if (recipe.optimizer) config.optimizer = { name: recipe.optimizer.name, betas: [recipe.optimizer.betas[0], recipe.optimizer.betas[1]], eps: recipe.optimizer.eps };
  if (i.augment === false) config.augment = false;
  if (i.targets) config.targets = i.targets.map((t) => getDataset(t).name);
  return config;
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
