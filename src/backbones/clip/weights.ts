/**
 * Loading CLIP ViT weights from a file into plain RawTensors under CANONICAL (OpenAI) names, with the
 * architecture inferred from the tensor shapes — no engine involved; the caller turns them into tensors.
 *
 * Accepted:
 *  - safetensors with OpenAI / open_clip names (`visual.conv1.weight`, ...) or Hugging Face `CLIPModel` names
 *    (`vision_model.encoder.layers.0.self_attn.q_proj.weight`, ...);
 *  - PyTorch zip checkpoints (torch.save >= 1.6) holding such a state dict, directly or under `state_dict`;
 *  - OpenAI's TorchScript archives (`ViT-B-16.pt`);
 *  - a directory holding one of model.safetensors, open_clip_model.safetensors, open_clip_pytorch_model.bin,
 *    pytorch_model.bin (a Hugging Face / open_clip model folder);
 *  - a leading `module.` (DataParallel) or `model.` prefix on every key.
 *
 * Hugging Face names are mapped as transformers' convert_clip_original_pytorch_to_hf.py does in reverse:
 * q, k, v projections concatenated (in that order) into `in_proj_weight`/`in_proj_bias`, `text_projection.weight`
 * and `visual_projection.weight` transposed, `position_ids` buffers ignored.
 *
 * Tensors keep their stored dtype (OpenAI's .pt is mostly fp16; the caller upcasts with toFloat32).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileError, UserError } from '../../util/errors.js';
import { openForReading } from '../../util/fs.js';
import { readSafetensors, readSafetensorsHeader, readWholeFile } from '../../io/safetensors.js';
import { DTYPE_SIZE, type DType, type RawTensor, concatDim0, firstNonFinite, numel, toFloat32, rawTensor, transpose2d } from '../../io/tensor.js';
import { LEGACY_MESSAGE, parseTorchCheckpoint, sniffFormat } from '../../io/torchzip.js';
import { type ClipConfig, expectedShapes, headsFor, parameterCount } from './config.js';

export { toFloat32 } from '../../io/tensor.js';
export type { RawTensor, DType } from '../../io/tensor.js';

export type WeightsFormat = 'openai' | 'hf';
export type WeightsContainer = 'safetensors' | 'torch' | 'torchscript';

export interface ClipWeights {
  config: ClipConfig;
  /** Every canonical tensor (see expectedShapes), in state-dict order, in its stored dtype. */
  tensors: Map<string, RawTensor>;
  /** The key naming found in the file. */
  format: WeightsFormat;
  container: WeightsContainer;
  /** The file actually read (inside a directory, the model file). */
  file: string;
  parameters: number;
  /** Tensor count per stored dtype, e.g. { float16: 150, float32: 50 }. */
  dtypes: Partial<Record<DType, number>>;
  /** Keys in the file that are not part of the CLIP model (e.g. attn_mask, position_ids), ignored. */
  ignored: string[];
}

const DIR_CANDIDATES = ['model.safetensors', 'open_clip_model.safetensors', 'open_clip_pytorch_model.bin', 'pytorch_model.bin'];
const FLOAT_DTYPES = new Set<DType>(['float32', 'float16', 'bfloat16', 'float64']);

/**
 * A tensor of the file as the mapping sees it: dtype and shape up front, bytes only when `get()` is called.
 * This lets `readClipConfig` infer and validate an architecture from a safetensors header alone.
 */
interface Entry {
  dtype: DType;
  shape: number[];
  get(): RawTensor;
}

/** A canonical tensor: where it comes from (for messages) and how to build it. */
interface Source extends Entry {
  origin: string;
}

/** Reads a CLIP ViT weights file (or model directory). Every error is a UserError naming the file (and tensor). */
export function loadClipWeights(file: string): ClipWeights {
  const { target, entries, container } = openWeights(file, false);
  return resolve(entries, target, container, true) as ClipWeights;
}

/**
 * Only the architecture (validated exactly as loadClipWeights does). For safetensors this reads just the
 * header — milliseconds even for ViT-L/14; PyTorch files are parsed whole.
 */
export function readClipConfig(file: string): ClipConfig {
  const { target, entries, container } = openWeights(file, true);
  return resolve(entries, target, container, false).config;
}

