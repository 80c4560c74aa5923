/**
 * Reading PyTorch checkpoints (the zip format of torch.save since PyTorch 1.6, and TorchScript archives from
 * torch.jit.save, such as OpenAI's ViT-B-16.pt) without PyTorch and without executing code from the file.
 *
 * An archive holds `<prefix>/data.pkl` (a pickle of the saved object; the prefix is arbitrary: `archive`,
 * `ViT-B-16`, `model.pth`...) and one `<prefix>/data/<key>` entry per tensor storage. Tensors are pickled as
 * `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` with the storage as a persistent id
 * `('storage', torch.HalfStorage, key, location, numel)`. The pickle VM (./pickle.ts) resolves ONLY the
 * allow-listed globals below; everything else stays an inert placeholder.
 *
 * Supported objects:
 *  - a state dict (dict/OrderedDict of name -> tensor), e.g. open_clip or Hugging Face `pytorch_model.bin`;
 *  - a checkpoint dict with a `state_dict` (Dassl `model.pth.tar-N`: + epoch, optimizer, scheduler,
 *    val_result), `model_state_dict` or `model` entry;
 *  - a TorchScript module (OpenAI's CLIP .pt): the module tree is walked and every tensor attribute is
 *    returned under its dotted path — the same names as `module.state_dict()` (plus non-parameter tensor
 *    attributes, which callers ignore).
 */
import { fileError, UserError } from '../util/errors.js';
import { PickleError, PyFunction, PyGlobal, PyObject, pyTypeName, unpickle } from './pickle.js';
import { readWholeFile } from './safetensors.js';
import { DTYPE_SIZE, type DType, type RawTensor, contiguousFromStrided, numel } from './tensor.js';
import { ZipArchive, isZip } from './zip.js';

/** torch.<X>Storage -> dtype. Storages of other types (int8, int16, complex, quantized) are reported, not read. */
const STORAGE_DTYPES: Readonly<Record<string, DType>> = {
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  DoubleStorage: 'float64',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8',
};
const UNSUPPORTED_STORAGES = new Set(['CharStorage', 'ShortStorage', 'ComplexFloatStorage', 'ComplexDoubleStorage', 'QInt8Storage', 'QUInt8Storage', 'QInt32Storage']);

/** A storage type named in a persistent id. */
class StorageType {
  constructor(
    readonly name: string,
    readonly dtype: DType | null,
  ) {}
}

/** One `data/<key>` storage of the archive; its bytes are read (a view) on first use. */
class Storage {
  private bytes: Uint8Array | null = null;
  constructor(
    readonly key: string,
    readonly type: StorageType,
    private readonly load: () => Uint8Array,
  ) {}
  get data(): Uint8Array {
    return (this.bytes ??= this.load());
  }
}

/**
 * A tensor as pickled: a view of a storage. Nothing is read or copied until `materialize()`, so tensors that are
 * not needed (optimizer momentum buffers) cost nothing.
 */
export class PickledTensor {
  constructor(
    readonly storage: Storage | PyObject | PyGlobal,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}

  get dtype(): DType | null {
    return this.storage instanceof Storage ? this.storage.type.dtype : null;
  }

  /** The contiguous RawTensor (a view of the file when the stored layout is already contiguous). */
  materialize(): RawTensor {
    const s = this.storage;
    if (!(s instanceof Storage)) throw new Error(`tensor storage is not a PyTorch storage (${pyTypeName(s)})`);
    const dtype = s.type.dtype;
    if (!dtype) throw new Error(`tensor dtype from torch.${s.type.name} is not supported`);
    const itemsize = DTYPE_SIZE[dtype];
    const data = s.data;
    if (numel(this.size) > 0) {
      // PyTorch never writes negative strides; with them (or a negative offset) a view would reach before the storage.
      if (this.offset < 0 || this.stride.some((st) => st < 0)) {
        throw new Error(`storage data/${s.key}: negative storage offset or stride (offset ${this.offset}, stride ${JSON.stringify(this.stride)}); the file is corrupt`);
      }
      let last = this.offset;
      for (let d = 0; d < this.size.length; d++) last += (this.size[d]! - 1) * this.stride[d]!;
      if ((last + 1) * itemsize > data.byteLength) {
        throw new Error(`storage data/${s.key} has ${data.byteLength} bytes but the tensor needs ${(last + 1) * itemsize} (truncated file?)`);
      }
    }
    return { dtype, shape: [...this.size], data: contiguousFromStrided(data, itemsize, this.offset, this.size, this.stride) };
  }
}

