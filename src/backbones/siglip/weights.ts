/**
 * A SigLIP model folder as Hugging Face writes it (`SiglipModel.save_pretrained` and the hub's google/siglip-*
 * repositories): config.json (model_type "siglip"), model.safetensors (or pytorch_model.bin), spiece.model and
 * tokenizer_config.json, preprocessor_config.json. Tensor names are transformers' own (they are the canonical
 * names here). The architecture comes from the tensor shapes, the head counts, activation and layer-norm
 * epsilon from config.json (with transformers' defaults where it leaves them out), as transformers reads it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileError } from '../../util/errors.js';
import { readSafetensors, readSafetensorsHeader, readWholeFile } from '../../io/safetensors.js';
import { firstNonFinite, numel, type DType, type RawTensor } from '../../io/tensor.js';
import { parseTorchCheckpoint, sniffFormat } from '../../io/torchzip.js';
import type { PixelSpec } from '../../data/image.js';
import type { BackboneArchitecture } from '../model.js';

export interface SiglipArchitecture extends BackboneArchitecture {
  family: 'siglip';
  /** config.json's layer_norm_eps (1e-6 in every SigLIP) */
  layer_norm_eps: number;
  /** gelu_pytorch_tanh (every SigLIP) or gelu */
  hidden_act: 'gelu_pytorch_tanh' | 'gelu';
}

export interface SiglipFolder {
  dir: string;
  config: SiglipArchitecture;
  /** the weights file inside the folder */
  file: string;
  pixels: PixelSpec;
  /** the tokenizer: spiece.model and tokenizer_config.json's pad / eos tokens */
  tokenizer: { file: string; padToken: string; eosToken: string };
}

const WEIGHT_FILES = ['model.safetensors', 'pytorch_model.bin'];
const FLOAT_DTYPES = new Set<DType>(['float32', 'float16', 'bfloat16', 'float64']);

function readJson(file: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw fileError(file, `missing: a SigLIP folder needs its ${what}`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw fileError(file, `is not valid JSON (${(e as Error).message}); re-download the ${what}`);
  }
}

/** The model_type a folder's config.json names ('' when there is none): how a family is told from a folder. */
export function configModelType(dir: string): string {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) return '';
  try {
    const t = (JSON.parse(fs.readFileSync(file, 'utf8')) as { model_type?: unknown }).model_type;
    return typeof t === 'string' ? t : '';
  } catch {
    return '';
  }
}

/** The tensor names, dtypes and shapes of the folder's weights, and a getter for the data. */
function openTensors(file: string, headerOnly: boolean): Map<string, { dtype: DType; shape: number[]; get(): RawTensor }> {
  const out = new Map<string, { dtype: DType; shape: number[]; get(): RawTensor }>();
  const head = readWholeFileHead(file);
  if (sniffFormat(head) === 'safetensors' || file.endsWith('.safetensors')) {
    if (headerOnly) {
      for (const e of readSafetensorsHeader(file).entries) out.set(e.name, { dtype: e.dtype, shape: e.shape, get: () => { throw new Error('header only'); } });
    } else {
      for (const [k, t] of readSafetensors(file).tensors) out.set(k, { dtype: t.dtype, shape: t.shape, get: () => t });
    }
    return out;
  }
  const ckpt = parseTorchCheckpoint(readWholeFile(file), file);
  for (const [k, t] of ckpt.tensors) out.set(k, { dtype: t.dtype, shape: t.shape, get: () => t });
  return out;
}

function readWholeFileHead(file: string): Uint8Array {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(16);
    return b.subarray(0, fs.readSync(fd, b, 0, 16, 0));
  } finally {
    fs.closeSync(fd);
  }
}

/** transformers' SiglipTextConfig / SiglipVisionConfig defaults, for keys a config.json leaves out. */
const DEFAULT_HEADS = 12;
const DEFAULT_EPS = 1e-6;
const DEFAULT_ACT = 'gelu_pytorch_tanh';

/**
 * Reads a SigLIP folder: config, weights file, tokenizer and image-processor settings. With `tensors`, also every
 * tensor (validated: present, floating point, finite, the shapes the config implies).
 */