/** The same mapping, validation and inference over tensors already in memory (`file` names them in messages). */
export function clipWeightsFromTensors(
  tensors: Map<string, RawTensor>,
  file: string,
  container: WeightsContainer = 'safetensors',
): ClipWeights {
  const entries = new Map<string, Entry>();
  for (const [k, t] of tensors) entries.set(k, { dtype: t.dtype, shape: t.shape, get: () => t });
  return resolve(entries, file, container, true) as ClipWeights;
}

function openWeights(file: string, headerOnly: boolean): { target: string; entries: Map<string, Entry>; container: WeightsContainer } {
  let target = file;
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw fileError(file, 'no such file');
  }
  if (stat.isDirectory()) {
    const kind = (n: string) => fs.statSync(path.join(file, n), { throwIfNoEntry: false });
    const hit = DIR_CANDIDATES.find((n) => kind(n)?.isFile());
    if (!hit) {
      const folders = DIR_CANDIDATES.filter((n) => kind(n)?.isDirectory());
      const why = folders.length ? `; ${folders.join(', ')} ${folders.length > 1 ? 'are folders' : 'is a folder'}, not a file` : '';
      throw fileError(file, `is a directory without CLIP weights (looked for ${DIR_CANDIDATES.join(', ')}${why})`);
    }
    target = path.join(file, hit);
  }
  const head = readHead(target, 16);
  const kind = sniffFormat(head);
  const entries = new Map<string, Entry>();
  if (kind === 'safetensors' || (kind === 'unknown' && target.endsWith('.safetensors'))) {
    if (headerOnly) {
      const h = readSafetensorsHeader(target);
      const fail = () => {
        throw new Error('readClipConfig does not read tensor data');
      };
      for (const e of h.entries) entries.set(e.name, { dtype: e.dtype, shape: e.shape, get: fail });
    } else {
      for (const [k, t] of readSafetensors(target).tensors) entries.set(k, { dtype: t.dtype, shape: t.shape, get: () => t });
    }
    return { target, entries, container: 'safetensors' };
  }
  if (kind === 'zip') {
    const ckpt = parseTorchCheckpoint(readWholeFile(target), target);
    for (const [k, t] of ckpt.tensors) entries.set(k, { dtype: t.dtype, shape: t.shape, get: () => t });
    return { target, entries, container: ckpt.kind === 'torchscript' ? 'torchscript' : 'torch' };
  }
  if (kind === 'legacy-torch') throw fileError(target, LEGACY_MESSAGE);
  throw fileError(target, 'unreadable: neither a safetensors file nor a PyTorch zip checkpoint');
}

