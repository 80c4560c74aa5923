import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import {
  parseSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  serializeSafetensors,
  writeSafetensors,
} from '../../src/io/safetensors.js';
import {
  type RawTensor,
  bfloat16ToFloat32,
  concatDim0,
  contiguousFromStrided,
  float16ToFloat32,
  float32Tensor,
  float32ToBFloat16Bits,
  float32ToFloat16Bits,
  rawEqual,
  rawTensor,
  toFloat32,
  transpose2d,
  typedView,
} from '../../src/io/tensor.js';
import { goldenDir, tmpDir } from '../helpers.js';

const dir = tmpDir('mpl-safetensors-');

/** One tensor of every supported dtype. */
function everyDtype(): Map<string, RawTensor> {
  const m = new Map<string, RawTensor>();
  m.set('f32', float32Tensor([2, 3], [0, 1.5, -2, 3.25, 1e-30, -0]));
  m.set('f16', rawTensor('float16', [3], float32ToFloat16Bits([1, -0.5, 65504])));
  m.set('bf16', rawTensor('bfloat16', [2], float32ToBFloat16Bits([3.140625, -1e30])));
  m.set('f64', rawTensor('float64', [2], Float64Array.from([Math.PI, -1e-300])));
  m.set('i64', rawTensor('int64', [3], BigInt64Array.from([0n, -1n, 2n ** 62n])));
  m.set('i32', rawTensor('int32', [2], Int32Array.from([-7, 2 ** 31 - 1])));
  m.set('u8', rawTensor('uint8', [3], Uint8Array.from([0, 1, 255])));
  m.set('mask', rawTensor('bool', [1], Uint8Array.from([1])));
  m.set('scalar', float32Tensor([], [2.5]));
  m.set('empty', float32Tensor([0, 4], []));
  return m;
}

