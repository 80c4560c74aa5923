/**
 * CLIP ViT architecture description, the canonical (OpenAI) tensor names and shapes it implies, and the
 * published architectures. Field names follow the `mpl info --json` output (snake_case).
 *
 * Attention heads are not visible in any tensor shape; like OpenAI's `build_model` we use heads = width / 64
 * (head dimension 64), which holds for every released CLIP (B/32, B/16: 12 vision, 8 text; L/14: 16 and 12).
 * Widths below 64 (test models only) get one head.
 */

export interface VisionConfig {
  width: number;
  layers: number;
  heads: number;
  patch_size: number;
  image_size: number;
  /** Hidden width of the MLP (c_fc output); 4 x width in every released model. */
  mlp_width: number;
}

export interface TextConfig {
  width: number;
  layers: number;
  heads: number;
  context_length: number;
  vocab_size: number;
  mlp_width: number;
}

export interface ClipConfig {
  vision: VisionConfig;
  text: TextConfig;
  embed_dim: number;
}

/** OpenAI's rule: head dimension 64. */
export function headsFor(width: number): number {
  return Math.max(1, Math.floor(width / 64));
}

/** Patches per side: image_size / patch_size. */
export function gridSize(config: ClipConfig): number {
  return Math.floor(config.vision.image_size / config.vision.patch_size);
}

function vit(
  v: { width: number; layers: number; patch: number; image: number },
  t: { width: number; layers: number },
  embed: number,
): ClipConfig {
  return {
    vision: { width: v.width, layers: v.layers, heads: headsFor(v.width), patch_size: v.patch, image_size: v.image, mlp_width: 4 * v.width },
    text: { width: t.width, layers: t.layers, heads: headsFor(t.width), context_length: 77, vocab_size: 49408, mlp_width: 4 * t.width },
    embed_dim: embed,
  };
}

/** OpenAI's released ViT CLIPs (openai/CLIP clip.py _MODELS), for building an architecture without weights. */
export const knownArchitectures: Readonly<Record<string, ClipConfig>> = {
  'ViT-B/32': vit({ width: 768, layers: 12, patch: 32, image: 224 }, { width: 512, layers: 12 }, 512),
  'ViT-B/16': vit({ width: 768, layers: 12, patch: 16, image: 224 }, { width: 512, layers: 12 }, 512),
  'ViT-L/14': vit({ width: 1024, layers: 24, patch: 14, image: 224 }, { width: 768, layers: 12 }, 768),
  'ViT-L/14@336px': vit({ width: 1024, layers: 24, patch: 14, image: 336 }, { width: 768, layers: 12 }, 768),
};

/** The twelve tensors of one residual block, relative to `<prefix>resblocks.{i}.`. */
function blockShapes(width: number, mlp: number): Array<[string, number[]]> {
  return [
    ['attn.in_proj_weight', [3 * width, width]],
    ['attn.in_proj_bias', [3 * width]],
    ['attn.out_proj.weight', [width, width]],
    ['attn.out_proj.bias', [width]],
    ['ln_1.weight', [width]],
    ['ln_1.bias', [width]],
    ['mlp.c_fc.weight', [mlp, width]],
    ['mlp.c_fc.bias', [mlp]],
    ['mlp.c_proj.weight', [width, mlp]],
    ['mlp.c_proj.bias', [width]],
    ['ln_2.weight', [width]],
    ['ln_2.bias', [width]],
  ];
}

/**
 * Every canonical tensor name with its shape, in the order of OpenAI's state dict. Canonical names are OpenAI's:
 * `visual.*` for the image tower, unprefixed for the text tower. Matrices are stored as in PyTorch
 * (Linear weights [out, in]; `visual.proj` [vision width, embed] and `text_projection` [text width, embed] are
 * right-multiplied: features = x @ proj).
 */
export function expectedShapes(config: ClipConfig): Map<string, number[]> {
  const { vision: v, text: t, embed_dim: e } = config;
  const g = gridSize(config);
  const m = new Map<string, number[]>();
  m.set('positional_embedding', [t.context_length, t.width]);
  m.set('text_projection', [t.width, e]);
  m.set('logit_scale', []);
  m.set('visual.class_embedding', [v.width]);
  m.set('visual.positional_embedding', [g * g + 1, v.width]);
  m.set('visual.proj', [v.width, e]);
  m.set('visual.conv1.weight', [v.width, 3, v.patch_size, v.patch_size]);
  m.set('visual.ln_pre.weight', [v.width]);
  m.set('visual.ln_pre.bias', [v.width]);
  for (let i = 0; i < v.layers; i++) {
    for (const [k, s] of blockShapes(v.width, v.mlp_width)) m.set(`visual.transformer.resblocks.${i}.${k}`, s);
  }
  m.set('visual.ln_post.weight', [v.width]);
  m.set('visual.ln_post.bias', [v.width]);
  for (let i = 0; i < t.layers; i++) {
    for (const [k, s] of blockShapes(t.width, t.mlp_width)) m.set(`transformer.resblocks.${i}.${k}`, s);
  }
  m.set('token_embedding.weight', [t.vocab_size, t.width]);
  m.set('ln_final.weight', [t.width]);
  m.set('ln_final.bias', [t.width]);
  return m;
}

/** The canonical tensor names, in state-dict order. */
export function canonicalNames(config: ClipConfig): string[] {
  return [...expectedShapes(config).keys()];
}

/** Total number of parameters (all canonical tensors). ViT-B/16: 149,620,737. */
export function parameterCount(config: ClipConfig): number {
  let n = 0;
  for (const s of expectedShapes(config).values()) n += s.reduce((a, b) => a * b, 1);
  return n;
}

/** The JSON shape `mpl info --json` prints: the config plus the parameter count. */
export function describeConfig(config: ClipConfig): Record<string, unknown> {
  return {
    vision: { ...config.vision },
    text: { ...config.text },
    embed_dim: config.embed_dim,
    parameters: parameterCount(config),
  };
}
