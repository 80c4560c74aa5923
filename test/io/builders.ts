/**
 * Hand-made torch.save-style checkpoints for tests that need a file PyTorch would never write (negative
 * strides) and for the fuzz tests. Zip archives come from the download tests' writer (../net/helpers.ts).
 */
import { makeZip } from '../net/helpers.js';

export interface PickledTensorSpec {
  name: string;
  /** storage key: the archive entry archive/data/<key> */
  key: string;
  /** torch.<X>Storage, e.g. FloatStorage */
  storage: string;
  offset: number;
  size: number[];
  stride: number[];
}

/** Protocol-2 pickle opcodes used below. */
const op = {
  PROTO: 0x80,
  EMPTY_DICT: 0x7d,
  MARK: 0x28,
  TUPLE: 0x74,
  BINUNICODE: 0x58,
  BININT: 0x4a,
  GLOBAL: 0x63,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  SETITEMS: 0x75,
  NEWFALSE: 0x89,
  EMPTY_TUPLE: 0x29,
  STOP: 0x2e,
};

function str(s: string): number[] {
  const b = Buffer.from(s, 'utf8');
  const n = Buffer.alloc(4);
  n.writeUInt32LE(b.length);
  return [op.BINUNICODE, ...n, ...b];
}

function int(v: number): number[] {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return [op.BININT, ...b];
}

const global = (module: string, name: string) => [op.GLOBAL, ...Buffer.from(`${module}\n${name}\n`, 'latin1')];
const tuple = (items: number[][]) => [op.MARK, ...items.flat(), op.TUPLE];

/** The data.pkl of torch.save({name: tensor, ...}): _rebuild_tensor_v2 over persistent storages. */
export function pickleStateDict(tensors: PickledTensorSpec[]): Uint8Array {
  const out: number[] = [op.PROTO, 2, op.EMPTY_DICT, op.MARK];
  for (const t of tensors) {
    out.push(...str(t.name));
    out.push(...global('torch._utils', '_rebuild_tensor_v2'));
    const pid = tuple([str('storage'), global('torch', t.storage), str(t.key), str('cpu'), int(0)]);
    out.push(
      ...tuple([
        [...pid, op.BINPERSID],
        int(t.offset),
        tuple(t.size.map(int)),
        tuple(t.stride.map(int)),
        [op.NEWFALSE],
        [op.EMPTY_TUPLE], // backward hooks (any value: ignored)
      ]),
      op.REDUCE,
    );
  }
  out.push(op.SETITEMS, op.STOP);
  return Uint8Array.from(out);
}

/** A torch.save-style zip: archive/data.pkl, archive/byteorder, archive/data/<key> per storage. */
export function torchCheckpoint(tensors: PickledTensorSpec[], storages: Record<string, Uint8Array>): Buffer {
  return makeZip([
    { name: 'archive/data.pkl', data: Buffer.from(pickleStateDict(tensors)) },
    { name: 'archive/byteorder', data: Buffer.from('little') },
    ...Object.entries(storages).map(([key, data]) => ({ name: `archive/data/${key}`, data: Buffer.from(data) })),
  ]);
}
