/**
 * Every method option, once: its key in the library, its command-line flag, the type of its value, what it
 * does, the Dassl config keys that set it (TRAINER.<NAME>.<KEY>) and the value a run records when its method
 * does not use it. Which methods take an option is said by the methods themselves (`options` of each
 * MethodDef); the CLI flags (src/cli/method-options.ts), the sweep files' `options` (src/sweep) and the
 * config-file mapping (src/cli/config-file.ts) are generated from this table.
 */
import { printable, UserError } from '../../util/errors.js';
import { inRange, rangeText, type Range } from '../../util/range.js';

/** Every method's options, as flags, config files and result files carry them (all optional). */
export interface MethodOptions {
  /** text context tokens (MPL: N_CTX; MaPLe: N_CTX; CoOp/CoCoOp: derived from ctxInit when given) */
  nCtx?: number;
  /** MPL: prompts added per text prompt at each deep layer (N_ADD_OP) */
  nAdd?: number;
  /** MPL: prompts removed at each deep layer (N_RM_OP) */
  nRm?: number;
  /** prompt depth (layers 0..depth-1 are prompted): MaPLe/MPL's PROMPT_DEPTH (VPT/IVLP/PromptSRC: depthText, depthVision) */
  depth?: number;
  depthText?: number;
  depthVision?: number;
  /** vision prompt tokens (VPT, IVLP, PromptSRC) */
  nCtxVision?: number;
  /** words whose embeddings initialise the text context ("" = random N(0, 0.02)) */
  ctxInit?: string;
  /** CoOp: class-specific context */
  csc?: boolean;
  /** CoOp: where the class name goes */
  classTokenPosition?: 'end' | 'middle' | 'front';
  /** MPL: per-layer vision add/remove counts, e.g. "1-4:add3,rm2;5-8:add1,rm1" */
  schedule?: string;
  /** zero-shot / VPT: the hand-crafted template; zero-shot: `ensemble` uses the 7-template ensemble */
  template?: string;
  ensemble?: boolean;
  /** PromptSRC loss weights and Gaussian prompt aggregation */
  textLossWeight?: number;
  imageLossWeight?: number;
  gpaMean?: number;
  gpaStd?: number;
  /** KgCoOp: weight W of the knowledge-guided term W·(1 − mean cosine to the hand-crafted text features) */
  kgWeight?: number;
  /** ProGrad: how much of the conflicting component the projection removes (LOSS.LAMBDA; 1 = all of it) */
  lambda?: number;
  /** ProGrad: temperature of the distillation from zero-shot CLIP (LOSS.T) */
  temperature?: number;
  /** CLIP-Adapter: residual ratio of the adapted image features, and the bottleneck's reduction */
  adapterRatio?: number;
  adapterReduction?: number;
  /** Tip-Adapter: initial α and β, the α/β search grid (search_scale, search_step), the cache's augmented passes */
  tipAlpha?: number;
  tipBeta?: number;
  alphaSearchMax?: number;
  betaSearchMax?: number;
  alphaSearchSteps?: number;
  betaSearchSteps?: number;
  cachePasses?: number;
  /** Tip-Adapter-F: choose the best epoch (and α/β) on the test images, as the official code does */
  selectOnTestSet?: boolean;
  /** linear probe: binary-search steps for C after its grid (lpclip's num_step) */
  cSearchSteps?: number;
}

export type OptionKey = keyof MethodOptions;
export type OptionValue = string | number | boolean | null;

