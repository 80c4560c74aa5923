/**
 * safetensors reading and writing (https://github.com/huggingface/safetensors), without the engine.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON, then the data section. The JSON maps each tensor
 * name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data section) plus an optional
 * "__metadata__" string->string map.
 *
 * Reading validates the header fully before touching tensor bytes, so a broken file fails with a message naming
 * the file and the tensor, never with a garbled tensor. The file is read into one Buffer with positional reads
 * (no 2 GiB readFileSync limit) and every tensor is a view of it: a 600 MB ViT-B/16 costs one read and no copies.
 */
import * as fs from 'node:fs';
import { fileError, UserError } from '../util/errors.js';
import { openForReading, writeFileAtomic } from '../util/fs.js';
import { DTYPE_SIZE, type DType, type RawTensor, numel } from './tensor.js';

/** safetensors dtype names <-> RawTensor dtypes (the subset the project uses). */
const FROM_ST: Readonly<Record<string, DType>> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F64: 'float64',
  I64: 'int64',
  I32: 'int32',
  U8: 'uint8',
  BOOL: 'bool',
};
const TO_ST: Readonly<Record<DType, string>> = {
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  float64: 'F64',
  int64: 'I64',
  int32: 'I32',
  uint8: 'U8',
  bool: 'BOOL',
};
/** Dtypes that exist in the format but that this project does not read (named in the error). */
const KNOWN_UNSUPPORTED = new Set(['I8', 'I16', 'U16', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2', 'C64', 'F4', 'F6_E2M3', 'F6_E3M2', 'E8M0', 'F8_E8M0']);

/** The reference implementation refuses headers above 100 MB; so do we (a guard against garbage lengths). */
const MAX_HEADER = 100_000_000;

export interface SafetensorsFile {
  /** Tensors in header order. Each `data` is a view of one shared buffer. */
  tensors: Map<string, RawTensor>;
  /** The `__metadata__` map ({} if absent). */
  metadata: Record<string, string>;
}

export interface HeaderEntry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

/** Reads and validates a whole safetensors file. Errors are UserErrors naming the file (and the tensor). */
export function readSafetensors(file: string): SafetensorsFile {
  const bytes = readWholeFile(file);
  return parseSafetensors(bytes, file);
}

/** Only the header: names, dtypes, shapes, offsets, metadata. Reads a few KB, whatever the file size. */
export function readSafetensorsHeader(file: string): { entries: HeaderEntry[]; metadata: Record<string, string>; dataStart: number; fileSize: number } {
  const fd = openForReading(file);
  try {
    const fileSize = fs.fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(fileSize, 8));
    fs.readSync(fd, head, 0, head.length, 0);
    const n = headerLength(head, fileSize, file);
    const json = Buffer.alloc(n);
    fs.readSync(fd, json, 0, n, 8);
    const { entries, metadata } = parseHeader(json, file);
    checkEntries(entries, fileSize - 8 - n, file, fileSize, 8 + n);
    return { entries, metadata, dataStart: 8 + n, fileSize };
  } finally {
    fs.closeSync(fd);
  }
}

/** Parses safetensors bytes already in memory (`file` is only used in messages). Tensors are views of `bytes`. */
export function parseSafetensors(bytes: Uint8Array, file = '<buffer>'): SafetensorsFile {
  const n = headerLength(bytes, bytes.byteLength, file);
  const { entries, metadata } = parseHeader(bytes.subarray(8, 8 + n), file);
  const dataStart = 8 + n;
  checkEntries(entries, bytes.byteLength - dataStart, file, bytes.byteLength, dataStart);
  const tensors = new Map<string, RawTensor>();
  for (const e of entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: bytes.subarray(dataStart + e.begin, dataStart + e.end) });
  }
  return { tensors, metadata };
}

function headerLength(head: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8) throw fileError(file, `not a safetensors file: only ${fileSize} bytes (the 8-byte header length is missing)`);
  const view = new DataView(head.buffer, head.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) {
    throw fileError(file, `not a safetensors file: header length ${n} is implausible (more than ${MAX_HEADER} bytes)`);
  }
  const len = Number(n);
  if (8 + len > fileSize) {
    throw fileError(file, `truncated or not a safetensors file: the header claims ${len} bytes but the file has only ${fileSize} bytes`);
  }
  return len;
}

