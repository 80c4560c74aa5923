/**
 * What a prompt-learning method is, as data the rest of the tool reads: a `MethodDef` (one file per method in
 * this folder, listed once in ./index.ts) holds its options and defaults, its official recipe, how its
 * design is built for a model, how its runs are tagged, how it appears in reports and in Dassl files. A
 * `MethodDesign` is what a method is on one architecture: a prompt plan, parameters, the text prompt and the
 * capabilities the layers above need -- image-conditioned text, a frozen teacher, extra loss terms, weight
 * averaging over epochs -- so that nothing above src/prompting ever asks which method it is.
 */
import type { ClipArchitecture } from '../../backbones/clip/model.js';
import type { BackboneNeed } from '../../backbones/model.js';
import type { Tensor } from '../../torch/index.js';
import type { PromptPlan } from '../plan.js';
import type { MethodOptions, OptionKey, ResolvedOptions } from './options.js';
import type { MethodName } from './index.js';

/** Optimiser recipe of a method's official base-to-new config. */
export interface Recipe {
  lr: number;
  epochs: number;
  batchSize: number;
  /**
   * The optimiser when it is not Dassl's SGD (momentum 0.9, weight decay 5e-4, TRAIN_DEFAULTS): Tip-Adapter-F's
   * torch.optim.AdamW(lr, eps) with torch's default betas (0.9, 0.999) and weight decay 0.01.
   */
  optimizer?: { name: 'adamw'; eps: number; betas: readonly [number, number]; weightDecay: number };
  /**
   * The learning-rate schedule when it is not Dassl's (a constant warm-up epoch, then cosine stepped per epoch):
   * 'cosine-per-step' is CosineAnnealingLR(T_max = epochs x batches per epoch) stepped after every batch, no
   * warm-up (Tip-Adapter-F).
   */
  schedule?: 'cosine-per-step';
  /**
   * The training images: Dassl's random resized crop (scale 0.08-1) and flip by default; `cropScale` another
   * crop range (Tip-Adapter: 0.5-1, for its cache and its training); 'evaluation' the evaluation transform (the
   * linear probe's features, as lpclip extracts them). `dropLast: false`: the last partial batch is trained on
   * too (Tip-Adapter's loaders; Dassl drops it).
   */
  trainImages?: { cropScale: readonly [number, number]; dropLast?: boolean } | 'evaluation';
}

/** How a parameter is initialised (seeded), matching the official code. */
export type ParamInit =
  | { kind: 'words'; zeros?: number } // token embeddings of the context words; the first `zeros` rows zero (ProGrad's padding)
  | { kind: 'normal'; std: number }
  | { kind: 'linear-weight'; fanIn: number; cloneOf?: string } // nn.Linear default; deepcopy of cloneOf
  | { kind: 'linear-bias'; fanIn: number; cloneOf?: string }
  | { kind: 'zeros' } // sklearn's lbfgs starts at zero
  | { kind: 'cache-keys' }; // Tip-Adapter-F: the cache keys, once the cache is built

export interface ParamSpec {
  key: string;
  /** -1 = the number of classes (CoOp's class-specific context); -2 = the cache entries (known once the cache is built) */
  shape: number[];
  init: ParamInit;
}

/** What a dataset tells a hand-crafted text prompt (a LoadedDataset carries these fields). */
export interface DatasetPrompt {
  /** the dataset's zero-shot template (CoOp's CUSTOM_TEMPLATES), `{}` for the class name */
  template: string;
  /** whether ZeroshotCLIP2's template ensemble adds it (default true; not for ImageNet and its variants) */
  ensembleAddsTemplate?: boolean;
  /**
   * Dassl's DATASET.NAME (`DescribableTextures`): the key of a method's own per-dataset tables (KgCoOp's and
   * ProGrad's templates differ from CoOp's); a dataset missing from such a table gets its `template`
   */
  displayName?: string;
}

/** The text side: hand-crafted templates, or a learnable context before (or around) the class name. */
export type TextDesign =
  | { kind: 'none' } // no class text (the linear probe)
  | {
      kind: 'fixed';
      /** the templates whose normalised features are averaged (one template: no averaging) */
      templates(dataset?: DatasetPrompt): string[];
    }
  | {
      kind: 'learned';
      nCtx: number;
      /** the words before the class name in the prompt ("a photo of a", "X X X X", "X a photo of a") */
      promptPrefix: string;
      /** the context starts as the embeddings of promptPrefix's first nCtx tokens */
      ctxFromWords: boolean;
      /** one context per class */
      csc: boolean;
      /** where the class name goes (CoOp) */
      position: 'end' | 'middle' | 'front';
    };