export interface OptionSpec {
  key: OptionKey;
  /** the command-line flag without its dashes (--n-ctx) */
  flag: string;
  /** how the CLI parses it: integer token counts and depths, positive numbers, words, a switch, a choice */
  kind: 'int' | 'number' | 'string' | 'boolean' | 'choice';
  choices?: readonly string[];
  /** what it does, for --help (the methods that take it are prepended) */
  help: string;
  /** the CLI's placeholder for the value */
  value?: string;
  /**
   * The values accepted (int and number options), said in every refusal. The bounds are the real limits
   * where they are fixed (a 77-token text context; the deepest CLIP has 48 blocks) and otherwise a stated
   * ceiling well above any published configuration; the model then checks its own limits (its layers, the
   * class names' tokens).
   */
  range?: Range;
  /** TRAINER.<NAME>.<KEY> of the official Dassl configs that set it, or a whole key outside TRAINER (LOSS.T) */
  dassl?: readonly string[];
  /**
   * The value recorded (in the resolved options, hence in every run's identity) for a method that leaves it
   * unset. Frozen: the seventeen options below always appear in a run's recorded options, because run
   * folders are named by a hash of them; an option added later appears only for the methods that take it.
   */
  unset: OptionValue;
}

/** Text context tokens: the 77-token context less the start and end tokens. */
export const MAX_N_CTX = 75;
/** MPL coupling maps per deep layer: the paper uses 2 (its search space 0-3); each map is a 512x768 linear layer per layer. */
export const MAX_N_ADD = 16;
/** Transformer blocks of the deepest CLIP (ViT-bigG/14). */
export const MAX_DEPTH = 48;
/** Vision prompt tokens per layer: VPT's longest prompt (200). */
export const MAX_N_CTX_VISION = 200;

const POSITIVE: Range = { min: 0, exclusiveMin: true };

