/**
 * Writing PyTorch's `torch.save` format (the zip format of PyTorch ≥ 1.6), so that files made here load with a
 * plain `torch.load` — the official trainers' Dassl checkpoints (`model.pth.tar-N`) in particular.
 *
 * The archive is what torch.save writes: `archive/data.pkl` (a protocol-2 pickle of the object),
 * `archive/byteorder`, one `archive/data/<key>` entry per tensor storage and `archive/version`, every entry
 * STORED with its data aligned to 64 bytes. Tensors are pickled as
 * `torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())` with the storage as the
 * persistent id `('storage', torch.FloatStorage, key, 'cpu', numel)`. Only plain containers, numbers,
 * strings, None, booleans, OrderedDict and tensors are written, all of which `torch.load(..., weights_only=True)`
 * accepts, so the files load under PyTorch 2.6's safe default too.
 */
import * as zlib from 'node:zlib';
import { writeFileAtomic } from '../util/fs.js';
import { DTYPE_SIZE, numel, type DType, type RawTensor } from './tensor.js';

/** A Python value this writer can pickle. JS integers become int, other numbers float (PyFloat forces float). */
export type PyValue = null | boolean | number | string | PyFloat | PyTuple | PyValue[] | PyDict | PyTensor | PyParameter;

/** An explicit Python float (1.0 would otherwise become the int 1). */
export class PyFloat {
  constructor(readonly value: number) {}
}
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}
/** dict (or collections.OrderedDict) with string or integer keys, in insertion order. */
export class PyDict {
  constructor(
    readonly entries: Array<[string | number, PyValue]>,
    readonly ordered = false,
  ) {}
}
export class PyTensor {
  constructor(readonly tensor: RawTensor) {}
}
/** An nn.Parameter, as `torch.save(module.weight)` writes one: `torch._utils._rebuild_parameter(tensor, requires_grad, OrderedDict())`. */
export class PyParameter {
  constructor(
    readonly tensor: RawTensor,
    readonly requiresGrad = true,
  ) {}
}