/** What an extra loss term sees (float32 throughout; features normalised). */
export interface LossInputs {
  /** the batch's images on the model's device */
  images: Tensor;
  /** image features with the prompts [B, E] */
  imageFeatures: Tensor;
  /** class text features with the prompts [C, E] */
  textFeatures: Tensor;
  /** the method's logits [B, C] */
  logits: Tensor;
  /** exp(logit_scale) */
  scale: number;
  /** the frozen teacher (when the design has one): its class text features and its image features (no graph) */
  teacher: { text: Tensor; image(): Tensor } | null;
}

/**
 * CLIP-Adapter's image-feature adapter: a bias-free bottleneck MLP on the (un-normalised) image features,
 * blended with them before normalisation: f' = ratio·relu(relu(f·W1ᵀ)·W2ᵀ) + (1 − ratio)·f.
 */
export interface ImageAdapterDesign {
  ratio: number;
  /** the keys of W1 [hidden, E] and W2 [E, hidden] among the design's params */
  weights: readonly [string, string];
}

/**
 * Tip-Adapter's key-value cache, built from the few-shot training images before any training: keys = the
 * normalised mean over `passes` augmented passes of each image's (un-normalised) features [N, E], values = the
 * one-hot labels [N, C]. Logits = clip + α·exp(−β(1 − f·keysᵀ))·values for normalised image features f.
 */
export interface FeatureCacheDesign {
  passes: number;
  /** the keys made trainable (Tip-Adapter-F: the cache adapter's weight [N, E], initialised from the keys); none: training-free */
  trainableKeys?: string;
  /** the initial α (residual weight of the cache) and β (sharpness) */
  alpha: number;
  beta: number;
  /** the α/β grid searched on the validation images after fitting: value_i = i·(max − 0.1)/steps + 0.1, i < steps */
  search: { betaMax: number; betaSteps: number; alphaMax: number; alphaSteps: number };
}

/**
 * lpclip's linear probe: L2-regularised multinomial logistic regression (sklearn's lbfgs) on the un-normalised
 * image features, replacing the text classifier; C from a grid, then a binary search, on few-shot validation
 * images. Its weights are the design's params `coef` [C, E] and `intercept` [C].
 */
export interface LinearProbeDesign {
  /** the C values tried first (lpclip: 1e6 .. 1e-6) */
  grid: readonly number[];
  /** binary-search steps after the grid (lpclip's num_step) */
  steps: number;
  /** L-BFGS iterations per fit at most (sklearn's max_iter) */
  maxIter: number;
  /** the keys of the weights and the intercept among the design's params */
  weights: string;
  bias: string;
}

/** Everything about a method on one architecture; built without weights. */
export interface MethodDesign {
  method: MethodName;
  options: ResolvedOptions;
  plan: PromptPlan;
  params: ParamSpec[];
  text: TextDesign;
  /** image-conditioned text: a meta-net shifts the context by each image's features (CoCoOp's meta_net keys) */
  metaNet?: { inDim: number; hidden: number; outDim: number };
  /** a frozen teacher: the same CLIP without prompts, whose class text is the mean over these templates */
  teacher?: { templates: readonly string[] };
  /** extra loss terms added to the cross-entropy, each a weighted scalar, by name (for logs and tests) */
  lossTerms?(x: LossInputs): Record<string, Tensor>;
  /**
   * Gradient projection (ProGrad): the loss term named `guide` is not added to the loss; the training step
   * backpropagates it and the loss separately and, per parameter tensor, removes from the loss's gradient g
   * λ times its component along the guide's gradient h wherever the two conflict (cos(g, h) < 0):
   * g − λ(g·ĥ)ĥ with ĥ = h/‖h‖ (Dassl.ProGrad's prograd_backward_and_update).
   */
  gradientProjection?: { guide: string; lambda: number };
  /** weight averaging: the prompts after E epochs are Σ_e w_e·θ_e with these weights (PromptSRC's GPA) */
  epochWeights?(epochs: number): number[];
  /** an adapter on the image features (CLIP-Adapter) */
  imageAdapter?: ImageAdapterDesign;
  /** a few-shot feature cache beside the text classifier (Tip-Adapter, Tip-Adapter-F) */
  featureCache?: FeatureCacheDesign;
  /** a linear classifier on the image features instead of the text (the linear probe): fitted, not trained by epochs */
  linearProbe?: LinearProbeDesign;
  /** a fixed scale of the text logits instead of exp(logit_scale) (Tip-Adapter multiplies by 100) */
  logitScale?: number;
  /** where the best epoch is chosen (Tip-Adapter-F): the validation images, or the test images as the official code */
  selectEpochOn?: 'validation' | 'test';
}

/** The parts of a design its builder makes (the registry adds the method name and resolved options). */
export type DesignParts = Omit<MethodDesign, 'method' | 'options'>;