export function readSiglipFolder(dir: string, withTensors: true): SiglipFolder & { tensors: Map<string, RawTensor> };
export function readSiglipFolder(dir: string, withTensors?: false): SiglipFolder;
export function readSiglipFolder(dir: string, withTensors = false): SiglipFolder & { tensors?: Map<string, RawTensor> } {
  const cfgFile = path.join(dir, 'config.json');
  const cfg = readJson(cfgFile, 'config.json');
  if (cfg.model_type !== 'siglip') throw fileError(cfgFile, `model_type is ${JSON.stringify(cfg.model_type)}, not "siglip"`);
  const tc = (cfg.text_config ?? {}) as Record<string, unknown>;
  const vc = (cfg.vision_config ?? {}) as Record<string, unknown>;
  const weightName = WEIGHT_FILES.find((f) => fs.statSync(path.join(dir, f), { throwIfNoEntry: false })?.isFile());
  if (!weightName) throw fileError(dir, `is a SigLIP folder (config.json) without weights: looked for ${WEIGHT_FILES.join(', ')}`);
  const file = path.join(dir, weightName);
  const entries = openTensors(file, !withTensors);
  const shape = (name: string, rank: number): number[] => {
    const e = entries.get(name);
    if (!e) throw fileError(file, `missing tensor "${name}"`);
    if (e.shape.length !== rank) throw fileError(file, `tensor "${name}" has shape ${JSON.stringify(e.shape)}, expected ${rank} dimensions`);
    return e.shape;
  };
  const layers = (prefix: string) => {
    let n = 0;
    while (entries.has(`${prefix}${n}.self_attn.q_proj.weight`)) n++;
    if (n === 0) throw fileError(file, `missing tensor "${prefix}0.self_attn.q_proj.weight"`);
    return n;
  };
  const int = (o: Record<string, unknown>, key: string, dflt: number, where: string): number => {
    const v = o[key] ?? dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw fileError(cfgFile, `${where}.${key} is ${JSON.stringify(v)}, expected a positive integer`);
    return v;
  };
  const [vw, inCh, patch] = shape('vision_model.embeddings.patch_embedding.weight', 4) as [number, number, number];
  if (inCh !== 3) throw fileError(file, `tensor "vision_model.embeddings.patch_embedding.weight" has ${inCh} input channels, expected 3`);
  const [positions] = shape('vision_model.embeddings.position_embedding.weight', 2) as [number];
  // the image side is config.json's (so400m: 384 px with patch 14 gives 27 x 27 patches, the last 6 pixels unused)
  const image = int(vc, 'image_size', 224, 'vision_config');
  const grid = Math.floor(image / patch);
  if (grid * grid !== positions) throw fileError(file, `tensor "vision_model.embeddings.position_embedding.weight" has ${positions} positions; config.json's ${image}-pixel images in ${patch}-pixel patches make ${grid * grid}`);
  const [vocab, tw] = shape('text_model.embeddings.token_embedding.weight', 2) as [number, number];
  const [ctx] = shape('text_model.embeddings.position_embedding.weight', 2) as [number];
  const [embed] = shape('text_model.head.weight', 2) as [number];
  const act = (o: Record<string, unknown>, where: string) => {
    const a = o.hidden_act ?? DEFAULT_ACT;
    if (a !== 'gelu_pytorch_tanh' && a !== 'gelu') throw fileError(cfgFile, `${where}.hidden_act ${JSON.stringify(a)} is not supported (gelu_pytorch_tanh or gelu)`);
    return a;
  };
  const tAct = act(tc, 'text_config');
  if (act(vc, 'vision_config') !== tAct) throw fileError(cfgFile, 'text and vision activations differ; not supported');
  const eps = [tc.layer_norm_eps ?? DEFAULT_EPS, vc.layer_norm_eps ?? DEFAULT_EPS];
  if (eps.some((e) => typeof e !== 'number' || !(e > 0)) || eps[0] !== eps[1]) throw fileError(cfgFile, `layer_norm_eps ${JSON.stringify(eps)}: expected one positive number for both towers`);
  if (vc.vision_use_head === false) throw fileError(cfgFile, 'vision_use_head is false: a SigLIP without its attention-pooling head has no image embedding to compare with text');
  const config: SiglipArchitecture = {
    family: 'siglip',
    vision: {
      width: vw,
      layers: layers('vision_model.encoder.layers.'),
      heads: int(vc, 'num_attention_heads', DEFAULT_HEADS, 'vision_config'),
      patch_size: patch,
      image_size: image,
      mlp_width: shape('vision_model.encoder.layers.0.mlp.fc1.weight', 2)[0]!,
    },
    text: {
      width: tw,
      layers: layers('text_model.encoder.layers.'),
      heads: int(tc, 'num_attention_heads', DEFAULT_HEADS, 'text_config'),
      context_length: ctx,
      vocab_size: vocab,
      mlp_width: shape('text_model.encoder.layers.0.mlp.fc1.weight', 2)[0]!,
    },
    embed_dim: embed,
    layer_norm_eps: eps[0] as number,
    hidden_act: tAct,
  };
  for (const [what, w, h] of [['vision', vw, config.vision.heads], ['text', tw, config.text.heads]] as const) {
    if (w % h !== 0) throw fileError(cfgFile, `${what} width ${w} is not divisible by its ${h} attention heads`);
  }
  if (vw !== embed) throw fileError(file, `the image embedding (vision width ${vw}) and the text embedding (${embed}) differ: not a SigLIP dual encoder`);
  const expected = expectedSiglipShapes(config);
  for (const [name, want] of expected) {
    const e = entries.get(name);
    if (!e) throw fileError(file, `missing tensor "${name}"`);
    if (e.shape.join(',') !== want.join(',')) throw fileError(file, `tensor "${name}" has shape ${JSON.stringify(e.shape)}, expected ${JSON.stringify(want)}`);
    if (!FLOAT_DTYPES.has(e.dtype)) throw fileError(file, `tensor "${name}" has dtype ${e.dtype}, expected a floating-point type`);
  }
  const folder: SiglipFolder = { dir, config, file, pixels: readPixels(dir, config), tokenizer: readTokenizerConfig(dir) };
  if (!withTensors) return folder;
  const tensors = new Map<string, RawTensor>();
  for (const name of expected.keys()) {
    const raw = entries.get(name)!.get();
    const bad = firstNonFinite(raw);
    if (bad >= 0) throw fileError(file, `tensor "${name}" holds a non-finite value (NaN or ±inf) at element ${bad}: the weights are corrupt; use another copy`);
    tensors.set(name, raw);
  }
  return { ...folder, tensors };
}

