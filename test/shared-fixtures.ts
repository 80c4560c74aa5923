/**
 * The reference files the tests read, from the repository alone: test/fixtures/shared/ holds what the tests
 * use of the project's ../shared folder (golden vectors, split files, official few-shot subsets, official
 * configs; provenance in test/fixtures/shared/README.md), compressed where that pays. `materializeShared()`
 * lays them out as ../shared is laid out, once per checkout, under .cache/test-fixtures/<digest>/:
 *   - `X.gz` files are stored gzipped and written out as `X`;
 *   - golden/tiny_clip.safetensors (OpenAI key names, fp32) is not stored at all: it holds the same values as
 *     golden/tiny_clip_hf.safetensors (Hugging Face names, fp16; every weight is fp16-representable), so it is
 *     made from that file by `hfToOpenAi` below -- a conversion written here independently of
 *     src/backbones/clip/weights.ts (whose own Hugging Face mapping the tests check against it), reproducing the
 *     original file byte for byte (the sha256 below is the original's, checked after writing).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

/** sha256 of ../shared/golden/tiny_clip.safetensors, the file the conversion must reproduce exactly. */
export const TINY_CLIP_SHA256 = 'f143823d54f630bc85d882a888458634896e606b72a3613b4b9babf45169f8fb';

interface Entry {
  dtype: string;
  shape: number[];
  data: Buffer;
}

function readSafetensorsFile(bytes: Buffer): Map<string, Entry> {
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, Entry>();
  for (const [k, v] of Object.entries(header)) {
    if (k === '__metadata__') continue;
    out.set(k, { dtype: v.dtype, shape: v.shape, data: bytes.subarray(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1]) });
  }
  return out;
}

/** safetensors as Python's `safetensors.torch.save_file` writes it: json.dumps spacing, header padded with spaces to 8 bytes. */
function writeSafetensorsFile(entries: Array<[string, Entry]>): Buffer {
  let offset = 0;
  const parts = entries.map(([k, e]) => {
    const begin = offset;
    offset += e.data.length;
    return `${JSON.stringify(k)}: {"dtype": "${e.dtype}", "shape": [${e.shape.join(', ')}], "data_offsets": [${begin}, ${offset}]}`;
  });
  let header = `{${parts.join(', ')}}`;
  header += ' '.repeat((8 - (Buffer.byteLength(header) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(header)));
  return Buffer.concat([len, Buffer.from(header, 'utf8'), ...entries.map(([, e]) => e.data)]);
}

/** IEEE half -> single, bit by bit (subnormals, infinities and NaN included). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** An F16 tensor as F32 bytes, optionally transposed (2-D). */
function toF32(e: Entry, transpose = false): Entry {
  if (e.dtype !== 'F16') throw new Error(`expected F16, got ${e.dtype}`);
  const n = e.data.length / 2;
  const out = Buffer.alloc(n * 4);
  const [rows, cols] = e.shape.length === 2 ? e.shape : [1, n];
  for (let i = 0; i < n; i++) {
    const v = halfToFloat(e.data.readUInt16LE(2 * i));
    const j = transpose ? (i % cols) * rows + Math.floor(i / cols) : i;
    out.writeFloatLE(v, 4 * j);
  }
  return { dtype: 'F32', shape: transpose ? [cols, rows] : e.shape.slice(), data: out };
}

const concat0 = (parts: Entry[]): Entry => ({ dtype: 'F32', shape: [parts.reduce((s, p) => s + p.shape[0], 0), ...parts[0].shape.slice(1)], data: Buffer.concat(parts.map((p) => p.data)) });

/**
 * Hugging Face CLIPModel weights -> openai/CLIP's state dict (fp32), in the order `model.state_dict()` lists
 * them: q/k/v projections stacked into in_proj, the two projections transposed (transformers'
 * convert_clip_original_pytorch_to_hf.py, run backwards).
 */
export function hfToOpenAi(hfBytes: Buffer): Buffer {
  const hf = readSafetensorsFile(hfBytes);
  const get = (k: string, transpose = false): Entry => {
    const e = hf.get(k);
    if (!e) throw new Error(`tiny_clip_hf.safetensors: no ${k}`);
    return toF32(e, transpose);
  };
  const layers = (tower: string) => new Set([...hf.keys()].map((k) => new RegExp(`^${tower}\\.encoder\\.layers\\.(\\d+)\\.`).exec(k)?.[1]).filter((x) => x !== undefined)).size;
  const blocks = (tower: string, prefix: string): Array<[string, Entry]> =>
    Array.from({ length: layers(tower) }, (_, i) => {
      const h = `${tower}.encoder.layers.${i}`;
      const o = `${prefix}.${i}`;
      const qkv = (what: string) => concat0(['q', 'k', 'v'].map((x) => get(`${h}.self_attn.${x}_proj.${what}`)));
      return [
        [`${o}.attn.in_proj_weight`, qkv('weight')],
        [`${o}.attn.in_proj_bias`, qkv('bias')],
        [`${o}.attn.out_proj.weight`, get(`${h}.self_attn.out_proj.weight`)],
        [`${o}.attn.out_proj.bias`, get(`${h}.self_attn.out_proj.bias`)],
        [`${o}.ln_1.weight`, get(`${h}.layer_norm1.weight`)],
        [`${o}.ln_1.bias`, get(`${h}.layer_norm1.bias`)],
        [`${o}.mlp.c_fc.weight`, get(`${h}.mlp.fc1.weight`)],
        [`${o}.mlp.c_fc.bias`, get(`${h}.mlp.fc1.bias`)],
        [`${o}.mlp.c_proj.weight`, get(`${h}.mlp.fc2.weight`)],
        [`${o}.mlp.c_proj.bias`, get(`${h}.mlp.fc2.bias`)],
        [`${o}.ln_2.weight`, get(`${h}.layer_norm2.weight`)],
        [`${o}.ln_2.bias`, get(`${h}.layer_norm2.bias`)],
      ] as Array<[string, Entry]>;
    }).flat();
  const entries: Array<[string, Entry]> = [
    ['positional_embedding', get('text_model.embeddings.position_embedding.weight')],
    ['text_projection', get('text_projection.weight', true)],
    ['logit_scale', get('logit_scale')],
    ['visual.class_embedding', get('vision_model.embeddings.class_embedding')],
    ['visual.positional_embedding', get('vision_model.embeddings.position_embedding.weight')],
    ['visual.proj', get('visual_projection.weight', true)],
    ['visual.conv1.weight', get('vision_model.embeddings.patch_embedding.weight')],
    ['visual.ln_pre.weight', get('vision_model.pre_layrnorm.weight')],
    ['visual.ln_pre.bias', get('vision_model.pre_layrnorm.bias')],
    ...blocks('vision_model', 'visual.transformer.resblocks'),
    ['visual.ln_post.weight', get('vision_model.post_layernorm.weight')],
    ['visual.ln_post.bias', get('vision_model.post_layernorm.bias')],
    ...blocks('text_model', 'transformer.resblocks'),
    ['token_embedding.weight', get('text_model.embeddings.token_embedding.weight')],
    ['ln_final.weight', get('text_model.final_layer_norm.weight')],
    ['ln_final.bias', get('text_model.final_layer_norm.bias')],
  ];
  return writeSafetensorsFile(entries);
}

function listFiles(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const r = path.join(rel, e.name);
    return e.isDirectory() ? listFiles(dir, r) : [r];
  });
}