/** In the order of `--help` and of the recorded options' keys. */
export const OPTION_SPECS: readonly OptionSpec[] = [
  { key: 'nCtx', flag: 'n-ctx', kind: 'int', range: { min: 1, max: MAX_N_CTX }, help: 'learnable text context tokens', dassl: ['N_CTX', 'N_CTX_TEXT'], unset: 0 },
  { key: 'nAdd', flag: 'n-add', kind: 'int', range: { min: 1, max: MAX_N_ADD }, help: 'prompts added per deep layer (N_ADD_OP)', dassl: ['N_ADD_OP'], unset: 0 },
  { key: 'nRm', flag: 'n-rm', kind: 'int', range: { min: 0, max: MAX_N_ADD * MAX_N_CTX, note: 'and at most --n-add × --n-ctx' }, help: 'prompts removed per deep layer (N_RM_OP)', dassl: ['N_RM_OP'], unset: 0 },
  { key: 'depth', flag: 'depth', kind: 'int', range: { min: 1, max: MAX_DEPTH }, help: 'prompt depth: layers 0..depth-1 carry prompts', dassl: ['PROMPT_DEPTH'], unset: 0 },
  { key: 'depthText', flag: 'depth-text', kind: 'int', range: { min: 1, max: MAX_DEPTH }, help: 'text prompt depth', dassl: ['PROMPT_DEPTH_TEXT'], unset: 0 },
  { key: 'depthVision', flag: 'depth-vision', kind: 'int', range: { min: 1, max: MAX_DEPTH }, help: 'vision prompt depth', dassl: ['PROMPT_DEPTH_VISION'], unset: 0 },
  { key: 'nCtxVision', flag: 'n-ctx-vision', kind: 'int', range: { min: 1, max: MAX_N_CTX_VISION }, help: 'vision prompt tokens', dassl: ['N_CTX_VISION'], unset: 0 },
  { key: 'ctxInit', flag: 'ctx-init', kind: 'string', value: 'words', help: 'words initialising the text context ("" for random N(0, 0.02); ProGrad\'s default "{template}": the dataset\'s template words)', dassl: ['CTX_INIT'], unset: '' },
  { key: 'csc', flag: 'csc', kind: 'boolean', help: 'class-specific context', dassl: ['CSC'], unset: false },
  { key: 'classTokenPosition', flag: 'class-token-position', kind: 'choice', choices: ['end', 'middle', 'front'], value: 'pos', help: 'end | middle | front', dassl: ['CLASS_TOKEN_POSITION'], unset: 'end' },
  {
    key: 'schedule',
    flag: 'schedule',
    kind: 'string',
    value: 'spec',
    help: 'per-layer vision add/remove, e.g. "1:add3,rm1;2-4:add3,rm2;5-8:add1,rm1" (removes never more than are there)',
    unset: null,
  },
  { key: 'template', flag: 'template', kind: 'string', value: 'text', help: 'the hand-crafted template, e.g. "a photo of a {}."', unset: null },
  { key: 'ensemble', flag: 'ensemble', kind: 'boolean', help: 'the 7-template ensemble (ZeroshotCLIP2)', unset: false },
  { key: 'textLossWeight', flag: 'text-loss-weight', kind: 'number', range: POSITIVE, value: 'x', help: 'weight of the text consistency loss (TEXT_LOSS_WEIGHT, default 25)', dassl: ['TEXT_LOSS_WEIGHT'], unset: 0 },
  { key: 'imageLossWeight', flag: 'image-loss-weight', kind: 'number', range: POSITIVE, value: 'x', help: 'weight of the image consistency loss (IMAGE_LOSS_WEIGHT, default 10)', dassl: ['IMAGE_LOSS_WEIGHT'], unset: 0 },
  { key: 'gpaMean', flag: 'gpa-mean', kind: 'number', range: POSITIVE, value: 'x', help: 'epoch at the centre of the Gaussian prompt aggregation (GPA_MEAN)', dassl: ['GPA_MEAN'], unset: 0 },
  { key: 'gpaStd', flag: 'gpa-std', kind: 'number', range: POSITIVE, value: 'x', help: 'width of the Gaussian prompt aggregation (GPA_STD)', dassl: ['GPA_STD'], unset: 0 },
  { key: 'kgWeight', flag: 'kg-weight', kind: 'number', range: { min: 0, note: '0 = CoOp' }, value: 'w', help: 'weight W of the knowledge-guided loss W·(1 − cos to the hand-crafted prompts) (TRAINER.COOP.W, default 8)', dassl: ['W'], unset: 0 },
  { key: 'lambda', flag: 'lambda', kind: 'number', range: { min: 0, max: 1 }, value: 'x', help: 'share of the conflicting gradient component projected away (LOSS.LAMBDA, default 1)', dassl: ['LOSS.LAMBDA'], unset: 0 },
  { key: 'temperature', flag: 'temperature', kind: 'number', range: POSITIVE, value: 't', help: 'temperature of the distillation from zero-shot CLIP (LOSS.T, default 1)', dassl: ['LOSS.T'], unset: 0 },
  { key: 'adapterRatio', flag: 'adapter-ratio', kind: 'number', range: { min: 0, max: 1 }, value: 'x', help: 'residual ratio: features = x·adapter(f) + (1 - x)·f (default 0.2)', unset: 0 },
  { key: 'adapterReduction', flag: 'adapter-reduction', kind: 'int', range: { min: 1, max: 4096 }, help: 'bottleneck reduction: hidden width = embedding width / n (default 4)', unset: 0 },
  { key: 'tipAlpha', flag: 'tip-alpha', kind: 'number', range: { min: 0 }, value: 'x', help: 'initial α, the weight of the cache logits (init_alpha; the search replaces it)', unset: 0 },
  { key: 'tipBeta', flag: 'tip-beta', kind: 'number', range: { min: 0 }, value: 'x', help: 'initial β, the sharpness of the cache affinities (init_beta)', unset: 0 },
  { key: 'alphaSearchMax', flag: 'alpha-search-max', kind: 'number', range: POSITIVE, value: 'x', help: 'largest α searched on the validation images (search_scale[1])', unset: 0 },
  { key: 'betaSearchMax', flag: 'beta-search-max', kind: 'number', range: POSITIVE, value: 'x', help: 'largest β searched (search_scale[0])', unset: 0 },
  { key: 'alphaSearchSteps', flag: 'alpha-search-steps', kind: 'int', range: { min: 1, max: 10_000 }, help: 'α values searched (search_step[1], default 20)', unset: 0 },
  { key: 'betaSearchSteps', flag: 'beta-search-steps', kind: 'int', range: { min: 1, max: 10_000 }, help: 'β values searched (search_step[0], default 200)', unset: 0 },
  { key: 'cachePasses', flag: 'cache-passes', kind: 'int', range: { min: 1, max: 1000 }, help: 'augmented passes over the few-shot images averaged into the cache keys (augment_epoch, default 10)', unset: 0 },
  {
    key: 'selectOnTestSet',
    flag: 'select-on-test-set',
    kind: 'boolean',
    help: 'choose the best epoch and α/β on the TEST images, as the official code does (default: the validation images); the result says so',
    unset: false,
  },
  { key: 'cSearchSteps', flag: 'c-search-steps', kind: 'int', range: { min: 0, max: 100 }, help: 'binary-search steps for the regularisation C after its 7-value grid (num_step, default 8)', unset: 0 },
];