function intList(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x))) {
    throw new PickleError(`${what} must be a tuple of integers, found ${pyTypeName(v)}`);
  }
  return v as number[];
}

function rebuildTensor(args: unknown[]): PickledTensor {
  const [storage, offset, size, stride] = args;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset)) throw new PickleError('tensor storage offset must be an integer');
  const sz = intList(size, 'tensor size');
  const st = intList(stride, 'tensor stride');
  if (sz.length !== st.length) throw new PickleError('tensor size and stride differ in length');
  if (sz.some((d) => d < 0)) throw new PickleError(`tensor size ${JSON.stringify(sz)} has a negative dimension`);
  // numel beyond 2^53 cannot be a real tensor (and would make byte counts inexact)
  if (!Number.isSafeInteger(numel(sz))) throw new PickleError(`tensor size ${JSON.stringify(sz)} is too large`);
  return new PickledTensor(storage as Storage, offset, sz, st);
}

/**
 * The allow-list: every global a torch checkpoint needs to rebuild its tensors and containers. Each is a small
 * pure function over data. Notably absent: builtins.getattr/eval/exec, os.*, subprocess.*, and
 * torch.storage._load_from_bytes (a legacy nested torch.load).
 */
function torchGlobals(module: string, name: string): unknown {
  const q = `${module}.${name}`;
  switch (q) {
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2':
      return new PyFunction(q, rebuildTensor);
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
      // Parameter(data, requires_grad, hooks[, state]) -> its data
      return new PyFunction(q, (a) => a[0]);
    case 'torch._tensor._rebuild_from_type_v2':
      // (func, new_type, args, state): rebuild with func if it is itself allowed, ignore the subclass type
      return new PyFunction(q, (a) => {
        const [fn, , args] = a;
        return fn instanceof PyFunction && Array.isArray(args) ? fn.call(args) : new PyObject(new PyGlobal('torch._tensor', '_rebuild_from_type_v2'), a);
      });
    case 'collections.OrderedDict':
      return new PyFunction(q, (a) => {
        const m = new Map<unknown, unknown>();
        const items = a[0];
        if (Array.isArray(items)) for (const kv of items) if (Array.isArray(kv) && kv.length === 2) m.set(kv[0], kv[1]);
        return m;
      });
    case 'torch.Size':
      return new PyFunction(q, (a) => (Array.isArray(a[0]) ? [...a[0]] : []));
    case 'builtins.set':
    case 'builtins.frozenset':
    case '__builtin__.set':
      return new PyFunction(q, (a) => new Set(Array.isArray(a[0]) ? a[0] : []));
    case '_codecs.encode':
      // protocol-2 pickles store bytes as _codecs.encode(str, 'latin1')
      return new PyFunction(q, (a) => (typeof a[0] === 'string' ? Uint8Array.from(Buffer.from(a[0], 'latin1')) : new PyObject(new PyGlobal('_codecs', 'encode'), a)));
  }
  if (module === 'torch' && (name in STORAGE_DTYPES || UNSUPPORTED_STORAGES.has(name))) {
    return new StorageType(name, STORAGE_DTYPES[name] ?? null);
  }
  return undefined;
}

export type CheckpointKind = 'state_dict' | 'checkpoint' | 'torchscript';

