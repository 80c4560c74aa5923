/**
 * RawTensor: a tensor as plain bytes, the currency between the file readers (safetensors, PyTorch zip) and
 * the engine. It has no dependency on libtorch: the readers hand out views of the file's bytes and the caller
 * turns them into engine tensors. Also the exact dtype conversions the loaders need (fp16/bf16 -> fp32).
 */
import * as os from 'node:os';

export type DType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'uint8' | 'bool';

/**
 * A contiguous (C-order) tensor. `data` holds exactly numel × itemsize little-endian bytes. It is usually a
 * VIEW of a larger buffer (the whole file): copy it before mutating, and note that keeping one view alive keeps
 * the whole file's buffer alive.
 */
export interface RawTensor {
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  uint8: 1,
  bool: 1,
};

export const ALL_DTYPES = Object.keys(DTYPE_SIZE) as DType[];

/** The host's byte order. Every supported platform is little-endian; the typed-array fast paths rely on it. */
const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function byteLength(dtype: DType, shape: readonly number[]): number {
  return numel(shape) * DTYPE_SIZE[dtype];
}

export function isRawTensor(v: unknown): v is RawTensor {
  if (typeof v !== 'object' || v === null) return false;
  const t = v as Partial<RawTensor>;
  return typeof t.dtype === 'string' && Array.isArray(t.shape) && t.data instanceof Uint8Array;
}

/** A RawTensor over the bytes of a typed array (no copy). */
export function rawTensor(
  dtype: DType,
  shape: number[],
  values: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array,
): RawTensor {
  const data = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (data.byteLength !== byteLength(dtype, shape)) {
    throw new Error(`rawTensor: ${dtype} ${JSON.stringify(shape)} needs ${byteLength(dtype, shape)} bytes, got ${data.byteLength}`);
  }
  return { dtype, shape: [...shape], data };
}

/** Convenience for tests and writers: a float32 tensor from numbers. */
export function float32Tensor(shape: number[], values: ArrayLike<number>): RawTensor {
  return rawTensor('float32', shape, Float32Array.from(values));
}

// ---------------------------------------------------------------------------------------------------------
// fp16 / bf16. Every fp16 and bf16 value is exactly representable in fp32, so upcasting is exact: fp16 via a
// 65536-entry table (built once, 256 KiB), bf16 by shifting its 16 bits into the top of an fp32.

let HALF_TABLE: Float32Array | null = null;

function halfTable(): Float32Array {
  if (HALF_TABLE) return HALF_TABLE;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    let v: number;
    if (exp === 0) v = mant * 2 ** -24; // subnormal (or zero)
    else if (exp === 31) v = mant ? NaN : Infinity;
    else v = (1 + mant / 1024) * 2 ** (exp - 15);
    t[h] = sign * v;
  }
  HALF_TABLE = t;
  return t;
}

/** Little-endian uint16 words of `bytes` (a view when aligned, else a copy). */
function u16(bytes: Uint8Array): Uint16Array {
  const n = bytes.byteLength >> 1;
  if (LITTLE_ENDIAN_HOST && bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = bytes[2 * i]! | (bytes[2 * i + 1]! << 8);
  return out;
}

/** Exact fp16 -> fp32 of little-endian fp16 bytes. */
export function float16ToFloat32(bytes: Uint8Array): Float32Array {
  const table = halfTable();
  const src = u16(bytes);
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]!]!;
  return out;
}