function parseHeader(json: Uint8Array, file: string): { entries: HeaderEntry[]; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8'));
  } catch (e) {
    throw fileError(file, `not a safetensors file: the header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw fileError(file, 'not a safetensors file: the header is not a JSON object');
  }
  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw fileError(file, '__metadata__ must be an object of strings');
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') throw fileError(file, `__metadata__["${k}"] must be a string, found ${typeof v}`);
        metadata[k] = v;
      }
      continue;
    }
    const bad = (what: string) => fileError(file, `tensor "${name}": ${what}`);
    if (typeof value !== 'object' || value === null) throw bad('header entry is not an object');
    const v = value as Record<string, unknown>;
    const st = v['dtype'];
    if (typeof st !== 'string') throw bad('missing dtype');
    const dtype = FROM_ST[st];
    if (!dtype) {
      throw bad(KNOWN_UNSUPPORTED.has(st) ? `dtype ${st} is not supported (supported: ${Object.keys(FROM_ST).join(', ')})` : `unknown dtype "${st}"`);
    }
    const shape = v['shape'];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw bad(`shape must be an array of non-negative integers, found ${JSON.stringify(shape)}`);
    }
    const off = v['data_offsets'];
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw bad(`data_offsets must be [begin, end], found ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as [number, number];
    if (end < begin) throw bad(`data_offsets [${begin}, ${end}] end before they begin`);
    const expected = numel(shape as number[]) * DTYPE_SIZE[dtype];
    if (end - begin !== expected) {
      throw bad(`${st} ${JSON.stringify(shape)} needs ${expected} bytes but data_offsets [${begin}, ${end}] give ${end - begin}`);
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  return { entries, metadata };
}

/** Offsets inside the data section, no two tensors overlapping; a short file names the first tensor cut off. */
function checkEntries(entries: HeaderEntry[], dataBytes: number, file: string, fileSize: number, dataStart: number): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let last: HeaderEntry | null = null; // the non-empty tensor reaching furthest so far
  for (const e of sorted) {
    if (e.end === e.begin) continue; // empty tensors occupy no bytes
    if (last && e.begin < last.end) {
      throw fileError(file, `tensors "${last.name}" [${last.begin}, ${last.end}) and "${e.name}" [${e.begin}, ${e.end}) overlap`);
    }
    last = e;
  }
  for (const e of sorted) {
    if (e.end > dataBytes) {
      const need = dataStart + entries.reduce((m, x) => Math.max(m, x.end), 0); // no spread: headers can list 100,000s
      throw fileError(
        file,
        `truncated: tensor "${e.name}" needs bytes [${e.begin}, ${e.end}) of the data section but only ${dataBytes} are present ` +
          `(file is ${fileSize} bytes, the header describes ${need})`,
      );
    }
  }
}

/**
 * Reads a whole file into one Buffer with positional reads (readFileSync refuses files over 2 GiB).
 * Errors name the file.
 */
export function readWholeFile(file: string): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw fileError(file, err.code === 'ENOENT' ? 'no such file' : `cannot open: ${err.message}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw fileError(file, 'is a directory, expected a file');
    const size = st.size;
    const buf = Buffer.allocUnsafe(size);
    const CHUNK = 1 << 30;
    let at = 0;
    while (at < size) {
      const got = fs.readSync(fd, buf, at, Math.min(CHUNK, size - at), at);
      if (got === 0) throw fileError(file, `short read at byte ${at} of ${size}`);
      at += got;
    }
    return buf;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw fileError(file, `cannot read: ${(e as Error).message}`);
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Writing

/** safetensors' dtype order (the Rust `Dtype` enum); the reference writer lays tensors out by it, descending. */
const DTYPE_RANK: Readonly<Record<DType, number>> = {
  bool: 0,
  uint8: 1,
  float16: 7,
  bfloat16: 8,
  int32: 9,
  float32: 11,
  float64: 12,
  int64: 13,
};

/**
 * Serialises tensors like the reference implementation: tensors ordered by dtype (widest first) and then by
 * name — so every tensor starts aligned to its element size — header keys in that same order after
 * "__metadata__", compact JSON padded with spaces to a multiple of 8 bytes.
 */
export function serializeSafetensors(
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Buffer {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  list.sort(([an, a], [bn, b]) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || (an < bn ? -1 : an > bn ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new UserError(`safetensors metadata "${k}" must be a string`);
    }
    header['__metadata__'] = metadata;
  }
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new UserError('a tensor cannot be named "__metadata__"');
    const expected = numel(t.shape) * DTYPE_SIZE[t.dtype];
    if (t.data.byteLength !== expected) {
      throw new UserError(`tensor "${name}": ${t.dtype} ${JSON.stringify(t.shape)} needs ${expected} bytes, has ${t.data.byteLength}`);
    }
    header[name] = { dtype: TO_ST[t.dtype], shape: t.shape, data_offsets: [offset, offset + expected] };
    offset += expected;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = Buffer.allocUnsafe(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let at = 8 + json.length;
  for (const [, t] of list) {
    out.set(t.data, at);
    at += t.data.byteLength;
  }
  return out;
}

/** Writes a safetensors file atomically (temporary file + rename). */
export function writeSafetensors(
  file: string,
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): void {
  writeFileAtomic(file, serializeSafetensors(tensors, metadata));
}
