/** Tensor creation: from JS data, constants, ranges and seeded random draws. */
import { native, type Handle } from './native.js';
import { Generator, Tensor, type DType, type Device, type TypedArray } from './tensor.js';

function defaultDtype(data: TypedArray | number[]): DType {
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Uint16Array) throw new Error('Uint16Array data needs an explicit dtype (float16 or bfloat16)');
  return 'float32';
}

function toTyped(data: number[] | TypedArray, dtype: DType): TypedArray {
  if (!Array.isArray(data)) return data;
  switch (dtype) {
    case 'float32':
      return Float32Array.from(data);
    case 'float64':
      return Float64Array.from(data);
    case 'int64':
      return BigInt64Array.from(data, (v) => BigInt(Math.trunc(v)));
    case 'int32':
      return Int32Array.from(data);
    case 'uint8':
    case 'bool':
      return Uint8Array.from(data, (v) => (dtype === 'bool' ? (v ? 1 : 0) : v));
    default:
      throw new Error(`cannot build a ${dtype} tensor from a plain array; pass float32 data and convert with .to()`);
  }
}

/**
 * A tensor holding a copy of `data` (a typed array or a plain number array), with the given shape
 * (default: 1-D) and dtype (default: from the array type; float32 for number[]). With a CUDA device the
 * data is staged in pinned host memory and copied without blocking.
 */
export function tensor(data: number[] | TypedArray, shape?: number[], dtype?: DType, device?: Device): Tensor {
  const dt = dtype ?? defaultDtype(data);
  const typed = toTyped(data, dt);
  return new Tensor(native.fromBuffer(typed, shape ?? [typed.length], dt, device ?? null) as Handle);
}

export function scalar(value: number, dtype: DType = 'float32'): Tensor {
  return tensor([value], [], dtype);
}

export function zeros(shape: number[], dtype: DType = 'float32', device?: Device): Tensor {
  return new Tensor(native.zeros(shape, dtype, device ?? null));
}
export function ones(shape: number[], dtype: DType = 'float32', device?: Device): Tensor {
  return new Tensor(native.ones(shape, dtype, device ?? null));
}
export function full(shape: number[], value: number, dtype: DType = 'float32', device?: Device): Tensor {
  return new Tensor(native.full(shape, value, dtype, device ?? null));
}
export function arange(start: number, end: number, step = 1, dtype: DType = 'int64', device?: Device): Tensor {
  return new Tensor(native.arange(start, end, step, dtype, device ?? null));
}
export function eye(n: number, dtype: DType = 'float32', device?: Device): Tensor {
  return new Tensor(native.eye(n, dtype, device ?? null));
}
export function randn(shape: number[], generator?: Generator, dtype: DType = 'float32'): Tensor {
  return new Tensor(native.randn(shape, generator?.handle ?? null, dtype, null));
}
export function rand(shape: number[], generator?: Generator, dtype: DType = 'float32'): Tensor {
  return new Tensor(native.rand(shape, generator?.handle ?? null, dtype, null));
}
export function randperm(n: number, generator?: Generator): Tensor {
  return new Tensor(native.randperm(n, generator?.handle ?? null));
}
/** Seeds libtorch's default generator (torch.manual_seed). */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}

export function cat(tensors: Tensor[], dim = 0): Tensor {
  return new Tensor(native.cat(tensors.map((t) => t.handle), dim));
}
export function stack(tensors: Tensor[], dim = 0): Tensor {
  return new Tensor(native.stack(tensors.map((t) => t.handle), dim));
}
export function where(condition: Tensor, a: Tensor, b: Tensor): Tensor {
  return new Tensor(native.where(condition.handle, a.handle, b.handle));
}

/** True when every element of every tensor is finite (one host synchronisation for all of them). */
export function allFinite(tensors: Tensor[]): boolean {
  return native.allFinite(tensors.map((t) => t.handle)) as boolean;
}
