/**
 * The TypeScript face of a libtorch tensor. A Tensor owns one native handle; it is freed by dispose(),
 * normally through the scope that created it (see scope.ts: tidy/keep), never by the garbage collector.
 */
import { native, type GenHandle, type Handle } from './native.js';
import { track, untrack } from './scope.js';

import { DTYPE_SIZE, rawTensor, type DType, type RawTensor } from '../io/tensor.js';

export type { DType };
export type Device = string; // 'cpu' | 'cuda' | 'cuda:0' ...
export type Reduction = 'mean' | 'sum' | 'none';
export type TypedArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array;

type Operand = Tensor | number;

export function dtypeBytes(d: DType): number {
  return DTYPE_SIZE[d];
}

function h(x: Operand): Handle | number {
  return typeof x === 'number' ? x : x.handle;
}

export class Tensor {
  private _handle: Handle | null;
  private _shape: number[] | null = null;
  /** true once keep() took this tensor out of scope management */
  kept = false;

  /** Wraps a fresh native handle; the tensor joins the innermost tidy() scope, if any. */
  constructor(handle: Handle) {
    this._handle = handle;
    track(this);
  }

  get handle(): Handle {
    if (this._handle === null) throw new Error('tensor used after dispose()');
    return this._handle;
  }

  get isDisposed(): boolean {
    return this._handle === null;
  }

  /** Frees the native memory now. Safe to call twice. */
  dispose(): void {
    if (this._handle !== null) {
      native.dispose(this._handle);
      this._handle = null;
      untrack(this);
    }
  }

  /** Takes the tensor out of every scope: it lives until dispose() is called explicitly. */
  keep(): this {
    this.kept = true;
    untrack(this);
    return this;
  }

