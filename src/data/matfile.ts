import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { fileError } from '../util/errors.js';

/**
 * A small reader for MATLAB level-5 .mat files (the format of Stanford Cars' devkit annotations and
 * Flowers102's `imagelabels.mat`), enough to generate those datasets' splits the way CoOp does with
 * scipy's `loadmat`: numeric arrays, char arrays, cell arrays and struct arrays, compressed or not,
 * little- or big-endian. MATLAB v7.3 files (HDF5) are not supported.
 */

export interface MatNumeric {
  kind: 'numeric';
  dims: number[];
  /** Column-major values (real part). */
  data: number[];
}
export interface MatChar {
  kind: 'char';
  dims: number[];
  /** One string per row (a 1xN char array is one string). */
  rows: string[];
}
export interface MatCell {
  kind: 'cell';
  dims: number[];
  /** Column-major elements. */
  cells: MatValue[];
}
export interface MatStruct {
  kind: 'struct';
  dims: number[];
  fields: string[];
  /** Column-major elements, each a record of the fields. */
  elements: Record<string, MatValue>[];
}
export type MatValue = MatNumeric | MatChar | MatCell | MatStruct;

const miINT8 = 1,
  miUINT8 = 2,
  miINT16 = 3,
  miUINT16 = 4,
  miINT32 = 5,
  miUINT32 = 6,
  miSINGLE = 7,
  miDOUBLE = 9,
  miINT64 = 12,
  miUINT64 = 13,
  miMATRIX = 14,
  miCOMPRESSED = 15,
  miUTF8 = 16,
  miUTF16 = 17,
  miUTF32 = 18;

const mxCELL = 1,
  mxSTRUCT = 2,
  mxOBJECT = 3,
  mxCHAR = 4,
  mxSPARSE = 5;

class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly le: boolean,
    readonly file: string,
  ) {}
  u32(at: number): number {
    return this.le ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at);
  }
  fail(what: string): never {
    throw fileError(this.file, `not a readable MATLAB v5 file (${what})`);
  }
  /** Reads one data element's tag + payload; returns its type and bytes. */
  element(): { type: number; data: Buffer } {
    if (this.pos + 8 > this.buf.length) this.fail('truncated element');
    const first = this.u32(this.pos);
    const small = first >>> 16;
    if (small !== 0) {
      // Small data element: type in the low 16 bits, size in the high 16, payload in the next 4 bytes.
      const type = first & 0xffff;
      const data = this.buf.subarray(this.pos + 4, this.pos + 4 + small);
      this.pos += 8;
      return { type, data };
    }
    const type = first;
    const n = this.u32(this.pos + 4);
    const start = this.pos + 8;
    if (start + n > this.buf.length) this.fail('truncated element');
    const data = this.buf.subarray(start, start + n);
    this.pos = start + n;
    if (type !== miCOMPRESSED) this.pos = (this.pos + 7) & ~7; // 64-bit alignment
    return { type, data };
  }
}

function numbers(type: number, data: Buffer, le: boolean, r: Reader): number[] {
  const out: number[] = [];
  const read = (size: number, f: (at: number) => number) => {
    for (let at = 0; at + size <= data.length; at += size) out.push(f(at));
  };
  switch (type) {
    case miINT8:
      read(1, (a) => data.readInt8(a));
      break;
    case miUINT8:
    case miUTF8:
      read(1, (a) => data.readUInt8(a));
      break;
    case miINT16:
      read(2, (a) => (le ? data.readInt16LE(a) : data.readInt16BE(a)));
      break;
    case miUINT16:
    case miUTF16:
      read(2, (a) => (le ? data.readUInt16LE(a) : data.readUInt16BE(a)));
      break;
    case miINT32:
      read(4, (a) => (le ? data.readInt32LE(a) : data.readInt32BE(a)));
      break;
    case miUINT32:
    case miUTF32:
      read(4, (a) => (le ? data.readUInt32LE(a) : data.readUInt32BE(a)));
      break;
    case miSINGLE:
      read(4, (a) => (le ? data.readFloatLE(a) : data.readFloatBE(a)));
      break;
    case miDOUBLE:
      read(8, (a) => (le ? data.readDoubleLE(a) : data.readDoubleBE(a)));
      break;
    case miINT64:
      read(8, (a) => Number(le ? data.readBigInt64LE(a) : data.readBigInt64BE(a)));
      break;
    case miUINT64:
      read(8, (a) => Number(le ? data.readBigUInt64LE(a) : data.readBigUInt64BE(a)));
      break;
    default:
      r.fail(`unsupported data type ${type}`);
  }
  return out;
}

