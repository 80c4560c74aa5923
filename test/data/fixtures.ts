/**
 * Helpers for the data tests: tiny images, CoOp-layout trees, MATLAB v5 files, safetensors reading.
 * (No tests here; node --test runs this file too and finds none.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import sharp from 'sharp';
import { sharedDir } from '../helpers.js';

export const splitsDir = path.join(sharedDir, 'data', 'splits');
export const officialFewshotDir = path.join(sharedDir, 'data', 'fewshot');

/** Writes a small image whose pixels depend on `seed` (so images differ). Format from the extension. */
export async function writeImage(file: string, width = 12, height = 9, seed = 0): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const px = Buffer.alloc(width * height * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 31 + seed * 97) & 255;
  const img = sharp(px, { raw: { width, height, channels: 3 } });
  const ext = path.extname(file).toLowerCase();
  if (ext === '.png') await img.png().toFile(file);
  else if (ext === '.webp') await img.webp({ lossless: true }).toFile(file);
  else await img.jpeg({ quality: 90 }).toFile(file);
}

/** Writes many images, a few at a time. */
export async function writeImages(files: string[], width = 12, height = 9): Promise<void> {
  for (let i = 0; i < files.length; i += 16) {
    await Promise.all(files.slice(i, i + 16).map((f, j) => writeImage(f, width, height, i + j)));
  }
}

/**
 * An imagefolder dataset: `root/<class>/<i>.png`, `perClass` 40×40 images per class, each class its own colour
 * (with a little texture), so a tiny CLIP can tell some of them apart.
 */
export async function makeImageFolder(root: string, classes: string[], perClass: number): Promise<void> {
  const palette = [[200, 30, 30], [30, 200, 30], [30, 30, 200], [220, 220, 30], [200, 30, 200], [30, 200, 200]];
  for (let c = 0; c < classes.length; c++) {
    const colour = palette[c % palette.length];
    fs.mkdirSync(path.join(root, classes[c]), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const px = Buffer.alloc(40 * 40 * 3);
      for (let p = 0; p < 1600; p++) {
        px[p * 3] = Math.min(255, colour[0] + ((p * 7 + i * 13) % 40));
        px[p * 3 + 1] = Math.min(255, colour[1] + ((p * 3 + i) % 30));
        px[p * 3 + 2] = colour[2];
      }
      await sharp(px, { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(path.join(root, classes[c], `${i}.png`));
    }
  }
}

export type Entry = [string, number, string];

export function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(value));
}

/**
 * A split-file dataset: images `<imageDir>/<relpath>` for every entry, and the split file.
 * `classes` = [relative folder or file prefix, label, classname]; `n` = [train, val, test] per class.
 */
export async function makeSplitTree(
  datasetDir: string,
  imageDir: string,
  splitFile: string,
  classes: { prefix: string; label: number; name: string; ext?: string }[],
  n: [number, number, number] = [3, 2, 2],
): Promise<{ train: Entry[]; val: Entry[]; test: Entry[] }> {
  const split = { train: [] as Entry[], val: [] as Entry[], test: [] as Entry[] };
  const sets = ['train', 'val', 'test'] as const;
  const files: string[] = [];
  for (const c of classes) {
    sets.forEach((s, si) => {
      for (let i = 0; i < n[si]; i++) {
        const rel = `${c.prefix}${s}_${i}${c.ext ?? '.jpg'}`;
        split[s].push([rel, c.label, c.name]);
        files.push(path.join(datasetDir, imageDir, rel));
      }
    });
  }
  await writeImages(files);
  writeJson(path.join(datasetDir, splitFile), split);
  return split;
}

// ---- MATLAB v5 writer (enough for the Stanford Cars / Flowers102 files) ----

export type MatIn = number[] | string | { cell: MatIn[] } | { struct: Record<string, MatIn>[] };

function element(type: number, data: Buffer): Buffer {
  const tag = Buffer.alloc(8);
  tag.writeUInt32LE(type, 0);
  tag.writeUInt32LE(data.length, 4);
  const pad = Buffer.alloc((8 - (data.length % 8)) % 8);
  return Buffer.concat([tag, data, pad]);
}

function u32s(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32LE(v, i * 4));
  return b;
}

function i32s(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeInt32LE(v, i * 4));
  return b;
}

function matrix(name: string, v: MatIn): Buffer {
  const parts: Buffer[] = [];
  const header = (cls: number, dims: number[]) => {
    parts.push(element(6, u32s([cls, 0])), element(5, i32s(dims)), element(1, Buffer.from(name, 'latin1')));
  };
  if (typeof v === 'string') {
    header(4, [1, v.length]);
    const b = Buffer.alloc(v.length * 2);
    for (let i = 0; i < v.length; i++) b.writeUInt16LE(v.charCodeAt(i), i * 2);
    parts.push(element(4, b));
  } else if (Array.isArray(v)) {
    header(6, [1, v.length]);
    const b = Buffer.alloc(v.length * 8);
    v.forEach((x, i) => b.writeDoubleLE(x, i * 8));
    parts.push(element(9, b));
  } else if ('cell' in v) {
    header(1, [1, v.cell.length]);
    for (const c of v.cell) parts.push(matrix('', c));
  } else {
    header(2, [1, v.struct.length]);
    const fields = Object.keys(v.struct[0] ?? {});
    parts.push(element(5, i32s([32])));
    const names = Buffer.alloc(fields.length * 32);
    fields.forEach((f, i) => names.write(f, i * 32, 'latin1'));
    parts.push(element(1, names));
    for (const rec of v.struct) for (const f of fields) parts.push(matrix('', rec[f]));
  }
  return element(14, Buffer.concat(parts));
}

/** Writes a level-5 .mat file; `compress` stores each variable zlib-compressed (as MATLAB -v7 does). */
export function writeMat(file: string, vars: Record<string, MatIn>, compress = false): void {
  const header = Buffer.alloc(128, ' ');
  header.write('MATLAB 5.0 MAT-file, written by the mpl tests', 0, 'latin1');
  header.fill(0, 116, 124);
  header.writeUInt16LE(0x0100, 124);
  header.write('IM', 126, 'latin1');
  const body = Object.entries(vars).map(([name, v]) => {
    const m = matrix(name, v);
    if (!compress) return m;
    const z = zlib.deflateSync(m);
    const tag = Buffer.alloc(8);
    tag.writeUInt32LE(15, 0);
    tag.writeUInt32LE(z.length, 4);
    return Buffer.concat([tag, z]);
  });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.concat([header, ...body]));
}

/** Reads one tensor of a safetensors file (F32 only): 8-byte LE header length, JSON header, raw data. */
export function readSafetensorsF32(file: string, name: string): { shape: number[]; data: Float32Array; metadata?: Record<string, string> } {
  const buf = fs.readFileSync(file);
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  const t = header[name];
  if (!t || t.dtype !== 'F32') throw new Error(`${file}: no F32 tensor ${name}`);
  const [a, b] = t.data_offsets as [number, number];
  const start = 8 + headerLen + a;
  const copy = new Uint8Array(buf.subarray(start, 8 + headerLen + b)); // aligned copy
  return { shape: t.shape, data: new Float32Array(copy.buffer), metadata: header.__metadata__ };
}