/**
 * The stored fixtures laid out as ../shared (golden/, data/), under `cacheRoot`; made once per content
 * (a folder named by a digest of the stored files' names and sizes) and written atomically (a temporary
 * folder renamed into place), so test processes never see half of it.
 */
export function materializeShared(stored: string, cacheRoot: string): string {
  const files = listFiles(stored).sort();
  const digest = createHash('sha256');
  for (const f of files) digest.update(`${f}\0${fs.statSync(path.join(stored, f)).size}\0`);
  digest.update(TINY_CLIP_SHA256);
  const dir = path.join(cacheRoot, digest.digest('hex').slice(0, 16));
  if (fs.existsSync(path.join(dir, '.complete'))) return dir;
  fs.mkdirSync(cacheRoot, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(cacheRoot, '.tmp-'));
  try {
    for (const f of files) {
      const src = path.join(stored, f);
      const gz = f.endsWith('.gz');
      const dest = path.join(tmp, gz ? f.slice(0, -3) : f);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      if (gz) fs.writeFileSync(dest, zlib.gunzipSync(fs.readFileSync(src)));
      else fs.copyFileSync(src, dest);
    }
    const hf = path.join(tmp, 'golden', 'tiny_clip_hf.safetensors');
    const openai = hfToOpenAi(fs.readFileSync(hf));
    const sha = createHash('sha256').update(openai).digest('hex');
    if (sha !== TINY_CLIP_SHA256) throw new Error(`tiny_clip.safetensors made from tiny_clip_hf.safetensors has sha256 ${sha}, not the original's ${TINY_CLIP_SHA256}`);
    fs.writeFileSync(path.join(tmp, 'golden', 'tiny_clip.safetensors'), openai);
    fs.writeFileSync(path.join(tmp, '.complete'), '');
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      // another test process finished first: its copy is the same
      if (!fs.existsSync(path.join(dir, '.complete'))) throw e;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}