/** Exact bf16 -> fp32 of little-endian bf16 bytes. */
export function bfloat16ToFloat32(bytes: Uint8Array): Float32Array {
  const src = u16(bytes);
  const bits = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
  return new Float32Array(bits.buffer);
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** fp32 -> fp16 bits, round to nearest even (as torch's `.half()`); overflow -> ±inf, NaN kept. */
export function float32ToFloat16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    F32[0] = values[i]!;
    const x = U32[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    let h: number;
    if (exp === 0xff) {
      h = sign | 0x7c00 | (mant ? 0x200 : 0); // inf / NaN
    } else {
      const e = exp - 127 + 15;
      if (e >= 31) {
        h = sign | 0x7c00; // overflow
      } else if (e <= 0) {
        // subnormal fp16 (or underflow to zero): shift the mantissa with its implicit bit, round to even
        if (e < -10) {
          h = sign;
        } else {
          mant |= 0x800000;
          const shift = 14 - e;
          const half = 1 << (shift - 1);
          const rest = mant & ((1 << shift) - 1);
          let m = mant >>> shift;
          if (rest > half || (rest === half && m & 1)) m++;
          h = sign | m;
        }
      } else {
        const rest = mant & 0x1fff;
        let m = mant >>> 13;
        let ee = e;
        if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
          m++;
          if (m === 0x400) {
            m = 0;
            ee++;
          }
        }
        h = ee >= 31 ? sign | 0x7c00 : sign | (ee << 10) | m;
      }
    }
    out[i] = h;
  }
  return out;
}

/** fp32 -> bf16 bits, round to nearest even (as torch's `.bfloat16()`). */
export function float32ToBFloat16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    F32[0] = values[i]!;
    const x = U32[0]!;
    if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) {
      out[i] = (x >>> 16) | 0x40; // quiet NaN
    } else {
      out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
    }
  }
  return out;
}

/**
 * Any RawTensor as a Float32Array. float32 data that is 4-byte aligned comes back as a VIEW of the file's bytes
 * (no copy; copy it before mutating); fp16/bf16 are upcast exactly; float64 and integers are converted (rounded
 * where fp32 cannot hold them).
 */
export function toFloat32(raw: RawTensor): Float32Array {
  const { data } = raw;
  switch (raw.dtype) {
    case 'float32':
      if (LITTLE_ENDIAN_HOST && data.byteOffset % 4 === 0) {
        return new Float32Array(data.buffer, data.byteOffset, data.byteLength >> 2);
      }
      return new Float32Array(copyBytes(data).buffer);
    case 'float16':
      return float16ToFloat32(data);
    case 'bfloat16':
      return bfloat16ToFloat32(data);
    case 'float64':
      return Float32Array.from(typedView(raw) as Float64Array);
    case 'int64':
      return Float32Array.from(typedView(raw) as BigInt64Array, (v) => Number(v));
    case 'int32':
      return Float32Array.from(typedView(raw) as Int32Array);
    case 'uint8':
    case 'bool':
      return Float32Array.from(data);
  }
}

/**
 * The natural typed array of a RawTensor: Float32Array, Float64Array, BigInt64Array, Int32Array, Uint8Array,
 * or Uint16Array (raw bits) for fp16/bf16. A view when aligned, else a copy.
 */
export function typedView(raw: RawTensor): Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array {
  const size = DTYPE_SIZE[raw.dtype];
  const aligned = LITTLE_ENDIAN_HOST && raw.data.byteOffset % size === 0;
  const d = aligned ? raw.data : copyBytes(raw.data);
  const n = d.byteLength / size;
  switch (raw.dtype) {
    case 'float32':
      return new Float32Array(d.buffer, d.byteOffset, n);
    case 'float64':
      return new Float64Array(d.buffer, d.byteOffset, n);
    case 'int64':
      return new BigInt64Array(d.buffer, d.byteOffset, n);
    case 'int32':
      return new Int32Array(d.buffer, d.byteOffset, n);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(d.buffer, d.byteOffset, n);
    case 'uint8':
    case 'bool':
      return d;
  }
}

/**
 * Index of the first NaN or ±inf element of a floating-point tensor, or -1 (always -1 for integer dtypes).
 * Tests the exponent bits of the raw words (all ones = inf or NaN), about 1.5 ns per element, so a whole
 * ViT-B/16 is checked in a fraction of a second.
 */
