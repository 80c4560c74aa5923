/**
 * One call from a name or a file to a ready model, as open_clip's create_model_and_transforms sets the
 * expectation: `loadClip("ViT-B/16")` fetches (and caches) the Hugging Face weights; `loadClip({ weights })`
 * reads a local safetensors or OpenAI .pt file (OpenAI, open_clip or Hugging Face key names).
 */
import * as path from 'node:path';
import { type DType, type Device, type Precision, type PrecisionName } from '../../torch/index.js';
import { findClipModel } from '../../net/hub.js';
import { type ClipConfig } from './config.js';
import { catalogueWeights, MODEL_CATALOGUE } from '../catalogue.js';
import type { Reporter } from '../../util/reporter.js';
import { UserError } from '../../util/errors.js';
import { ClipModel } from './model.js';
import { loadClipWeights } from './weights.js';
import { makePreprocess, type Preprocess } from './preprocess.js';
import { ClipTokenizer } from './tokenizer.js';

export interface LoadClipOptions {
  /** a known model name (ViT-B/32, ViT-B/16, ViT-L/14), fetched from the Hugging Face hub into the cache */
  model?: string;
  /** a local weights file; wins over `model` */
  weights?: string;
  /** fp32 (default), fp16, amp, bf16 -- resolve `auto` with resolvePrecision() first */
  precision?: PrecisionName | Precision;
  /** @deprecated use precision */
  dtype?: DType;
  /** 'cpu' (default), 'cuda', 'cuda:N' -- resolve user input with resolveDevice() first */
  device?: Device;
  reporter?: Reporter;
}

export interface LoadedClip {
  model: ClipModel;
  /** CLIP's BPE tokenizer (open_clip's `tokenizer`) */
  tokenizer: ClipTokenizer;
  /** the evaluation transform at the model's input size (open_clip's `preprocess`) */
  preprocess: Preprocess;
  /** the model name, or the weights file's base name */
  backbone: string;
  file: string;
}

export async function loadClip(spec: string | LoadClipOptions): Promise<LoadedClip> {
  const o: LoadClipOptions = typeof spec === 'string' ? { model: spec } : spec;
  // A downloaded file that verified but does not load (a bad upload, a disk error since): `cached` says how to get rid of it.
  const { file, cached } = await catalogueWeights(o, 'give a model name (--model ViT-B/16) or a weights file (--weights FILE)', '--weights FILE');
  let loaded: ReturnType<typeof loadClipWeights>;
  try {
    loaded = loadClipWeights(file);
  } catch (e) {
    if (e instanceof UserError && cached) throw new UserError(e.message + cached);
    throw e;
  }
  if (!o.weights && o.model) checkArchitecture(o.model, loaded.config, file);
  try {
    const model = ClipModel.fromTensors(loaded.config, loaded.tensors, { precision: o.precision, dtype: o.dtype, device: o.device });
    return { model, tokenizer: ClipTokenizer.default(), preprocess: makePreprocess(model.imageSize), backbone: o.weights ? path.basename(o.weights) : o.model!, file };
  } catch (e) {
    throw new UserError(`${file}: ${(e as Error).message}${cached}`);
  }
}

/** "ViT, vision width 768, 12 layers, patch 16, 224 px; text width 512, 12 layers; embedding 512" */
export function describeArchitecture(c: ClipConfig): string {
  return `ViT, vision width ${c.vision.width}, ${c.vision.layers} layers, patch ${c.vision.patch_size}, ${c.vision.image_size} px; text width ${c.text.width}, ${c.text.layers} layers; embedding ${c.embed_dim}`;
}

function sameArchitecture(a: ClipConfig, b: ClipConfig): boolean {
  const v = (c: ClipConfig) => [c.vision.width, c.vision.layers, c.vision.patch_size, c.vision.image_size, c.text.width, c.text.layers, c.embed_dim].join(',');
  return v(a) === v(b);
}

/**
 * A file found by model name (in this tool's cache or the Hugging Face cache) must hold that model: a wrong
 * file placed by hand, or another model's snapshot, would otherwise run silently as the requested one.
 */
export function checkArchitecture(name: string, config: ClipConfig, file: string): void {
  const spec = findClipModel(name, MODEL_CATALOGUE) as (typeof MODEL_CATALOGUE)[number];
  if (spec.family !== 'clip') throw new UserError(`${spec.name} is a ${spec.family} model, not a CLIP: load it with loadModel()`);
  const want = spec.arch;
  if (want && !sameArchitecture(want, config)) {
    throw new UserError(
      `${file}: this file was found as ${spec.name} but holds another CLIP (${describeArchitecture(config)}; ${spec.name} is ${describeArchitecture(want)}). Delete it so that the right weights are fetched, or pass it with --weights FILE.`,
    );
  }
}