/** Builds a safetensors file from a raw header object and data bytes (for malformed cases). */
function rawFile(header: unknown, data: Uint8Array | number = 0, pad = true): Buffer {
  let json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  if (pad && json.length % 8) json = Buffer.concat([json, Buffer.alloc(8 - (json.length % 8), 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const body = typeof data === 'number' ? Buffer.alloc(data) : Buffer.from(data);
  return Buffer.concat([len, json, body]);
}

describe('safetensors', () => {
  test('round-trips every dtype and the metadata', () => {
    const file = path.join(dir, 'all.safetensors');
    const tensors = everyDtype();
    writeSafetensors(file, tensors, { format: 'test', note: 'ünïcode' });
    const back = readSafetensors(file);
    assert.deepEqual(back.metadata, { format: 'test', note: 'ünïcode' });
    assert.deepEqual([...back.tensors.keys()].sort(), [...tensors.keys()].sort());
    for (const [k, t] of tensors) assert.ok(rawEqual(back.tensors.get(k)!, t), k);
    assert.deepEqual([...toFloat32(back.tensors.get('f16')!)], [1, -0.5, 65504]);
    assert.deepEqual([...(typedView(back.tensors.get('i64')!) as BigInt64Array)], [0n, -1n, 2n ** 62n]);
  });

  test('writes like the reference: 8-byte header padded with spaces, dtype-then-name order, aligned data', () => {
    const buf = serializeSafetensors(everyDtype(), { a: 'b' });
    const n = Number(buf.readBigUInt64LE(0));
    assert.equal(n % 8, 0);
    const json = buf.subarray(8, 8 + n).toString('utf8');
    assert.match(json, /^\{"__metadata__":\{"a":"b"\},/);
    assert.equal(json.trimEnd(), json.replace(/ +$/, ''));
    const header = JSON.parse(json) as Record<string, { dtype: string; data_offsets: [number, number] }>;
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    // widest dtypes first (I64, F64, F32, I32, BF16, F16, U8, BOOL), names sorted within a dtype
    assert.deepEqual(names, ['i64', 'f64', 'empty', 'f32', 'scalar', 'i32', 'bf16', 'f16', 'u8', 'mask']);
    const size: Record<string, number> = { I64: 8, F64: 8, F32: 4, I32: 4, BF16: 2, F16: 2, U8: 1, BOOL: 1 };
    let prevEnd = 0;
    for (const k of names) {
      const [b, e] = header[k]!.data_offsets;
      assert.equal(b, prevEnd, `${k} follows the previous tensor`);
      assert.equal(b % size[header[k]!.dtype]!, 0, `${k} aligned`);
      prevEnd = e;
    }
    assert.equal(buf.length, 8 + n + prevEnd);
    // sorted keys for one dtype, no metadata key when there is none
    const plain = serializeSafetensors({ b: float32Tensor([1], [1]), a: float32Tensor([1], [2]) });
    const h2 = plain.subarray(8, 8 + Number(plain.readBigUInt64LE(0))).toString();
    assert.match(h2, /^\{"a":\{"dtype":"F32","shape":\[1\],"data_offsets":\[0,4\]\},"b":/);
  });

  test('reads the golden tiny CLIP as views of one buffer', () => {
    const { tensors } = readSafetensors(path.join(goldenDir, 'tiny_clip.safetensors'));
    assert.equal(tensors.size, 110);
    const conv = tensors.get('visual.conv1.weight')!;
    assert.deepEqual(conv.shape, [128, 3, 8, 8]);
    assert.equal(conv.dtype, 'float32');
    const buffers = new Set([...tensors.values()].map((t) => t.data.buffer));
    assert.equal(buffers.size, 1, 'every tensor shares the file buffer (no copies)');
    const header = readSafetensorsHeader(path.join(goldenDir, 'tiny_clip.safetensors'));
    assert.equal(header.entries.length, 110);
  });

  test('atomic write leaves no temporary file and replaces the old one', () => {
    const file = path.join(dir, 'atomic.safetensors');
    writeSafetensors(file, { x: float32Tensor([1], [1]) });
    writeSafetensors(file, { y: float32Tensor([1], [2]) });
    assert.deepEqual([...readSafetensors(file).tensors.keys()], ['y']);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('atomic') && f.endsWith('.tmp')), []);
  });

  test('a truncated file names the file and the first tensor cut off', () => {
    const full = serializeSafetensors({ a: float32Tensor([4], [1, 2, 3, 4]), b: float32Tensor([4], [5, 6, 7, 8]) });
    const file = path.join(dir, 'cut.safetensors');
    fs.writeFileSync(file, full.subarray(0, full.length - 5));
    assert.throws(() => readSafetensors(file), (e: Error) => {
      assert.ok(e.message.startsWith(file + ':'), e.message);
      assert.match(e.message, /truncated: tensor "b" needs bytes \[16, 32\)/);
      return true;
    });
    assert.throws(() => readSafetensorsHeader(file), /truncated: tensor "b"/);
    fs.writeFileSync(file, full.subarray(0, 20));
    assert.throws(() => readSafetensors(file), /truncated or not a safetensors file: the header claims/);
    fs.writeFileSync(file, full.subarray(0, 5));
    assert.throws(() => readSafetensors(file), /only 5 bytes/);
  });

  test('malformed headers fail with the file and tensor named', () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['garbage', Buffer.from('this is not a safetensors file at all'), /header length \d+ is implausible|header claims/],
      ['not json', rawFile('{"a": nope}'), /header is not valid JSON/],
      ['array', rawFile('[1,2]'), /header is not a JSON object/],
      ['unknown dtype', rawFile({ w: { dtype: 'F17', shape: [1], data_offsets: [0, 4] } }, 4), /tensor "w": unknown dtype "F17"/],
      ['unsupported dtype', rawFile({ w: { dtype: 'I8', shape: [1], data_offsets: [0, 1] } }, 1), /tensor "w": dtype I8 is not supported/],
      ['bad shape', rawFile({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /tensor "w": shape must be/],
      ['size mismatch', rawFile({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, 12), /tensor "w": F32 \[2,2\] needs 16 bytes but data_offsets \[0, 12\] give 12/],
      ['reversed offsets', rawFile({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, 8), /end before they begin/],
      [
        'overlap',
        rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12),
        /tensors "a" \[0, 8\) and "b" \[4, 12\) overlap/,
      ],
      ['out of range', rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 8), /truncated: tensor "w"/],
      ['bad metadata', rawFile({ __metadata__: { a: 1 } }), /__metadata__\["a"\] must be a string/],
    ];
    for (const [what, bytes, re] of cases) {
      const file = path.join(dir, `bad-${what.replace(/ /g, '_')}.safetensors`);
      fs.writeFileSync(file, bytes);
      assert.throws(() => readSafetensors(file), (e: Error) => {
        assert.equal(e.name, 'UserError', what);
        assert.ok(e.message.startsWith(file + ': '), `${what}: ${e.message}`);
        assert.match(e.message, re, what);
        return true;
      });
    }
    assert.throws(() => readSafetensors(path.join(dir, 'missing.safetensors')), /missing\.safetensors: no such file/);
  });

  test('zero-size tensors and an empty header are fine', () => {
    const t = parseSafetensors(rawFile({ e: { dtype: 'F32', shape: [0], data_offsets: [0, 0] } }));
    assert.deepEqual(t.tensors.get('e')!.shape, [0]);
    assert.equal(parseSafetensors(rawFile({})).tensors.size, 0);
  });
});

describe('dtype conversions', () => {
  test('fp16 -> fp32 is exact and fp32 -> fp16 round-trips every finite half', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f = float16ToFloat32(new Uint8Array(all.buffer));
    assert.equal(f[0x3c00], 1);
    assert.equal(f[0xc000], -2);
    assert.equal(f[0x7bff], 65504);
    assert.equal(f[0x0001], 2 ** -24);
    assert.equal(f[0x7c00], Infinity);
    assert.ok(Number.isNaN(f[0x7e00]));
    const back = float32ToFloat16Bits(f);
    for (let h = 0; h < 65536; h++) {
      if (Number.isNaN(f[h])) continue;
      assert.equal(back[h], h, `half 0x${h.toString(16)}`);
    }
  });

  test('fp32 -> fp16 rounds to nearest even, overflows to inf, underflows to zero', () => {
    const [a, b, c, d, e, g] = float32ToFloat16Bits([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, 2 ** -25, 2 ** -25 * 1.5, -1e-10]);
    assert.equal(a, 0x3c00); // tie -> even (1.0)
    assert.equal(b, 0x3c02); // tie -> even (1 + 2^-9)
    assert.equal(c, 0x7c00); // rounds past 65504
    assert.equal(d, 0x0000); // half of the smallest subnormal: tie -> 0
    assert.equal(e, 0x0001);
    assert.equal(g, 0x8000);
  });

  test('bf16 <-> fp32', () => {
    const bits = float32ToBFloat16Bits([1, -2.5, 1 + 2 ** -8, 1 + 3 * 2 ** -8, NaN]);
    const f = bfloat16ToFloat32(new Uint8Array(bits.buffer));
    assert.deepEqual([...f.slice(0, 4)], [1, -2.5, 1, 1 + 2 ** -6]);
    assert.ok(Number.isNaN(f[4]));
  });

  test('toFloat32 of unaligned data copies, aligned float32 is a view', () => {
    const bytes = new Uint8Array(13);
    const src = new Float32Array([1.5, -2, 3]);
    bytes.set(new Uint8Array(src.buffer), 1);
    const t: RawTensor = { dtype: 'float32', shape: [3], data: bytes.subarray(1) };
    assert.deepEqual([...toFloat32(t)], [1.5, -2, 3]);
    const aligned = float32Tensor([3], [1, 2, 3]);
    assert.equal(toFloat32(aligned).buffer, aligned.data.buffer);
    const half: RawTensor = { dtype: 'float16', shape: [1], data: Uint8Array.from([0, 0x00, 0x3c]).subarray(1) };
    assert.deepEqual([...toFloat32(half)], [1]);
  });

  test('strided gather, transpose and concatenation', () => {
    const base = new Float32Array([0, 1, 2, 3, 4, 5]); // [2, 3]
    const bytes = new Uint8Array(base.buffer);
    const tr = contiguousFromStrided(bytes, 4, 0, [3, 2], [1, 3]);
    assert.deepEqual([...new Float32Array(tr.buffer, tr.byteOffset, 6)], [0, 3, 1, 4, 2, 5]);
    assert.equal(contiguousFromStrided(bytes, 4, 3, [3], [1]).byteOffset, 12, 'contiguous view is not copied');
    const t = transpose2d(float32Tensor([2, 3], base));
    assert.deepEqual(t.shape, [3, 2]);
    assert.deepEqual([...toFloat32(t)], [0, 3, 1, 4, 2, 5]);
    const c = concatDim0([float32Tensor([1, 2], [1, 2]), float32Tensor([2, 2], [3, 4, 5, 6])]);
    assert.deepEqual(c.shape, [3, 2]);
    assert.deepEqual([...toFloat32(c)], [1, 2, 3, 4, 5, 6]);
  });
});
