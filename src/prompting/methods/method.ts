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
}

/** How a parameter is initialised (seeded), matching the official code. */
export type ParamInit =
  | { kind: 'words'; zeros?: number } // token embeddings of the context words; the first `zeros` rows zero (ProGrad's padding)
  | { kind: 'normal'; std: number }
  | { kind: 'linear-weight'; fanIn: number; cloneOf?: string } // nn.Linear default; deepcopy of cloneOf
  | { kind: 'linear-bias'; fanIn: number; cloneOf?: string };

export interface ParamSpec {
  key: string;
  /** -1 = the number of classes (CoOp's class-specific context) */
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
   * Its design on a model, for the dataset whose classes it learns when one is known (a method may read the
   * dataset's template or its own per-dataset table); impossible settings are a UserError naming the flag.
   */
  build(o: ResolvedOptions, arch: ClipArchitecture, dataset?: DatasetPrompt): DesignParts;
  /** the short words of its options in a run's tag, as the official config names spell them (c1_add2_rm1_d9) */
  tagWords(o: ResolvedOptions): string[];
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