const STORAGE_OF: Partial<Record<DType, string>> = {
  float32: 'FloatStorage',
  float16: 'HalfStorage',
  bfloat16: 'BFloat16Storage',
  float64: 'DoubleStorage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

/** Protocol-2 pickle opcodes used here. */
const OP = {
  PROTO: 0x80,
  STOP: 0x2e, // .
  NONE: 0x4e, // N
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  BININT: 0x4a, // J
  LONG1: 0x8a,
  BINFLOAT: 0x47, // G
  BINUNICODE: 0x58, // X
  EMPTY_LIST: 0x5d, // ]
  APPENDS: 0x65, // e
  EMPTY_DICT: 0x7d, // }
  SETITEMS: 0x75, // u
  EMPTY_TUPLE: 0x29, // )
  MARK: 0x28, // (
  TUPLE: 0x74, // t
  GLOBAL: 0x63, // c
  REDUCE: 0x52, // R
  BINPERSID: 0x51, // Q
} as const;

class PickleWriter {
  private readonly parts: Buffer[] = [];
  readonly storages: RawTensor[] = [];

  byte(b: number): void {
    this.parts.push(Buffer.from([b]));
  }
  raw(b: Buffer): void {
    this.parts.push(b);
  }
  global(module: string, name: string): void {
    this.byte(OP.GLOBAL);
    this.raw(Buffer.from(`${module}\n${name}\n`, 'ascii'));
  }
  int(n: number): void {
    if (Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31) {
      const b = Buffer.alloc(5);
      b[0] = OP.BININT;
      b.writeInt32LE(n, 1);
      this.raw(b);
      return;
    }
    // LONG1: little-endian two's complement, as few bytes as needed
    let v = BigInt(n);
    const bytes: number[] = [];
    while (true) {
      const byte = Number(v & 0xffn);
      bytes.push(byte);
      v >>= 8n;
      if ((v === 0n && (byte & 0x80) === 0) || (v === -1n && (byte & 0x80) !== 0)) break;
    }
    this.raw(Buffer.from([OP.LONG1, bytes.length, ...bytes]));
  }
  float(x: number): void {
    const b = Buffer.alloc(9);
    b[0] = OP.BINFLOAT;
    b.writeDoubleBE(x, 1);
    this.raw(b);
  }
  str(s: string): void {
    const u = Buffer.from(s, 'utf8');
    const h = Buffer.alloc(5);
    h[0] = OP.BINUNICODE;
    h.writeUInt32LE(u.length, 1);
    this.raw(h);
    this.raw(u);
  }
  tuple(items: PyValue[]): void {
    if (items.length === 0) return this.byte(OP.EMPTY_TUPLE);
    this.byte(OP.MARK);
    for (const v of items) this.value(v);
    this.byte(OP.TUPLE);
  }
  tensor(t: RawTensor): void {
    const storage = STORAGE_OF[t.dtype];
    if (!storage) throw new Error(`torch.save writer: no storage type for ${t.dtype}`);
    if (t.data.byteLength !== numel(t.shape) * DTYPE_SIZE[t.dtype]) throw new Error(`torch.save writer: tensor data does not match its shape [${t.shape}]`);
    const key = String(this.storages.length);
    this.storages.push(t);
    const stride: number[] = [];
    let s = 1;
    for (let i = t.shape.length - 1; i >= 0; i--) {
      stride.unshift(s);
      s *= t.shape[i];
    }
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.byte(OP.MARK);
    // the storage: a persistent id tuple ('storage', torch.<T>Storage, key, location, numel)
    this.byte(OP.MARK);
    this.str('storage');
    this.global('torch', storage);
    this.str(key);
    this.str('cpu');
    this.int(numel(t.shape));
    this.byte(OP.TUPLE);
    this.byte(OP.BINPERSID);
    this.int(0);
    this.tuple(t.shape);
    this.tuple(stride);
    this.byte(OP.NEWFALSE);
    this.global('collections', 'OrderedDict');
    this.byte(OP.EMPTY_TUPLE);
    this.byte(OP.REDUCE);
    this.byte(OP.TUPLE);
    this.byte(OP.REDUCE);
  }
  value(v: PyValue): void {
    if (v === null) return this.byte(OP.NONE);
    if (v === true) return this.byte(OP.NEWTRUE);
    if (v === false) return this.byte(OP.NEWFALSE);
    if (typeof v === 'number') return Number.isInteger(v) ? this.int(v) : this.float(v);
    if (typeof v === 'string') return this.str(v);
    if (v instanceof PyFloat) return this.float(v.value);
    if (v instanceof PyTuple) return this.tuple(v.items);
    if (v instanceof PyTensor) return this.tensor(v.tensor);
    if (v instanceof PyParameter) {
      this.global('torch._utils', '_rebuild_parameter');
      this.byte(OP.MARK);
      this.tensor(v.tensor);
      this.byte(v.requiresGrad ? OP.NEWTRUE : OP.NEWFALSE);
      this.global('collections', 'OrderedDict');
      this.byte(OP.EMPTY_TUPLE);
      this.byte(OP.REDUCE);
      this.byte(OP.TUPLE);
      this.byte(OP.REDUCE);
      return;
    }
    if (Array.isArray(v)) {
      this.byte(OP.EMPTY_LIST);
      if (v.length) {
        this.byte(OP.MARK);
        for (const x of v) this.value(x);
        this.byte(OP.APPENDS);
      }
      return;
    }
    if (v instanceof PyDict) {
      if (v.ordered) {
        this.global('collections', 'OrderedDict');
        this.byte(OP.EMPTY_TUPLE);
        this.byte(OP.REDUCE);
      } else this.byte(OP.EMPTY_DICT);
      if (v.entries.length) {
        this.byte(OP.MARK);
        for (const [k, x] of v.entries) {
          this.value(k);
          this.value(x);
        }
        this.byte(OP.SETITEMS);
      }
      return;
    }
    throw new Error(`torch.save writer: cannot pickle ${String(v)}`);
  }
  finish(root: PyValue): Buffer {
    this.raw(Buffer.from([OP.PROTO, 2]));
    this.value(root);
    this.byte(OP.STOP);
    return Buffer.concat(this.parts);
  }
}

/** A zip of STORED entries, each entry's data aligned to 64 bytes (an 'FB' padding extra field, as PyTorch's writer). */
function storedZip(entries: Array<[string, Uint8Array]>): Buffer {
  const chunks: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const nameBytes = Buffer.from(name, 'utf8');
    const headerEnd = offset + 30 + nameBytes.length;
    const pad = (64 - ((headerEnd + 4) % 64)) % 64;
    const extra = Buffer.alloc(4 + pad);
    extra.writeUInt16LE(0x4246, 0); // 'FB'
    extra.writeUInt16LE(pad, 2);
    const crc = zlib.crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(0, 10); // time/date
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.byteLength, 18);
    local.writeUInt32LE(data.byteLength, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(extra.length, 28);
    chunks.push(local, nameBytes, extra, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0);
    dir.writeUInt16LE(20, 4);
    dir.writeUInt16LE(20, 6);
    dir.writeUInt16LE(0, 8);
    dir.writeUInt16LE(0, 10);
    dir.writeUInt32LE(0, 12);
    dir.writeUInt32LE(crc, 16);
    dir.writeUInt32LE(data.byteLength, 20);
    dir.writeUInt32LE(data.byteLength, 24);
    dir.writeUInt16LE(nameBytes.length, 28);
    dir.writeUInt16LE(0, 30); // extra
    dir.writeUInt16LE(0, 32); // comment
    dir.writeUInt32LE(offset, 42);
    central.push(dir, nameBytes);
    offset += 30 + nameBytes.length + extra.length + data.byteLength;
  }
  const dirBytes = Buffer.concat(central);
  if (offset + dirBytes.length > 0xffffffff || entries.length > 0xffff) throw new Error('torch.save writer: archives over 4 GB (zip64) are not supported');
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(dirBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...chunks, dirBytes, end]);
}

/** The bytes of `torch.save(value)`. */
export function torchSaveBytes(value: PyValue): Buffer {
  const w = new PickleWriter();
  const pkl = w.finish(value);
  const entries: Array<[string, Uint8Array]> = [
    ['archive/data.pkl', pkl],
    ['archive/byteorder', Buffer.from('little')],
    ...w.storages.map((t, i): [string, Uint8Array] => [`archive/data/${i}`, t.data]),
    ['archive/version', Buffer.from('3\n')],
  ];
  return storedZip(entries);
}

/** `torch.save(value, file)`, written atomically. */
export function torchSave(file: string, value: PyValue): void {
  writeFileAtomic(file, torchSaveBytes(value));
}