/** How a method is named in tables and figures. */
export interface MethodDisplay {
  /** as the papers write it (CoOp, MaPLe) */
  name: string;
  /** its colour in every figure (Okabe-Ito based) */
  colour: string;
  /** its row in the papers' tables: zero-shot CLIP first, the proposed method last */
  column: number;
}

/** A method's place in the official Dassl code. */
export interface DasslNames {
  /** TRAINER.NAME values (upper-case, letters and digits) and the options each implies */
  trainers: Record<string, MethodOptions>;
  /** the name the trainer registers its model under: the checkpoint's folder (none: nothing is learned) */
  modelName?: string;
  /** the trainer registers only the prompt learner: state-dict keys without `prompt_learner.` */
  bareKeys?: boolean;
  /** the TRAINER.<SECTION> its settings are read from when it is not its own name (KgCoOp and ProGrad: COOP) */
  section?: string;
  /** the trainer registers one sub-module: its state-dict keys are ours without this prefix (CLIP-Adapter: `adapter.`) */
  modulePrefix?: string;
}

export interface MethodDef<N extends string = string, K extends OptionKey = OptionKey> {
  /** the CLI name */
  name: N;
  /** one line for --help: what it is */
  summary: string;
  /** other spellings --method accepts (compared lower-case without '-', '_' and spaces) */
  aliases?: readonly string[];
  display: MethodDisplay;
  /** the options it takes: its flags, and what its design reads */
  options: readonly K[];
  /** values of its official base-to-new config (spec §1.2 and §4) */
  defaults: Pick<MethodOptions, K>;
  recipe: Recipe;
  /** false: nothing to learn (zero-shot CLIP): protocols evaluate without training */
  trainable: boolean;
  /**
   * What the method needs of a backbone family (src/backbones/model.ts BackboneTraits): on a family without it the
   * method is refused with a one-line reason. None of the methods so far needs anything: their prompts are placed
   * by the family's traits (after CLIP's start token or at SigLIP's first position; vision prompts after the patch
   * tokens either way).
   */
  needs?: readonly BackboneNeed[];
  /**
   * How the few-shot subset is drawn: Dassl's (CPython's random, the default), or 'lpclip': numpy-seeded from the
   * full train and validation lists, as CoOp's linear-probe script does (src/data/nprandom.ts).
   */
  sampler?: 'lpclip';
  /**
   * What the method reads of the validation split: nothing (default), its few-shot subset (the linear probe's
   * C, on lpclip's min(K, 4) samples), or the full list (Tip-Adapter's α/β search, as its dataset readers keep it).
   */
  validation?: 'few-shot' | 'full';
  /**
   * False when the classifier holds weights for the training classes only (the linear probe): it classifies no
   * other class, so base-to-new and cross-dataset runs are refused. Default true.
   */
  classifiesUnseenClasses?: boolean;
  /**
   * The official per-dataset settings (Tip-Adapter's configs/<dataset>.yaml): option defaults and epochs for a
   * dataset (its CLI name), under what is given; a dataset without any takes the method's defaults.
   */
  datasetDefaults?(dataset: string): { options: MethodOptions; epochs?: number };
  /**
   * What `mpl export` writes, when not an official Dassl checkpoint (`dassl.modelName`): Tip-Adapter's cache
   * files as its main.py saves and loads them (keys_<K>shots.pt, values_<K>shots.pt, best_F_<K>shots.pt), or
   * nothing, with the reason.
   */
  export?: { kind: 'tip-adapter-cache' } | { kind: 'none'; why: string };
  /**
   * Its design on a model, for the dataset whose classes it learns when one is known (a method may read the
   * dataset's template or its own per-dataset table); impossible settings are a UserError naming the flag.
   */
  build(o: ResolvedOptions, arch: ClipArchitecture, dataset?: DatasetPrompt): DesignParts;
  /** the short words of its options in a run's tag, as the official config names spell them (c1_add2_rm1_d9) */
  tagWords(o: ResolvedOptions): string[];
  /**
   * Words that always name the row of such a configuration in tables and figures, even when it is the only one:
   * a setting whose numbers are not comparable with the method's usual ones (Tip-Adapter-F selected on the test set).
   */
  rowMarks?(o: ResolvedOptions): string[];
  dassl: DasslNames;
  /**
   * The options that shape its tensors, when a state dict (an official checkpoint without a config) holds
   * exactly this method's tensors; null otherwise. Two methods may claim the same tensors (IVLP, PromptSRC).
   */
  fromTensors(t: TensorShapes): MethodOptions | null;
}

/** The tensors of a state dict by key (shapes only). */
export type TensorShapes = Map<string, { shape: number[] }>;

/** Identity with types: a method file's `export const x = defineMethod({...})`. */
export function defineMethod<N extends string, K extends OptionKey>(def: MethodDef<N, K>): MethodDef<N, K> {
  return def;
}