/** preprocessor_config.json: size, bicubic resize without crop, mean and std (SigLIP: 0.5 each). */
function readPixels(dir: string, config: SiglipArchitecture): PixelSpec {
  const file = path.join(dir, 'preprocessor_config.json');
  if (!fs.existsSync(file)) throw fileError(file, 'missing: a SigLIP folder needs its preprocessor_config.json (image size, mean and std)');
  const p = readJson(file, 'preprocessor_config.json');
  const size = p.size as { height?: number; width?: number } | undefined;
  const S = config.vision.image_size;
  if (p.do_resize === false || !size || size.height !== S || size.width !== S) {
    throw fileError(file, `size is ${JSON.stringify(size)}; this tool resizes images to the model's ${S}x${S} as SiglipImageProcessor does (do_resize true, height = width = ${S})`);
  }
  if (p.resample !== undefined && p.resample !== 3) throw fileError(file, `resample ${JSON.stringify(p.resample)} is not bicubic (3), the only resampling supported`);
  if (p.do_rescale === false || (p.rescale_factor !== undefined && Math.abs((p.rescale_factor as number) - 1 / 255) > 1e-12)) {
    throw fileError(file, 'rescale must be 1/255 (do_rescale true), as every SigLIP');
  }
  const triple = (v: unknown, key: string): [number, number, number] => {
    if (p.do_normalize === false) return key === 'image_mean' ? [0, 0, 0] : [1, 1, 1];
    const a = v ?? [0.5, 0.5, 0.5];
    if (!Array.isArray(a) || a.length !== 3 || a.some((x) => typeof x !== 'number' || !Number.isFinite(x))) throw fileError(file, `${key} ${JSON.stringify(v)} is not three numbers`);
    return a as [number, number, number];
  };
  const std = triple(p.image_std, 'image_std');
  if (std.some((x) => x <= 0)) throw fileError(file, `image_std ${JSON.stringify(std)} must be positive`);
  return { resize: 'square', mean: triple(p.image_mean, 'image_mean'), std };
}