export interface TorchCheckpoint {
  file: string;
  /** 'state_dict': the file is a bare state dict; 'checkpoint': a dict holding one; 'torchscript': a jit archive. */
  kind: CheckpointKind;
  /** The state dict's tensors, materialised (contiguous), in file order. */
  tensors: Map<string, RawTensor>;
  /** Dassl and similar: the `epoch` entry, if an integer. */
  epoch?: number;
  /** Names of state-dict tensors that could not be read (unsupported dtype), with the reason. */
  skipped: Array<{ name: string; reason: string }>;
  /** The whole unpickled object (inert data: placeholders for anything not allow-listed). */
  root: unknown;
}

/** What kind of file `bytes` starts like: used by callers that accept several formats. */
export function sniffFormat(bytes: Uint8Array): 'zip' | 'legacy-torch' | 'safetensors' | 'unknown' {
  if (isZip(bytes)) return 'zip';
  // Legacy torch.save: a protocol-2 pickle starting with the magic number 0x1950a86a20f9469cfc6c as LONG1.
  if (bytes.byteLength >= 4 && bytes[0] === 0x80 && bytes[2] === 0x8a && bytes[3] === 0x0a) return 'legacy-torch';
  // Pre-1.0 torch.save wrote a tar archive.
  if (bytes.byteLength > 262 && Buffer.from(bytes.buffer, bytes.byteOffset + 257, 5).toString('latin1') === 'ustar') return 'legacy-torch';
  if (bytes.byteLength >= 9) {
    const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (n > 1n && n < 100_000_000n && bytes[8] === 0x7b /* { */) return 'safetensors';
  }
  return 'unknown';
}

export const LEGACY_MESSAGE =
  'is in the legacy (pre-1.6, non-zip) torch.save format, which is not supported: re-save it with PyTorch >= 1.6 ' +
  '(`torch.save(torch.load(f), "new.pt")`) or convert it to safetensors';

/** Reads a PyTorch zip checkpoint or TorchScript archive from disk. Errors are UserErrors naming the file. */
export function readTorchCheckpoint(file: string): TorchCheckpoint {
  return parseTorchCheckpoint(readWholeFile(file), file);
}