function readHead(file: string, n: number): Uint8Array {
  const fd = openForReading(file);
  try {
    if (!fs.fstatSync(fd).isFile()) throw fileError(file, 'is a folder (or device), not a weights file');
    const buf = Buffer.alloc(n);
    const got = fs.readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

function resolve(entries: Map<string, Entry>, file: string, container: WeightsContainer, build: boolean): ClipWeights | { config: ClipConfig } {
  const keys = stripPrefix(entries);
  const names = [...keys.keys()];
  const isHf = names.some((k) => k.startsWith('vision_model.') || k.startsWith('text_model.'));
  const isOpenAI = names.some((k) => k.startsWith('visual.'));
  if (!isHf && !isOpenAI) {
    const sample = names.slice(0, 5).join(', ');
    throw fileError(
      file,
      `not a CLIP model: no image-tower tensors (visual.* or vision_model.*) among its ${names.length} tensors` +
        (names.length ? ` (e.g. ${sample})` : '') +
        '; expected OpenAI/open_clip keys like visual.conv1.weight or Hugging Face keys like vision_model.embeddings.patch_embedding.weight',
    );
  }
  if (names.some((k) => k.startsWith('visual.layer1.') || k.startsWith('visual.attnpool.'))) {
    throw fileError(file, 'is a ResNet CLIP (found visual.layer1.* / visual.attnpool.*); only ViT CLIP models are supported');
  }
  const { sources, ignored } = isHf ? fromHuggingFace(keys, file) : fromOpenAI(keys);
  const origin = (name: string) => {
    const o = sources.get(name)?.origin;
    return o && o !== name ? ` (from ${o})` : '';
  };
  const get = (name: string): Source => {
    const t = sources.get(name);
    if (!t) throw fileError(file, `missing tensor "${name}"${isHf ? ` (Hugging Face: ${hfNameFor(name)})` : ''}`);
    return t;
  };
  const dims = (name: string, rank: number): number[] => {
    const t = get(name);
    if (t.shape.length !== rank) {
      throw fileError(file, `tensor "${name}"${origin(name)} has shape ${JSON.stringify(t.shape)}, expected ${rank} dimensions`);
    }
    return t.shape;
  };

  // Architecture from shapes, as OpenAI's build_model (clip/model.py).
  const [vw, inCh, patch, patch2] = dims('visual.conv1.weight', 4) as [number, number, number, number];
  if (inCh !== 3 || patch !== patch2) {
    throw fileError(file, `tensor "visual.conv1.weight"${origin('visual.conv1.weight')} has shape ${JSON.stringify([vw, inCh, patch, patch2])}, expected [width, 3, patch, patch]`);
  }
  const [vTokens] = dims('visual.positional_embedding', 2) as [number];
  const grid = Math.round(Math.sqrt(vTokens - 1));
  if (grid * grid + 1 !== vTokens) {
    throw fileError(file, `tensor "visual.positional_embedding"${origin('visual.positional_embedding')} has ${vTokens} positions; expected a square number of patches plus one`);
  }
  const [tw, embed] = dims('text_projection', 2) as [number, number];
  const [ctx] = dims('positional_embedding', 2) as [number];
  const [vocab] = dims('token_embedding.weight', 2) as [number];
  const vLayers = countLayers(sources, 'visual.transformer.resblocks.', file);
  const tLayers = countLayers(sources, 'transformer.resblocks.', file);
  const vMlp = dims('visual.transformer.resblocks.0.mlp.c_fc.weight', 2)[0]!;
  const tMlp = dims('transformer.resblocks.0.mlp.c_fc.weight', 2)[0]!;
  const config: ClipConfig = {
    vision: { width: vw, layers: vLayers, heads: headsFor(vw), patch_size: patch, image_size: patch * grid, mlp_width: vMlp },
    text: { width: tw, layers: tLayers, heads: headsFor(tw), context_length: ctx, vocab_size: vocab, mlp_width: tMlp },
    embed_dim: embed,
  };

  // Every canonical tensor present, floating point, with the shape the config implies.
  const expected = expectedShapes(config);
  for (const [name, shape] of expected) {
    const t = get(name);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw fileError(
        file,
        `tensor "${name}"${origin(name)} has shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(shape)} ` +
          `(for vision width ${vw}, text width ${tw}, embed ${embed})`,
      );
    }
    if (!FLOAT_DTYPES.has(t.dtype)) throw fileError(file, `tensor "${name}"${origin(name)} has dtype ${t.dtype}, expected a floating-point type`);
  }
  if (!build) return { config };

  const tensors = new Map<string, RawTensor>();
  const dtypes: Partial<Record<DType, number>> = {};
  for (const name of expected.keys()) {
    const t = get(name);
    const raw = t.get();
    // NaN or inf in the weights would turn every prediction into NaN: refuse the file here, by name.
    const bad = firstNonFinite(raw);
    if (bad >= 0) {
      throw fileError(file, `tensor "${name}"${origin(name)} holds a non-finite value (NaN or ±inf) at element ${bad}: the weights are corrupt; use another copy of the file`);
    }
    tensors.set(name, raw);
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
  }
  return {
    config,
    tensors,
    format: isHf ? 'hf' : 'openai',
    container,
    file,
    parameters: parameterCount(config),
    dtypes,
    ignored: [...ignored, ...[...sources.keys()].filter((k) => !expected.has(k))],
  };
}

/** Layers = distinct block indices under `prefix`; they must be 0..L-1 with none missing. */
function countLayers(t: Map<string, unknown>, prefix: string, file: string): number {
  const idx = new Set<number>();
  for (const k of t.keys()) {
    if (!k.startsWith(prefix)) continue;
    const m = /^(\d+)\./.exec(k.slice(prefix.length));
    if (m) idx.add(Number(m[1]));
  }
  if (idx.size === 0) throw fileError(file, `missing tensor "${prefix}0.attn.in_proj_weight" (no transformer blocks under ${prefix}*)`);
  const max = Math.max(...idx);
  for (let i = 0; i <= max; i++) {
    if (!idx.has(i)) throw fileError(file, `missing tensor "${prefix}${i}.attn.in_proj_weight" (block ${i} of 0..${max} is absent)`);
  }
  return max + 1;
}

/** Drops a `module.` / `model.` prefix shared by every key (DataParallel wrappers, Lightning, ...). */
function stripPrefix<T>(entries: Map<string, T>): Map<string, T> {
  let cur = entries;
  for (;;) {
    const names = [...cur.keys()];
    const p = ['module.', 'model.'].find((pre) => names.length > 0 && names.every((k) => k.startsWith(pre)));
    if (!p) return cur;
    cur = new Map(names.map((k) => [k.slice(p.length), cur.get(k)!]));
  }
}

function fromOpenAI(entries: Map<string, Entry>): { sources: Map<string, Source>; ignored: string[] } {
  const sources = new Map<string, Source>();
  for (const [k, e] of entries) sources.set(k, { ...e, origin: k });
  return { sources, ignored: [] };
}

// ---------------------------------------------------------------------------------------------------------
// Hugging Face CLIPModel -> OpenAI names

const HF_SIMPLE: Readonly<Record<string, string>> = {
  'text_model.embeddings.token_embedding.weight': 'token_embedding.weight',
  'text_model.embeddings.position_embedding.weight': 'positional_embedding',
  'text_model.final_layer_norm.weight': 'ln_final.weight',
  'text_model.final_layer_norm.bias': 'ln_final.bias',
  'vision_model.embeddings.patch_embedding.weight': 'visual.conv1.weight',
  'vision_model.embeddings.class_embedding': 'visual.class_embedding',
  'vision_model.embeddings.position_embedding.weight': 'visual.positional_embedding',
  'vision_model.pre_layrnorm.weight': 'visual.ln_pre.weight', // sic: transformers' spelling
  'vision_model.pre_layrnorm.bias': 'visual.ln_pre.bias',
  'vision_model.pre_layernorm.weight': 'visual.ln_pre.weight', // accepted too, in case a converter fixed the typo
  'vision_model.pre_layernorm.bias': 'visual.ln_pre.bias',
  'vision_model.post_layernorm.weight': 'visual.ln_post.weight',
  'vision_model.post_layernorm.bias': 'visual.ln_post.bias',
  logit_scale: 'logit_scale',
};
const HF_TRANSPOSED: Readonly<Record<string, string>> = {
  'text_projection.weight': 'text_projection',
  'visual_projection.weight': 'visual.proj',
};
const HF_BLOCK: Readonly<Record<string, string>> = {
  'self_attn.out_proj.weight': 'attn.out_proj.weight',
  'self_attn.out_proj.bias': 'attn.out_proj.bias',
  'layer_norm1.weight': 'ln_1.weight',
  'layer_norm1.bias': 'ln_1.bias',
  'layer_norm2.weight': 'ln_2.weight',
  'layer_norm2.bias': 'ln_2.bias',
  'mlp.fc1.weight': 'mlp.c_fc.weight',
  'mlp.fc1.bias': 'mlp.c_fc.bias',
  'mlp.fc2.weight': 'mlp.c_proj.weight',
  'mlp.fc2.bias': 'mlp.c_proj.bias',
};

/** The Hugging Face name(s) a canonical tensor comes from (for "missing tensor" messages). */
export function hfNameFor(canonical: string): string {
  for (const [hf, c] of Object.entries(HF_SIMPLE)) if (c === canonical && !hf.includes('pre_layernorm')) return hf;
  for (const [hf, c] of Object.entries(HF_TRANSPOSED)) if (c === canonical) return `${hf}, transposed`;
  const m = /^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$/.exec(canonical);
  if (m) {
    const base = `${m[1] ? 'vision' : 'text'}_model.encoder.layers.${m[2]}.`;
    const rest = m[3]!;
    if (rest.startsWith('attn.in_proj_')) return `${base}self_attn.{q,k,v}_proj.${rest.endsWith('weight') ? 'weight' : 'bias'}`;
    for (const [hf, c] of Object.entries(HF_BLOCK)) if (c === rest) return base + hf;
  }
  return canonical;
}

function fromHuggingFace(entries: Map<string, Entry>, file: string): { sources: Map<string, Source>; ignored: string[] } {
  const sources = new Map<string, Source>();
  const ignored: string[] = [];
  const qkv = new Map<string, { hfBase: string; wb: string; parts: Partial<Record<'q' | 'k' | 'v', Entry>> }>();
  for (const [k, e] of entries) {
    const simple = HF_SIMPLE[k];
    if (simple) {
      sources.set(simple, { ...e, origin: k });
      continue;
    }
    const tr = HF_TRANSPOSED[k];
    if (tr) {
      if (e.shape.length !== 2) throw fileError(file, `tensor "${k}" has shape ${JSON.stringify(e.shape)}, expected 2 dimensions`);
      sources.set(tr, { dtype: e.dtype, shape: [e.shape[1]!, e.shape[0]!], get: () => transpose2d(e.get()), origin: `${k}, transposed` });
      continue;
    }
    const m = /^(text|vision)_model\.encoder\.layers\.(\d+)\.(.+)$/.exec(k);
    if (m) {
      const base = `${m[1] === 'vision' ? 'visual.' : ''}transformer.resblocks.${m[2]}.`;
      const rest = m[3]!;
      const a = /^self_attn\.([qkv])_proj\.(weight|bias)$/.exec(rest);
      if (a) {
        const c = `${base}attn.in_proj_${a[2]}`;
        const group = qkv.get(c) ?? { hfBase: `${m[1]}_model.encoder.layers.${m[2]}.self_attn.`, wb: a[2]!, parts: {} };
        group.parts[a[1] as 'q' | 'k' | 'v'] = e;
        qkv.set(c, group);
        continue;
      }
      const b = HF_BLOCK[rest];
      if (b) {
        sources.set(base + b, { ...e, origin: k });
        continue;
      }
    }
    ignored.push(k); // position_ids buffers and anything else that is not part of CLIP
  }
  // in_proj = cat([q, k, v], dim 0), as nn.MultiheadAttention packs them
  for (const [c, { hfBase, wb, parts }] of qkv) {
    const names = (['q', 'k', 'v'] as const).map((x) => `${hfBase}${x}_proj.${wb}`);
    const [q, kk, v] = (['q', 'k', 'v'] as const).map((x, i) => {
      const p = parts[x];
      if (!p) throw fileError(file, `missing tensor "${names[i]}" (needed with the other two for ${c})`);
      return p;
    }) as [Entry, Entry, Entry];
    for (const [i, p] of [kk, v].entries()) {
      if (p.shape.length !== q.shape.length || p.shape.some((d, j) => d !== q.shape[j])) {
        throw fileError(file, `tensor "${names[i + 1]}" has shape ${JSON.stringify(p.shape)}, expected ${JSON.stringify(q.shape)} like ${names[0]}`);
      }
    }
    // Mixed dtypes across q/k/v would be unusual; they are concatenated in float32 then.
    const same = q.dtype === kk.dtype && q.dtype === v.dtype;
    sources.set(c, {
      dtype: same ? q.dtype : 'float32',
      shape: [3 * (q.shape[0] ?? 0), ...q.shape.slice(1)],
      origin: `${hfBase}{q,k,v}_proj.${wb}, concatenated`,
      get: () => {
        const ts = [q, kk, v].map((p) => p.get());
        return concatDim0(same ? ts : ts.map((t) => rawTensor('float32', t.shape, Float32Array.from(toFloat32(t)))));
      },
    });
  }
  return { sources, ignored };
}

/** Bytes a set of weights occupies in its stored dtypes. */
export function storedBytes(weights: ClipWeights): number {
  let n = 0;
  for (const t of weights.tensors.values()) n += numel(t.shape) * DTYPE_SIZE[t.dtype];
  return n;
}

/** A UserError for callers that need a specific architecture: says which dimension differs. */
export function assertSameConfig(a: ClipConfig, b: ClipConfig, what: string): void {
  const diffs: string[] = [];
  const walk = (x: unknown, y: unknown, p: string) => {
    if (typeof x === 'object' && x && typeof y === 'object' && y) {
      for (const k of Object.keys(x)) walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], p ? `${p}.${k}` : k);
    } else if (x !== y) diffs.push(`${p} ${String(x)} vs ${String(y)}`);
  };
  walk(a, b, '');
  if (diffs.length) throw new UserError(`${what}: architectures differ (${diffs.join(', ')})`);
}
