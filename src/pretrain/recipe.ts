/**
 * The pretraining recipe: architecture, optimiser, schedule and data. `TINY_CLIP` is the recipe of the
 * shipped assets/tiny-clip model; `mpl pretrain` flags override single fields (and say so in the log).
 */
import * as path from 'node:path';
import { headsFor, type ClipConfig } from '../backbones/clip/config.js';
import { assetsDir } from '../backbones/clip/tokenizer.js';
import type { MethodName, MethodOptions } from '../prompting/methods/index.js';
import type { WorldOptions } from '../synth/world.js';

export interface PretrainRecipe {
  arch: ClipConfig;
  /** optimiser steps and images (= captions) per step */
  steps: number;
  batchSize: number;
  /** AdamW peak learning rate, reached after a linear warm-up, then cosine to zero (open_clip's cosine_lr) */
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  betas: [number, number];
  eps: number;
  /** seeds the initial weights and the data stream */
  seed: number;
  /** the synthetic world's settings (src/synth/world.ts); {} = its defaults */
  world: WorldOptions;
}

/** A CLIP ViT architecture from the few numbers that vary (OpenAI's rules for the rest). */
export function tinyArchitecture(a: {
  visionWidth: number;
  visionLayers: number;
  patch: number;
  image: number;
  textWidth: number;
  textLayers: number;
  embed: number;
}): ClipConfig {
  return {
    vision: { width: a.visionWidth, layers: a.visionLayers, heads: headsFor(a.visionWidth), patch_size: a.patch, image_size: a.image, mlp_width: 4 * a.visionWidth },
    // the full CLIP vocabulary and context: the model takes the same tokenizer and prompts as ViT-B/16
    text: { width: a.textWidth, layers: a.textLayers, heads: headsFor(a.textWidth), context_length: 77, vocab_size: 49408, mlp_width: 4 * a.textWidth },
    embed_dim: a.embed,
  };
}

export const TINY_CLIP: PretrainRecipe = {
  arch: tinyArchitecture({ visionWidth: 128, visionLayers: 6, patch: 8, image: 48, textWidth: 64, textLayers: 6, embed: 128 }),
  steps: 2400,
  batchSize: 64,
  lr: 5e-4,
  warmupSteps: 100,
  weightDecay: 0.1,
  betas: [0.9, 0.98],
  eps: 1e-6,
  seed: 1,
  world: {},
};

/** The shipped weights: assets/tiny-clip/tiny-clip.safetensors (made by scripts/pretrain-tiny-clip). */
export function tinyClipWeights(): string {
  return path.join(assetsDir(), 'tiny-clip', 'tiny-clip.safetensors');
}

/**
 * Method flags for the tiny CLIP, where the official defaults assume 12 layers (prompt depths 9 and 12): VPT,
 * IVLP, MaPLe and PromptSRC prompt all 6 layers; MPL the first 3, which measured steadier over seeds than 6
 * (assets/tiny-clip/README.md). Used by the offline quickstart and the learning tests.
 */
export const TINY_CLIP_METHOD_OPTIONS: Partial<Record<MethodName, MethodOptions>> = {
  vpt: { depthVision: 6 },
  ivlp: { depthText: 6, depthVision: 6 },
  maple: { depth: 6 },
  mpl: { depth: 3 },
  promptsrc: { depthText: 6, depthVision: 6 },
};

/** MPL's epochs on the tiny CLIP: 10 instead of the official 5 (its 16-shot runs are short and noisy). */
export const TINY_CLIP_MPL_EPOCHS = 10;
