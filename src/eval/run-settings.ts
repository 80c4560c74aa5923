/**
 * Every run setting, once: its name in the library, its command-line flag (also its key in sweep files and in
 * this tool's own config files), the official Dassl/yacs config key, the type and valid range of its value,
 * its default (from the method's official recipe, src/prompting/methods/), where a run records it, and its
 * help text. Derived from this table: the protocol commands' flags (src/cli/commands/protocols.ts), the Dassl
 * config-file mapping (src/cli/config-file.ts), a run's configuration and identity (./run-config.ts: config.json,
 * result.json's `config`, log.txt's configuration dump, the hash in the run folder's name), `mpl rerun`'s replay
 * of a result, and the keys of sweep files (src/sweep/). Method options have their own table of the same kind
 * (src/prompting/methods/options.ts OPTION_SPECS). Adding a setting: one row here, and the code that uses it.
 *
 * The values the official configs share (SGD, momentum 0.9, weight decay 5e-4, one constant warm-up epoch at
 * 1e-5) are TRAIN_DEFAULTS (src/train/defaults.ts), where the trainer, the step API and Dassl exports also read
 * them; a row's `default` says which recipe value or shared default a run takes.
 */
import type { Recipe } from '../prompting/methods/method.js';
import { TRAIN_DEFAULTS } from '../train/defaults.js';
import type { Range } from '../util/range.js';

