/**
 * Files built to hurt: strides that reach outside their storage, zip entries that inflate past what they
 * declare. Each must end in a one-line error naming the file, not in wrong values or unbounded memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/util/errors.js';
import { toFloat32 } from '../../src/io/tensor.js';
import { parseTorchCheckpoint } from '../../src/io/torchzip.js';
import { ZipArchive } from '../../src/io/zip.js';
import { makeZip } from '../net/helpers.js';
import { torchCheckpoint, type PickledTensorSpec } from './builders.js';

const floats = (...v: number[]) => new Uint8Array(Float32Array.from(v).buffer);
const spec = (over: Partial<PickledTensorSpec>): PickledTensorSpec => ({ name: 'w', key: '0', storage: 'FloatStorage', offset: 0, size: [2, 2], stride: [2, 1], ...over });

test('the hand-made checkpoint reads back (the builder is right)', () => {
  const ck = parseTorchCheckpoint(torchCheckpoint([spec({ stride: [1, 2] })], { '0': floats(1, 2, 3, 4) }), 'ok.pt');
  assert.deepEqual([...toFloat32(ck.tensors.get('w')!)], [1, 3, 2, 4]); // the transpose
});

test('negative strides or offsets are refused, not read as zeros', () => {
  const cases: Array<[Partial<PickledTensorSpec>, RegExp]> = [
    [{ stride: [2, -1] }, /negative storage offset or stride/],
    [{ stride: [-2, 1], offset: 2 }, /negative storage offset or stride/],
    [{ offset: -1, size: [1], stride: [1] }, /negative storage offset or stride/],
    [{ size: [-1, 2] }, /negative dimension/],
    [{ size: [2, 3], stride: [3, 1] }, /has 16 bytes but the tensor needs 24/],
  ];
  for (const [over, what] of cases) {
    assert.throws(
      () => parseTorchCheckpoint(torchCheckpoint([spec(over)], { '0': floats(1, 2, 3, 4) }), 'bad.pt'),
      (e: Error) => e instanceof UserError && /^bad\.pt: /.test(e.message) && what.test(e.message) && !e.message.includes('\n'),
      JSON.stringify(over),
    );
  }
});

test('a deflated entry that inflates past its declared size stops at the declared size', () => {
  const big = new Uint8Array(64 << 20); // 64 MiB of zeros: ~64 KB deflated
  const zip = makeZip([{ name: 'a/data/0', data: Buffer.from(big), method: 'deflate', declaredSize: 60_000_000 }]);
  const before = process.memoryUsage().arrayBuffers;
  assert.throws(() => new ZipArchive(zip, 'bomb.pt').read('a/data/0'), /^.*bomb\.pt: corrupt zip entry "a\/data\/0": inflates to more than the 60000000 bytes it declares/);
  // a declared size deflate cannot produce from so few bytes is refused before inflating
  const lie = makeZip([{ name: 'x', data: Buffer.alloc(1000), method: 'deflate', declaredSize: 2_000_000_000 }]);
  assert.throws(() => new ZipArchive(lie, 'lie.pt').read('x'), /lie\.pt: corrupt zip entry "x": declares 2000000000 bytes from \d+ compressed, more than deflate can produce/);
  // smaller than declared is corrupt too
  const short = makeZip([{ name: 'y', data: Buffer.alloc(1000, 7), method: 'deflate', declaredSize: 1200 }]);
  assert.throws(() => new ZipArchive(short, 'short.pt').read('y'), /inflates to 1000 bytes but declares 1200/);
  const ok = makeZip([{ name: 'z', data: Buffer.alloc(1000, 7), method: 'deflate' }]);
  assert.equal(new ZipArchive(ok, 'ok.pt').read('z').byteLength, 1000);
  assert.ok(process.memoryUsage().arrayBuffers - before < 200 << 20);
});
