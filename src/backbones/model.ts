/**
 * What every backbone family gives the layers above (prompting, training, evaluation): a dual encoder with
 * the two prompt hooks, a tokenizer, and the facts (traits) that decide where prompts go. A family lives in
 * its own folder (src/backbones/clip, src/backbones/siglip) and is registered once in ./index.ts.
 */
import type { PixelSpec } from '../data/image.js';
import type { DType, Device, Precision, Tensor } from '../torch/index.js';
import type { ClipConfig } from './clip/config.js';
import type { EncoderHooks } from './clip/model.js';
import type { TokenizeOptions, TokenizeResult } from './clip/tokenizer.js';

export type { EncoderHooks } from './clip/model.js';
export type { TokenizeOptions, TokenizeResult } from './clip/tokenizer.js';

/** The registered families (./index.ts). */
export type FamilyName = 'clip' | 'siglip';

/**
 * An architecture: widths, layers, heads, patch and image size, text length and vocabulary, embedding width
 * (the fields of `mpl info --json`), and its family. Absent `family` = CLIP, as every file written before
 * SigLIP describes.
 */
export interface BackboneArchitecture extends ClipConfig {
  family?: FamilyName;
}

/** The structural facts of a family that decide where prompts go and what its outputs mean. */
export interface BackboneTraits {
  /** the vision sequence starts with a class token whose output is the image feature (CLIP); SigLIP pools
   * every token with an attention probe */
  classToken: boolean;
  /** the text starts with a start token, and a learnable context goes right after it (CLIP's SOT) */
  textStartToken: boolean;
  /** a causal text encoder pooled at the end token (CLIP); SigLIP's is bidirectional, pooled at the last position */
  causalText: boolean;
  /** how logits become probabilities: a softmax over the classes (CLIP) or a sigmoid per class (SigLIP) */
  probabilities: 'softmax' | 'sigmoid';
}

/** A need a method may declare (MethodDef.needs): a trait that must be true on the family it runs on. */
export type BackboneNeed = 'classToken' | 'textStartToken' | 'causalText';

/** What the learner needs of a tokenizer: ids of a string, and fixed-length rows with their pooled positions. */
export interface TextTokenizer {
  encode(text: string): number[];
  tokenize(texts: string | readonly string[], opts?: TokenizeOptions): TokenizeResult;
}

/** A loaded dual encoder, as the learner, the trainer and evaluation use it (ClipModel, SiglipModel). */
export interface BackboneModel {
  readonly arch: BackboneArchitecture;
  readonly precision: Precision;
  readonly device: Device;
  /** the stored logit scale (a log): logits = exp(logitScale)·cos + logitBias */
  readonly logitScale: number;
  /** SigLIP's learned logit bias (CLIP: none, 0) */
  readonly logitBias?: number;
  /** the side of the square images the vision encoder takes */
  readonly imageSize: number;
  /** the resize and normalisation of the family's images (CLIP's when absent) */
  readonly pixels?: PixelSpec;
  /** dtype of the activations */
  readonly dtype: DType;
  readonly textWidth: number;
  readonly visionWidth: number;
  readonly parameterCount: number;
  /** image features [B, E] (not normalised) of preprocessed images [B, 3, S, S] */
  encodeImage(images: Tensor, hooks?: EncoderHooks): Tensor;
  /** token embeddings [N, L, W] of ids [N, L] (int64) */
  tokenEmbedding(ids: Tensor): Tensor;
  /** text features [N, E] from prompt embeddings [N, L, W] and each row's pooled position */
  encodeTextEmbeddings(embeddings: Tensor, eot: number[], hooks?: EncoderHooks, truncate?: boolean): Tensor;
  encodeText(ids: Tensor, eot: number[], truncate?: boolean): Tensor;
  /** a tensor on this model's device */
  onDevice(t: Tensor): Tensor;
  weights(): Tensor[];
  dispose(): void;
}