export const PRECISIONS = ['fp32', 'fp16', 'amp', 'bf16'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** The value of every run setting (what a run uses once its defaults are applied). */
export interface RunSettingValues {
  seeds: number[];
  shots: number;
  epochs: number;
  lr: number;
  batchSize: number;
  momentum: number;
  weightDecay: number;
  warmupEpochs: number;
  warmupLr: number;
  warmupType: string;
  scheduler: string;
  precision: string;
  workers: number;
  printFreq: number;
  augment: boolean;
}
export type RunSettingKey = keyof RunSettingValues;
/** Settings as a caller gives them: any may be left out (its default applies); the fixed ones follow the recipe. */
export type GivenRunSettings = Partial<Omit<RunSettingValues, 'warmupType' | 'scheduler'>>;

export interface RunSettingSpec {
  key: RunSettingKey;
  /**
   * The flag without its dashes (--warmup-lr): also the key in sweep files and own-format config files. None:
   * the method's recipe fixes the value (a Dassl file may only ask for what is implemented, `implements`).
   */
  flag?: string;
  /** how a flag's value is read: integers, numbers, a comma list of distinct integers, a choice, a switch */
  kind: 'int' | 'number' | 'int-list' | 'choice' | 'boolean' | 'fixed';
  choices?: readonly string[];
  /** the accepted values (int and number kinds), said in every refusal */
  range?: Range;
  /** the CLI's placeholder for the value */
  value?: string;
  /** for --help */
  help: string;
  /**
   * Which command-line helper declares the flag: the protocol commands' own (addRunSettingOptions), or a
   * helper shared with other commands ('compute': --precision of src/cli/compute-options.ts; 'data-loader':
   * --workers and --no-augment of src/cli/flags.ts), which reads its range and help from here too.
   */
  declaredBy?: 'protocol' | 'compute' | 'data-loader';
  /** the Dassl/yacs config key that sets it (a config file's key is mapped onto the flag) */
  dassl?: string;
  /** the values this tool implements, for a setting without a flag: a Dassl file asking for another is refused */
  implements?: readonly unknown[];
  /**
   * Where a run records it in its configuration (config.json, result.json's `config`, log.txt's dump) and so in
   * its identity, as a dotted path ('warmup.lr'). None: it cannot change the numbers (workers, print frequency).
   */
  recorded?: string;
  /** `mpl rerun` refuses a result whose configuration lacks it (written by an older version) */
  replayRequired?: boolean;
  /** the recorded form of one run's value, when it is not the value itself (undefined: not recorded) */
  toRecord?: (value: never) => unknown;
  /** the value a recorded form stands for (`mpl rerun`), when it is not the recorded value itself */
  fromRecord?: (recorded: unknown) => unknown;
  /** what a sweep file may give: one value, a list (a grid dimension), or nothing (not a sweep key) */
  sweep?: 'one' | 'grid';
  /** the value a run of a method with this recipe takes when none is given (undefined: decided elsewhere) */
  default?: (recipe: Recipe) => RunSettingValues[RunSettingKey] | undefined;
}

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

/** The protocols' default seeds and (base2new, xd, dg) shots, as the official scripts run them. */
export const DEFAULT_SEEDS: readonly number[] = [1, 2, 3];
export const DEFAULT_SHOTS = 16;
/** A run's precision when none is given (the CLI's `auto` resolves to one per machine). */
export const DEFAULT_PRECISION: Precision = 'fp32';

/** Tip-Adapter-F's schedule: a cosine per batch, no warm-up (the recipe's `schedule`). */
const perStep = (r: Recipe) => r.schedule === 'cosine-per-step';

/** In the order of `--help`. */
export const RUN_SETTINGS: readonly RunSettingSpec[] = [
  {
    key: 'seeds',
    flag: 'seeds',
    kind: 'int-list',
    range: RUN_RANGES.seed,
    value: 'list',
    help: 'seeds (distinct integers)',
    declaredBy: 'protocol',
    dassl: 'SEED',
    recorded: 'seed',
    toRecord: (seeds: number[]) => seeds[0],
    fromRecord: (seed) => [seed],
    sweep: 'grid',
    default: () => [...DEFAULT_SEEDS],
  },
  {
    key: 'shots',
    flag: 'shots',
    kind: 'int',
    range: RUN_RANGES.shots,
    value: 'k',
    help: 'training images per class (0 = all)',
    declaredBy: 'protocol',
    dassl: 'DATASET.NUM_SHOTS',
    recorded: 'shots',
    sweep: 'grid',
    default: () => DEFAULT_SHOTS,
  },
  {
    key: 'epochs',
    flag: 'epochs',
    kind: 'int',
    range: RUN_RANGES.epochs,
    value: 'n',
    help: "epochs (default: the method's official config)",
    declaredBy: 'protocol',
    dassl: 'OPTIM.MAX_EPOCH',
    recorded: 'epochs',
    replayRequired: true,
    sweep: 'one',
    default: (r) => r.epochs,
  },
  {
    key: 'lr',
    flag: 'lr',
    kind: 'number',
    range: RUN_RANGES.lr,
    value: 'x',
    help: 'learning rate, > 0 (default: the official config)',
    declaredBy: 'protocol',
    dassl: 'OPTIM.LR',
    recorded: 'lr',
    replayRequired: true,
    sweep: 'one',
    default: (r) => r.lr,
  },
  {
    key: 'batchSize',
    flag: 'batch-size',
    kind: 'int',
    range: RUN_RANGES.batchSize,
    value: 'n',
    help: 'training batch size (default: the official config)',
    declaredBy: 'protocol',
    dassl: 'DATALOADER.TRAIN_X.BATCH_SIZE',
    recorded: 'batch_size',
    replayRequired: true,
    sweep: 'one',
    default: (r) => r.batchSize,
  },
  {
    key: 'momentum',
    flag: 'momentum',
    kind: 'number',
    range: { max: 1 },
    value: 'x',
    help: `SGD momentum (default ${TRAIN_DEFAULTS.momentum})`,
    declaredBy: 'protocol',
    dassl: 'OPTIM.MOMENTUM',
    recorded: 'momentum',
    sweep: 'one',
    default: (r) => r.optimizer?.betas[0] ?? TRAIN_DEFAULTS.momentum,
  },
  {
    key: 'weightDecay',
    flag: 'weight-decay',
    kind: 'number',
    range: { max: 1 },
    value: 'x',
    help: `SGD weight decay (default ${TRAIN_DEFAULTS.weightDecay})`,
    declaredBy: 'protocol',
    dassl: 'OPTIM.WEIGHT_DECAY',
    recorded: 'weight_decay',
    sweep: 'one',
    default: (r) => r.optimizer?.weightDecay ?? TRAIN_DEFAULTS.weightDecay,
  },
  {
    key: 'warmupEpochs',
    flag: 'warmup-epochs',
    kind: 'int',
    range: { max: 100_000 },
    value: 'n',
    help: `constant warm-up epochs (default ${TRAIN_DEFAULTS.warmupEpochs})`,
    declaredBy: 'protocol',
    dassl: 'OPTIM.WARMUP_EPOCH',
    recorded: 'warmup.epochs',
    sweep: 'one',
    default: (r) => (perStep(r) ? 0 : TRAIN_DEFAULTS.warmupEpochs),
  },
  {
    key: 'warmupLr',
    flag: 'warmup-lr',
    kind: 'number',
    value: 'x',
    help: `warm-up learning rate (default ${TRAIN_DEFAULTS.warmupLr})`,
    declaredBy: 'protocol',
    dassl: 'OPTIM.WARMUP_CONS_LR',
    recorded: 'warmup.lr',
    sweep: 'one',
    default: (r) => (perStep(r) ? 0 : TRAIN_DEFAULTS.warmupLr),
  },
  {
    key: 'warmupType',
    kind: 'fixed',
    help: "Dassl's constant warm-up ('none' for a schedule without one)",
    dassl: 'OPTIM.WARMUP_TYPE',
    implements: ['constant'],
    recorded: 'warmup.type',
    default: (r) => (perStep(r) ? 'none' : 'constant'),
  },
  {
    key: 'scheduler',
    kind: 'fixed',
    help: "Dassl's cosine, stepped per epoch after the warm-up, or the recipe's 'cosine-per-step'",
    dassl: 'OPTIM.LR_SCHEDULER',
    implements: ['cosine'],
    recorded: 'scheduler',
    default: (r) => r.schedule ?? 'cosine',
  },
  {
    key: 'printFreq',
    flag: 'print-freq',
    kind: 'int',
    value: 'n',
    help: 'a progress line every N batches in log.txt and on non-terminal output (default 20, as Dassl; 0 = none)',
    declaredBy: 'protocol',
    dassl: 'TRAIN.PRINT_FREQ',
  },
  {
    key: 'precision',
    flag: 'precision',
    kind: 'choice',
    choices: PRECISIONS,
    help: 'numeric precision of the run',
    declaredBy: 'compute',
    recorded: 'precision',
    sweep: 'grid',
    default: () => DEFAULT_PRECISION,
  },
  {
    key: 'workers',
    flag: 'workers',
    kind: 'int',
    range: RUN_RANGES.workers,
    value: 'n',
    help: 'data-loader worker threads (at most 2 per CPU core and one per batch)',
    declaredBy: 'data-loader',
    dassl: 'DATALOADER.NUM_WORKERS',
    sweep: 'one',
  },
  {
    key: 'augment',
    flag: 'no-augment',
    kind: 'boolean',
    help: 'train on the images as evaluated, shuffled (no random crop or flip): for models that never saw crops, like the tiny CLIP',
    declaredBy: 'data-loader',
    recorded: 'augment',
    toRecord: (on: boolean) => (on === false ? false : undefined),
    default: () => true,
  },
];

export function runSetting(key: RunSettingKey): RunSettingSpec {
  const s = RUN_SETTINGS.find((x) => x.key === key);
  if (!s) throw new Error(`no run setting ${key}`);
  return s;
}

/** The settings given in `o` (any object with the settings' keys, e.g. parsed flags), undefined ones left out. */
export function givenSettings(o: object): GivenRunSettings {
  const r = o as Record<string, unknown>;
  return Object.fromEntries(RUN_SETTINGS.filter((s) => r[s.key] !== undefined).map((s) => [s.key, r[s.key]])) as GivenRunSettings;
}

/** The value at a dotted path of a recorded configuration ('warmup.lr'), or undefined. */
export function recordedValue(config: Record<string, unknown>, at: string): unknown {
  let v: unknown = config;
  for (const part of at.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}