  // ---- metadata ---------------------------------------------------------------------------------
  get shape(): number[] {
    if (!this._shape) this._shape = native.shape(this.handle) as number[];
    return this._shape;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get dtype(): DType {
    return native.dtype(this.handle) as DType;
  }
  get device(): Device {
    return native.device(this.handle) as string;
  }
  size(dim: number): number {
    const s = this.shape;
    return s[dim < 0 ? s.length + dim : dim];
  }

  // ---- autograd ---------------------------------------------------------------------------------
  get requiresGrad(): boolean {
    return native.requiresGrad(this.handle) as boolean;
  }
  set requiresGrad(v: boolean) {
    native.setRequiresGrad(this.handle, v);
  }
  requiresGrad_(v = true): this {
    native.setRequiresGrad(this.handle, v);
    return this;
  }
  get isLeaf(): boolean {
    return native.isLeaf(this.handle) as boolean;
  }
  /** The accumulated gradient (a new handle on the same storage, owned by the current scope), or null. */
  get grad(): Tensor | null {
    const g = native.grad(this.handle) as Handle | null;
    return g === null ? null : new Tensor(g);
  }
  /** Drops the accumulated gradient (like PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    native.zeroGrad(this.handle);
  }
  backward(gradient?: Tensor, retainGraph = false): void {
    native.backward(this.handle, gradient?.handle ?? null, retainGraph);
  }
  detach(): Tensor {
    return new Tensor(native.detach(this.handle));
  }

  // ---- export -----------------------------------------------------------------------------------
  /** A copy of the data as the typed array matching the dtype (float16/bfloat16 as raw Uint16 bits). */
  data(): TypedArray {
    const buf = native.toBuffer(this.handle) as ArrayBuffer;
    switch (this.dtype) {
      case 'float32':
        return new Float32Array(buf);
      case 'float64':
        return new Float64Array(buf);
      case 'int64':
        return new BigInt64Array(buf);
      case 'int32':
        return new Int32Array(buf);
      case 'float16':
      case 'bfloat16':
        return new Uint16Array(buf);
      default:
        return new Uint8Array(buf);
    }
  }
  /** The values as a Float32Array (converting the dtype on the native side when needed). */
  /** The values as a float32 RawTensor (a host copy): what safetensors and torch.save writers take. */
  toRawFloat32(): RawTensor {
    return rawTensor('float32', this.shape, this.toFloat32());
  }
  toFloat32(): Float32Array {
    if (this.dtype === 'float32') return this.data() as Float32Array;
    const t = new Tensor(native.to(this.handle, 'float32', null));
    try {
      return t.data() as Float32Array;
    } finally {
      t.dispose();
    }
  }
  /** The values as plain numbers (int64 converted with Number()). */
  toArray(): number[] {
    const d = this.data();
    if (d instanceof BigInt64Array) return Array.from(d, (v) => Number(v));
    if (d instanceof Uint16Array) return Array.from(this.toFloat32());
    return Array.from(d as ArrayLike<number>);
  }
  /** The single value of a one-element tensor. */
  item(): number {
    const v = native.item(this.handle) as number | boolean;
    return typeof v === 'boolean' ? Number(v) : v;
  }

  // ---- conversion -------------------------------------------------------------------------------
  /** A converted copy (or this tensor's storage when nothing changes). Copies to a CUDA device from pinned
   * memory are queued without blocking when nonBlocking is set. */
  to(dtype: DType | null, device?: Device | null, nonBlocking = false): Tensor {
    return new Tensor(native.to(this.handle, dtype, device ?? null, nonBlocking));
  }
  /** This tensor when it already has the dtype, else a converted copy (the caller disposes only copies). */
  as(dtype: DType): Tensor {
    return this.dtype === dtype ? this : this.to(dtype);
  }
  float(): Tensor {
    return this.to('float32');
  }
  clone(): Tensor {
    return new Tensor(native.clone(this.handle));
  }
  contiguous(): Tensor {
    return new Tensor(native.contiguous(this.handle));
  }

  // ---- elementwise ------------------------------------------------------------------------------
  add(other: Operand, alpha?: number): Tensor {
    return new Tensor(native.add(this.handle, h(other), alpha));
  }
  sub(other: Operand, alpha?: number): Tensor {
    return new Tensor(native.sub(this.handle, h(other), alpha));
  }
  /** scalar - this */
  rsub(scalar: number): Tensor {
    return new Tensor(native.rsub(this.handle, scalar));
  }
  mul(other: Operand): Tensor {
    return new Tensor(native.mul(this.handle, h(other)));
  }
  div(other: Operand): Tensor {
    return new Tensor(native.div(this.handle, h(other)));
  }
  pow(other: Operand): Tensor {
    return new Tensor(native.pow(this.handle, h(other)));
  }
  maximum(other: Tensor): Tensor {
    return new Tensor(native.maximum(this.handle, other.handle));
  }
  minimum(other: Tensor): Tensor {
    return new Tensor(native.minimum(this.handle, other.handle));
  }
  eq(other: Operand): Tensor {
    return new Tensor(native.eq(this.handle, h(other)));
  }
  ne(other: Operand): Tensor {
    return new Tensor(native.ne(this.handle, h(other)));
  }
  lt(other: Operand): Tensor {
    return new Tensor(native.lt(this.handle, h(other)));
  }
  le(other: Operand): Tensor {
    return new Tensor(native.le(this.handle, h(other)));
  }
  gt(other: Operand): Tensor {
    return new Tensor(native.gt(this.handle, h(other)));
  }
  ge(other: Operand): Tensor {
    return new Tensor(native.ge(this.handle, h(other)));
  }
  neg(): Tensor {
    return new Tensor(native.neg(this.handle));
  }
  exp(): Tensor {
    return new Tensor(native.exp(this.handle));
  }
  log(): Tensor {
    return new Tensor(native.log(this.handle));
  }
  sigmoid(): Tensor {
    return new Tensor(native.sigmoid(this.handle));
  }
  tanh(): Tensor {
    return new Tensor(native.tanh(this.handle));
  }
  erf(): Tensor {
    return new Tensor(native.erf(this.handle));
  }
  sqrt(): Tensor {
    return new Tensor(native.sqrt(this.handle));
  }
  rsqrt(): Tensor {
    return new Tensor(native.rsqrt(this.handle));
  }
  abs(): Tensor {
    return new Tensor(native.abs(this.handle));
  }
  relu(): Tensor {
    return new Tensor(native.relu(this.handle));
  }
  gelu(): Tensor {
    return new Tensor(native.gelu(this.handle));
  }
  sin(): Tensor {
    return new Tensor(native.sin(this.handle));
  }
  cos(): Tensor {
    return new Tensor(native.cos(this.handle));
  }
  reciprocal(): Tensor {
    return new Tensor(native.reciprocal(this.handle));
  }
  logicalNot(): Tensor {
    return new Tensor(native.logicalNot(this.handle));
  }
  isfinite(): Tensor {
    return new Tensor(native.isfinite(this.handle));
  }
  clamp(min?: number | null, max?: number | null): Tensor {
    return new Tensor(native.clamp(this.handle, min ?? null, max ?? null));
  }

  // ---- reductions -------------------------------------------------------------------------------
  sum(dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.sum(this.handle, dimsArg(dims), keepdim));
  }
  mean(dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.mean(this.handle, dimsArg(dims), keepdim));
  }
  amax(dims: number | number[], keepdim = false): Tensor {
    return new Tensor(native.amax(this.handle, dimsArg(dims), keepdim));
  }
  amin(dims: number | number[], keepdim = false): Tensor {
    return new Tensor(native.amin(this.handle, dimsArg(dims), keepdim));
  }
  logsumexp(dims: number | number[], keepdim = false): Tensor {
    return new Tensor(native.logsumexp(this.handle, dimsArg(dims), keepdim));
  }
  /** Max along a dimension: [values, indices]. */
  max(dim: number, keepdim = false): [Tensor, Tensor] {
    const [v, i] = native.max(this.handle, dim, keepdim) as [Handle, Handle];
    return [new Tensor(v), new Tensor(i)];
  }
  argmax(dim: number, keepdim = false): Tensor {
    return new Tensor(native.argmax(this.handle, dim, keepdim));
  }
  argmin(dim: number, keepdim = false): Tensor {
    return new Tensor(native.argmin(this.handle, dim, keepdim));
  }
  topk(k: number, dim = -1, largest = true, sorted = true): [Tensor, Tensor] {
    const [v, i] = native.topk(this.handle, k, dim, largest, sorted) as [Handle, Handle];
    return [new Tensor(v), new Tensor(i)];
  }
  norm(p = 2, dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.norm(this.handle, p, dimsArg(dims), keepdim));
  }
  std(dims: number | number[], unbiased = true, keepdim = false): Tensor {
    return new Tensor(native.std(this.handle, dimsArg(dims), unbiased, keepdim));
  }
  cumsum(dim: number): Tensor {
    return new Tensor(native.cumsum(this.handle, dim));
  }

  // ---- shape and indexing -----------------------------------------------------------------------
  reshape(shape: number[]): Tensor {
    return new Tensor(native.reshape(this.handle, shape));
  }
  view(shape: number[]): Tensor {
    return new Tensor(native.view(this.handle, shape));
  }
  permute(dims: number[]): Tensor {
    return new Tensor(native.permute(this.handle, dims));
  }
  transpose(d0: number, d1: number): Tensor {
    return new Tensor(native.transpose(this.handle, d0, d1));
  }
  /** Matrix transpose of the last two dimensions. */
  get T(): Tensor {
    return this.transpose(-2, -1);
  }
  expand(shape: number[]): Tensor {
    return new Tensor(native.expand(this.handle, shape));
  }
  squeeze(dim?: number): Tensor {
    return new Tensor(native.squeeze(this.handle, dim ?? null));
  }
  unsqueeze(dim: number): Tensor {
    return new Tensor(native.unsqueeze(this.handle, dim));
  }
  flatten(start = 0, end = -1): Tensor {
    return new Tensor(native.flatten(this.handle, start, end));
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return new Tensor(native.narrow(this.handle, dim, start, length));
  }
  /** Python-style slice along one dimension: [start, end) with step; negative indices count from the end. */
  slice(dim: number, start: number, end?: number, step = 1): Tensor {
    return new Tensor(native.slice(this.handle, dim, start, end ?? Number.MAX_SAFE_INTEGER, step));
  }
  select(dim: number, index: number): Tensor {
    return new Tensor(native.select(this.handle, dim, index));
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(native.indexSelect(this.handle, dim, index.handle));
  }
  gather(dim: number, index: Tensor): Tensor {
    return new Tensor(native.gather(this.handle, dim, index.handle));
  }
  repeat(reps: number[]): Tensor {
    return new Tensor(native.repeat(this.handle, reps));
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return (native.chunk(this.handle, chunks, dim) as Handle[]).map((x) => new Tensor(x));
  }
  flip(dims: number[]): Tensor {
    return new Tensor(native.flip(this.handle, dims));
  }
  triu(diagonal = 0): Tensor {
    return new Tensor(native.triu(this.handle, diagonal));
  }
  tril(diagonal = 0): Tensor {
    return new Tensor(native.tril(this.handle, diagonal));
  }
  maskedFill(mask: Tensor, value: number): Tensor {
    return new Tensor(native.maskedFill(this.handle, mask.handle, value));
  }
  oneHot(numClasses: number): Tensor {
    return new Tensor(native.oneHot(this.handle, numClasses));
  }

  // ---- linear algebra and nn --------------------------------------------------------------------
  matmul(other: Tensor): Tensor {
    return new Tensor(native.matmul(this.handle, other.handle));
  }
  bmm(other: Tensor): Tensor {
    return new Tensor(native.bmm(this.handle, other.handle));
  }
  /** softmax along dim; with a dtype the input is converted first (float32 softmax of half scores). */
  softmax(dim: number, dtype?: DType): Tensor {
    return new Tensor(native.softmax(this.handle, dim, dtype ?? null));
  }
  logSoftmax(dim: number, dtype?: DType): Tensor {
    return new Tensor(native.logSoftmax(this.handle, dim, dtype ?? null));
  }

  // ---- in-place (optimisers, buffers); they return this ------------------------------------------
  add_(other: Operand, alpha?: number): this {
    native.add_(this.handle, h(other), alpha);
    return this;
  }
  mul_(other: Operand): this {
    native.mul_(this.handle, h(other));
    return this;
  }
  copy_(src: Tensor): this {
    native.copy_(this.handle, src.handle);
    return this;
  }
  sigmoid_(): this {
    native.sigmoid_(this.handle);
    return this;
  }
  zero_(): this {
    native.zero_(this.handle);
    return this;
  }
  fill_(value: number): this {
    native.fill_(this.handle, value);
    return this;
  }
  normal_(mean = 0, std = 1, generator?: Generator): this {
    native.normal_(this.handle, mean, std, generator?.handle ?? null);
    return this;
  }
  uniform_(from = 0, to = 1, generator?: Generator): this {
    native.uniform_(this.handle, from, to, generator?.handle ?? null);
    return this;
  }

  toString(): string {
    return this.isDisposed ? 'Tensor(<disposed>)' : `Tensor([${this.shape.join(', ')}], ${this.dtype}, ${this.device})`;
  }
}

function dimsArg(d: number | number[] | undefined): number[] | null {
  if (d === undefined) return null;
  return typeof d === 'number' ? [d] : d;
}

/** A seeded random generator (libtorch's CPU Mersenne Twister, the same stream as torch.Generator). */
export class Generator {
  readonly handle: GenHandle;
  constructor(seed: number) {
    this.handle = native.generator(seed) as GenHandle;
  }
  /** The generator's full state (to checkpoint and resume a run). */
  getState(): Uint8Array {
    const t = new Tensor(native.generatorGetState(this.handle));
    try {
      return t.data() as Uint8Array;
    } finally {
      t.dispose();
    }
  }
  setState(state: Uint8Array): void {
    const t = new Tensor(native.fromBuffer(state, [state.length], 'uint8'));
    try {
      native.generatorSetState(this.handle, t.handle);
    } finally {
      t.dispose();
    }
  }
}