/** As readTorchCheckpoint, from bytes in memory; tensors are views of `bytes` where contiguous. */
export function parseTorchCheckpoint(bytes: Uint8Array, file = '<buffer>'): TorchCheckpoint {
  const kind = sniffFormat(bytes);
  if (kind === 'legacy-torch') throw fileError(file, LEGACY_MESSAGE);
  if (kind !== 'zip') throw fileError(file, 'not a PyTorch checkpoint (not a zip archive)');
  const zip = new ZipArchive(bytes, file);
  const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n) || n === 'data.pkl');
  if (pkls.length === 0) {
    if ([...zip.entries.keys()].some((n) => n.endsWith('/model.json'))) {
      throw fileError(file, 'is a TorchScript archive in the pre-1.4 format (model.json), which is not supported: re-save it with a recent PyTorch');
    }
    throw fileError(file, 'is a zip file but not a PyTorch checkpoint (no <folder>/data.pkl inside)');
  }
  if (pkls.length > 1) throw fileError(file, `holds several pickles (${pkls.join(', ')}); expected one <folder>/data.pkl`);
  const pkl = pkls[0]!;
  const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
  const byteorder = zip.entries.has(prefix + 'byteorder') ? Buffer.from(zip.read(prefix + 'byteorder')).toString('latin1').trim() : 'little';
  if (byteorder !== 'little') throw fileError(file, `was saved on a ${byteorder}-endian machine, which is not supported`);
  const isScript = zip.entries.has(prefix + 'constants.pkl') || [...zip.entries.keys()].some((n) => n.startsWith(prefix + 'code/'));

  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: unknown): unknown => {
    if (!Array.isArray(pid) || pid[0] !== 'storage') throw new PickleError(`unsupported persistent id ${pyTypeName(pid)}`);
    const [, type, key] = pid as [string, unknown, unknown];
    if (typeof key !== 'string') throw new PickleError('storage key must be a string');
    const st = type instanceof StorageType ? type : new StorageType(type instanceof PyGlobal ? type.qualname : pyTypeName(type), null);
    let s = storages.get(key);
    if (!s) {
      const entry = `${prefix}data/${key}`;
      if (!zip.entries.has(entry)) throw fileError(file, `is missing the storage ${entry} (truncated or corrupt archive)`);
      s = new Storage(key, st, () => zip.read(entry));
      storages.set(key, s);
    }
    return s;
  };

  let root: unknown;
  try {
    root = unpickle(zip.read(pkl), { findGlobal: torchGlobals, persistentLoad });
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw fileError(file, `cannot read ${pkl}: ${(e as Error).message}`);
  }

  const result: TorchCheckpoint = { file, kind: 'state_dict', tensors: new Map(), skipped: [], root };
  let sd: Map<unknown, unknown> | null = null;
  if (root instanceof PyObject && isScript) {
    result.kind = 'torchscript';
    walkModule(root, result);
    if (result.tensors.size === 0 && result.skipped.length === 0) {
      throw fileError(file, `is a TorchScript archive whose module (${root.className}) has no tensor attributes this reader understands`);
    }
    return result;
  } else if (root instanceof Map) {
    for (const key of ['state_dict', 'model_state_dict', 'model']) {
      const v = root.get(key);
      if (v instanceof Map) {
        sd = v;
        result.kind = 'checkpoint';
        break;
      }
    }
    if (!sd) sd = root;
    const epoch = root.get('epoch');
    if (typeof epoch === 'number' && Number.isInteger(epoch)) result.epoch = epoch;
  } else {
    throw fileError(file, `holds a ${pyTypeName(root)}, not a state dict or checkpoint dict`);
  }
  for (const [k, v] of sd) {
    if (typeof k === 'string' && v instanceof PickledTensor) addTensor(result, k, v);
  }
  return result;
}

function addTensor(result: TorchCheckpoint, name: string, t: PickledTensor): void {
  if (!(t.storage instanceof Storage) || !t.storage.type.dtype) {
    const why = t.storage instanceof Storage ? `unsupported storage type torch.${t.storage.type.name}` : 'not a storage';
    result.skipped.push({ name, reason: why });
    return;
  }
  try {
    result.tensors.set(name, t.materialize());
  } catch (e) {
    throw fileError(result.file, `tensor "${name}": ${(e as Error).message}`);
  }
}

/** Deeper module nesting than this is not a real model (CLIP's is 6 levels); refused rather than walked. */
const MAX_MODULE_DEPTH = 1000;

/**
 * TorchScript: a module is an object whose BUILD state maps attribute names to tensors and submodules.
 * Walked depth-first in state order with an explicit stack (a hostile file can nest 100,000 levels, which
 * recursion would turn into a stack overflow).
 */
function walkModule(root: PyObject, result: TorchCheckpoint): void {
  const seen = new Set<PyObject>();
  const stack: Array<{ entries: Iterator<[unknown, unknown]>; prefix: string }> = [];
  const enter = (obj: PyObject, prefix: string) => {
    if (seen.has(obj) || !(obj.state instanceof Map)) return;
    seen.add(obj);
    if (stack.length >= MAX_MODULE_DEPTH) throw fileError(result.file, `TorchScript modules nested more than ${MAX_MODULE_DEPTH} deep (at ${prefix.slice(0, 80)}...); not a real model`);
    stack.push({ entries: obj.state.entries(), prefix });
  };
  enter(root, '');
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const next = top.entries.next();
    if (next.done) {
      stack.pop();
      continue;
    }
    const [k, v] = next.value;
    if (typeof k !== 'string') continue;
    if (v instanceof PickledTensor) addTensor(result, top.prefix + k, v);
    else if (v instanceof PyObject) enter(v, `${top.prefix}${k}.`);
  }
}