/** spiece.model and the pad / eos tokens of tokenizer_config.json (`</s>` for both in SigLIP). */
function readTokenizerConfig(dir: string): { file: string; padToken: string; eosToken: string } {
  const file = path.join(dir, 'spiece.model');
  if (!fs.existsSync(file)) {
    const hint = fs.existsSync(path.join(dir, 'tokenizer.json')) ? ' (tokenizer.json alone is a SigLIP 2 / Gemma tokenizer, not supported)' : '';
    throw fileError(file, `missing: a SigLIP folder needs its SentencePiece tokenizer spiece.model${hint}`);
  }
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const cfg = fs.existsSync(cfgFile) ? readJson(cfgFile, 'tokenizer_config.json') : {};
  const token = (v: unknown, dflt: string) => (typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string' ? (v as { content: string }).content : dflt);
  if (cfg.do_lower_case === false) throw fileError(cfgFile, 'do_lower_case is false; SigLIP lower-cases its text (the only behaviour supported)');
  return { file, padToken: token(cfg.pad_token, '</s>'), eosToken: token(cfg.eos_token, '</s>') };
}

/** Every tensor of a SiglipModel with its shape (transformers' names). */
export function expectedSiglipShapes(c: SiglipArchitecture): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const block = (prefix: string, w: number, mlp: number) => {
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      m.set(`${prefix}self_attn.${p}.weight`, [w, w]);
      m.set(`${prefix}self_attn.${p}.bias`, [w]);
    }
    for (const n of ['layer_norm1', 'layer_norm2']) {
      m.set(`${prefix}${n}.weight`, [w]);
      m.set(`${prefix}${n}.bias`, [w]);
    }
    m.set(`${prefix}mlp.fc1.weight`, [mlp, w]);
    m.set(`${prefix}mlp.fc1.bias`, [mlp]);
    m.set(`${prefix}mlp.fc2.weight`, [w, mlp]);
    m.set(`${prefix}mlp.fc2.bias`, [w]);
  };
  const { vision: v, text: t } = c;
  const g = Math.floor(v.image_size / v.patch_size);
  m.set('logit_scale', [1]);
  m.set('logit_bias', [1]);
  m.set('text_model.embeddings.token_embedding.weight', [t.vocab_size, t.width]);
  m.set('text_model.embeddings.position_embedding.weight', [t.context_length, t.width]);
  for (let i = 0; i < t.layers; i++) block(`text_model.encoder.layers.${i}.`, t.width, t.mlp_width);
  m.set('text_model.final_layer_norm.weight', [t.width]);
  m.set('text_model.final_layer_norm.bias', [t.width]);
  m.set('text_model.head.weight', [c.embed_dim, t.width]);
  m.set('text_model.head.bias', [c.embed_dim]);
  m.set('vision_model.embeddings.patch_embedding.weight', [v.width, 3, v.patch_size, v.patch_size]);
  m.set('vision_model.embeddings.patch_embedding.bias', [v.width]);
  m.set('vision_model.embeddings.position_embedding.weight', [g * g, v.width]);
  for (let i = 0; i < v.layers; i++) block(`vision_model.encoder.layers.${i}.`, v.width, v.mlp_width);
  m.set('vision_model.post_layernorm.weight', [v.width]);
  m.set('vision_model.post_layernorm.bias', [v.width]);
  m.set('vision_model.head.probe', [1, 1, v.width]);
  m.set('vision_model.head.attention.in_proj_weight', [3 * v.width, v.width]);
  m.set('vision_model.head.attention.in_proj_bias', [3 * v.width]);
  m.set('vision_model.head.attention.out_proj.weight', [v.width, v.width]);
  m.set('vision_model.head.attention.out_proj.bias', [v.width]);
  m.set('vision_model.head.layernorm.weight', [v.width]);
  m.set('vision_model.head.layernorm.bias', [v.width]);
  m.set('vision_model.head.mlp.fc1.weight', [v.mlp_width, v.width]);
  m.set('vision_model.head.mlp.fc1.bias', [v.mlp_width]);
  m.set('vision_model.head.mlp.fc2.weight', [v.width, v.mlp_width]);
  m.set('vision_model.head.mlp.fc2.bias', [v.width]);
  return m;
}

/** Parameters of a SiglipModel (every tensor, as PyTorch counts them). SigLIP-B/16 224: 203,155,970. */
export function siglipParameterCount(c: SiglipArchitecture): number {
  let n = 0;
  for (const s of expectedSiglipShapes(c).values()) n += numel(s);
  return n;
}
