/**
 * The per-layer token layout of a prompt plan, as `mpl plan` prints it and `mpl plot --kind layout` draws it.
 * Segments are listed in sequence order. For the vision encoder: the class token, the patches, then the
 * prompt tokens (carried from earlier layers, or added at this layer). For the text encoder: start token,
 * prompt tokens, the fixed words of the template, end token (padding after it is never used).
 */
export type TokenKind =
  | 'cls'
  | 'patch'
  | 'sos'
  | 'word'
  | 'eot'
  | 'prompt-carried'
  | 'prompt-added';

export interface LayoutSegment {
  kind: TokenKind;
  count: number;
  /** e.g. "a0^3" for the token made by coupling map 0 at layer 3, or "ctx" */
  label?: string;
}

export interface LayerLayout {
  /** 0-based transformer block index; the layout is the sequence entering this block */
  layer: number;
  length: number;
  segments: LayoutSegment[];
  /** vision: prompt tokens removed (O_rm) from the end of the sequence before this block */
  removed?: number;
}

export interface PlanLayout {
  method: string;
  vision: LayerLayout[];
  text: LayerLayout[];
  trainable_parameters: number;
  /** the text encoder attends to the padding after the end token (SigLIP: bidirectional); false for CLIP (causal) */
  text_padding_attended?: boolean;
}