/** Parses the payload of an miMATRIX element. Returns [name, value]. */
function parseMatrix(data: Buffer, le: boolean, file: string): [string, MatValue] {
  const r = new Reader(data, le, file);
  if (data.length === 0) return ['', { kind: 'numeric', dims: [0, 0], data: [] }];
  const flags = numbers(miUINT32, r.element().data, le, r);
  const cls = flags[0] & 0xff;
  const dims = numbers(miINT32, r.element().data, le, r);
  const nameEl = r.element();
  const name = nameEl.data.toString('latin1');
  const count = dims.reduce((a, b) => a * b, 1);
  if (cls === mxCELL) {
    const cells: MatValue[] = [];
    for (let i = 0; i < count; i++) {
      const el = r.element();
      if (el.type !== miMATRIX) r.fail('cell element is not a matrix');
      cells.push(parseMatrix(el.data, le, file)[1]);
    }
    return [name, { kind: 'cell', dims, cells }];
  }
  if (cls === mxSTRUCT || cls === mxOBJECT) {
    if (cls === mxOBJECT) r.element(); // class name
    const fieldLen = numbers(miINT32, r.element().data, le, r)[0];
    const namesBuf = r.element().data;
    const fields: string[] = [];
    for (let at = 0; at + fieldLen <= namesBuf.length; at += fieldLen) {
      fields.push(namesBuf.subarray(at, at + fieldLen).toString('latin1').replace(/\0.*$/s, ''));
    }
    const elements: Record<string, MatValue>[] = [];
    for (let i = 0; i < count; i++) {
      const rec: Record<string, MatValue> = {};
      for (const f of fields) {
        const el = r.element();
        if (el.type !== miMATRIX) r.fail('struct field is not a matrix');
        rec[f] = parseMatrix(el.data, le, file)[1];
      }
      elements.push(rec);
    }
    return [name, { kind: 'struct', dims, fields, elements }];
  }
  if (cls === mxSPARSE) r.fail('sparse arrays are not supported');
  const real = r.element();
  const values = numbers(real.type, real.data, le, r);
  if (cls === mxCHAR) {
    const [nr, nc] = [dims[0] ?? 0, count / Math.max(1, dims[0] ?? 1)];
    const rows: string[] = [];
    const decode = (codes: number[]) => {
      if (real.type === miUTF8) return Buffer.from(codes).toString('utf8');
      // code by code: a hostile file may hold codes that are not characters, or more than a spread can pass
      let out = '';
      for (const c of codes) {
        if (!Number.isInteger(c) || c < 0 || c > 0x10ffff) r.fail(`character data holds ${c}, not a character code`);
        out += String.fromCodePoint(c);
      }
      return out;
    };
    if (real.type === miUTF8) {
      // UTF-8 char data cannot be indexed by column; only 1-row arrays are common.
      rows.push(decode(values));
    } else {
      for (let i = 0; i < nr; i++) {
        const codes: number[] = [];
        for (let j = 0; j < nc; j++) codes.push(values[j * nr + i]);
        rows.push(decode(codes));
      }
    }
    return [name, { kind: 'char', dims, rows }];
  }
  return [name, { kind: 'numeric', dims, data: values }];
}

/** Reads every top-level variable of a .mat file. */
export function readMatFile(file: string): Map<string, MatValue> {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw fileError(file, 'file not found');
    throw fileError(file, `cannot read file (${(e as Error).message})`);
  }
  if (buf.length < 128) throw fileError(file, 'not a MATLAB v5 file (too short)');
  const endian = buf.toString('latin1', 126, 128);
  if (endian !== 'IM' && endian !== 'MI') {
    if (buf.subarray(0, 8).toString('latin1').includes('HDF')) {
      throw fileError(file, 'is a MATLAB v7.3 (HDF5) file, which is not supported; save it with -v7');
    }
    throw fileError(file, 'not a MATLAB v5 file (bad header)');
  }
  const le = endian === 'IM';
  const vars = new Map<string, MatValue>();
  const r = new Reader(buf, le, file);
  r.pos = 128;
  while (r.pos + 8 <= buf.length) {
    let el = r.element();
    if (el.type === miCOMPRESSED) {
      let inflated: Buffer;
      try {
        inflated = zlib.inflateSync(el.data);
      } catch (e) {
        throw fileError(file, `corrupt compressed variable (${(e as Error).message})`);
      }
      const inner = new Reader(inflated, le, file);
      el = inner.element();
    }
    if (el.type !== miMATRIX) continue;
    const [name, value] = parseMatrix(el.data, le, file);
    vars.set(name, value);
  }
  return vars;
}

/** Helpers for the common cases. */
export function matNumbers(v: MatValue | undefined, what: string, file: string): number[] {
  if (!v || v.kind !== 'numeric') throw fileError(file, `${what} is missing or not a numeric array`);
  return v.data;
}

export function matString(v: MatValue | undefined, what: string, file: string): string {
  if (!v || v.kind !== 'char') throw fileError(file, `${what} is missing or not a string`);
  return v.rows.join('');
}