/**
 * The options as recorded after the method's defaults are applied: every option of the table (the value a
 * method leaves unset is the table's `unset`), in the table's order. This is what result.json, config.json,
 * prompts.json and checkpoints hold, and what a run's identity hashes.
 */
export type ResolvedOptions = {
  [K in Exclude<OptionKey, 'schedule' | 'template' | 'classTokenPosition'>]-?: NonNullable<MethodOptions[K]>;
} & {
  classTokenPosition: NonNullable<MethodOptions['classTokenPosition']>;
  schedule: string | null;
  template: string | null;
};

/** The recorded key order of the resolved options (what earlier versions wrote; kept for identical files). */
const RECORD_ORDER: readonly OptionKey[] = [
  'nCtx', 'nAdd', 'nRm', 'depth', 'depthText', 'depthVision', 'nCtxVision', 'ctxInit', 'csc', 'classTokenPosition',
  'schedule', 'template', 'ensemble', 'textLossWeight', 'imageLossWeight', 'gpaMean', 'gpaStd',
];

export function optionSpec(key: OptionKey): OptionSpec {
  const s = OPTION_SPECS.find((o) => o.key === key);
  if (!s) throw new Error(`no option ${key}`);
  return s;
}

/**
 * Resolves options: the method's defaults under what is given (undefined = not given); `depth` stands for
 * both encoders' depths unless those are given; every option a method leaves unset takes the table's value.
 * The seventeen recorded options are always there (as earlier versions recorded them, so a run's identity
 * never moves; a given option the method ignores is recorded as given, as it always was); an option added
 * to the table later is recorded only for the methods that take it (`takes`).
 */
export function resolveWith(defaults: MethodOptions, given: MethodOptions, takes: readonly OptionKey[]): ResolvedOptions {
  checkOptionRanges(given, takes);
  const o: MethodOptions = { ...defaults, ...stripUndefined(given) };
  if (o.depth !== undefined && o.depthText === undefined) o.depthText = o.depth;
  if (o.depth !== undefined && o.depthVision === undefined) o.depthVision = o.depth;
  const keys = [...RECORD_ORDER, ...OPTION_SPECS.map((s) => s.key).filter((k) => !RECORD_ORDER.includes(k) && takes.includes(k))];
  return Object.fromEntries(keys.map((k) => [k, o[k] ?? optionSpec(k).unset])) as unknown as ResolvedOptions;
}

/**
 * Refuses a given option outside its range, stating the range (`--n-add must be an integer >= 1 and <= 16, got
 * 1000`): the one check behind the CLI flags, the sweep files, the config files and the library.
 */
export function checkOptionValue(spec: OptionSpec, value: unknown, where = `--${spec.flag}`): void {
  if (!spec.range || value === undefined) return;
  const integer = spec.kind === 'int';
  if (typeof value !== 'number' || !inRange(value, spec.range, integer)) {
    throw new UserError(printable(`${where} must be ${rangeText(spec.range, integer)}, got ${typeof value === 'string' ? `'${value}'` : String(value)}`));
  }
}

/** Every given option the method takes checked against its range (the others are recorded as given, unused). */
export function checkOptionRanges(given: MethodOptions, takes: readonly OptionKey[]): void {
  for (const s of OPTION_SPECS) if (takes.includes(s.key)) checkOptionValue(s, given[s.key]);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