export function firstNonFinite(raw: RawTensor): number {
  const { data } = raw;
  const words = (size: number) => {
    const d = LITTLE_ENDIAN_HOST && data.byteOffset % size === 0 ? data : copyBytes(data);
    return size === 4 ? new Uint32Array(d.buffer, d.byteOffset, d.byteLength >> 2) : new Uint16Array(d.buffer, d.byteOffset, d.byteLength >> 1);
  };
  const scan = (w: Uint32Array | Uint16Array, mask: number, step = 1, from = 0): number => {
    for (let i = from; i < w.length; i += step) if ((w[i]! & mask) === mask) return (i - from) / step;
    return -1;
  };
  switch (raw.dtype) {
    case 'float32':
      return scan(words(4), 0x7f800000);
    case 'float64':
      return scan(words(4), 0x7ff00000, 2, 1); // the high word of each little-endian double
    case 'float16':
      return scan(words(2), 0x7c00);
    case 'bfloat16':
      return scan(words(2), 0x7f80);
    default:
      return -1;
  }
}

/** A copy in a fresh, exactly-sized ArrayBuffer (offset 0, so any alignment works). */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.byteLength);
  out.set(bytes);
  return out;
}

/** Converts a float tensor to float32 (a view for float32 input, see toFloat32). */
export function asFloat32Tensor(raw: RawTensor): RawTensor {
  if (raw.dtype === 'float32') return raw;
  return rawTensor('float32', raw.shape, toFloat32(raw));
}

/**
 * Gathers a strided view (as PyTorch stores it: storage, element offset, sizes, strides in elements) into a
 * contiguous C-order byte array. Returns a subarray (no copy) when the view is already contiguous.
 */
export function contiguousFromStrided(
  storage: Uint8Array,
  itemsize: number,
  offset: number,
  shape: readonly number[],
  stride: readonly number[],
): Uint8Array {
  const n = numel(shape);
  const nbytes = n * itemsize;
  if (n === 0) return new Uint8Array(0);
  let contiguous = true;
  let expect = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expect) contiguous = false;
    expect *= shape[d]!;
  }
  if (contiguous) return storage.subarray(offset * itemsize, offset * itemsize + nbytes);
  const out = new Uint8Array(nbytes);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let src = offset;
  for (let i = 0; i < n; i++) {
    const s = src * itemsize;
    for (let b = 0; b < itemsize; b++) out[i * itemsize + b] = storage[s + b]!;
    // odometer increment over the index, tracking the source element offset
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      src += stride[d]!;
      if (idx[d]! < shape[d]!) break;
      src -= stride[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** The transpose of a 2-D tensor (a copy), any dtype. */
export function transpose2d(raw: RawTensor): RawTensor {
  if (raw.shape.length !== 2) throw new Error(`transpose2d: expected a 2-D tensor, got shape ${JSON.stringify(raw.shape)}`);
  const [r, c] = raw.shape as [number, number];
  const size = DTYPE_SIZE[raw.dtype];
  return { dtype: raw.dtype, shape: [c, r], data: contiguousFromStrided(raw.data, size, 0, [c, r], [1, c]) };
}

/** Concatenates tensors of one dtype along dim 0 (a copy). */
export function concatDim0(parts: readonly RawTensor[]): RawTensor {
  const first = parts[0];
  if (!first) throw new Error('concatDim0: nothing to concatenate');
  const rest = first.shape.slice(1);
  let rows = 0;
  let total = 0;
  for (const p of parts) {
    if (p.dtype !== first.dtype) throw new Error(`concatDim0: mixed dtypes ${first.dtype} and ${p.dtype}`);
    if (p.shape.length !== first.shape.length || p.shape.slice(1).some((d, i) => d !== rest[i])) {
      throw new Error(`concatDim0: shapes ${JSON.stringify(first.shape)} and ${JSON.stringify(p.shape)} do not match`);
    }
    rows += p.shape[0]!;
    total += p.data.byteLength;
  }
  const data = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    data.set(p.data, at);
    at += p.data.byteLength;
  }
  return { dtype: first.dtype, shape: [rows, ...rest], data };
}

/** Bytewise equality of dtype, shape and data. */
export function rawEqual(a: RawTensor, b: RawTensor): boolean {
  if (a.dtype !== b.dtype || a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) return false;
  if (a.data.byteLength !== b.data.byteLength) return false;
  return Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(
    Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength),
  );
}
