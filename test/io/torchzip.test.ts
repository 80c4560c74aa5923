import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { PyGlobal, PyObject, PyFunction, unpickle, pyGet } from '../../src/io/pickle.js';
import { type RawTensor, rawEqual, toFloat32, typedView } from '../../src/io/tensor.js';
import { parseTorchCheckpoint, readTorchCheckpoint } from '../../src/io/torchzip.js';
import { fixturesDir, tmpDir } from '../helpers.js';

const dir = tmpDir('mpl-torchzip-');

interface Expected {
  dtype: string;
  shape: number[];
  values: Array<number | boolean>;
}

function values(t: RawTensor): Array<number | boolean> {
  if (t.dtype === 'int64') return [...(typedView(t) as BigInt64Array)].map((v) => Number(v));
  if (t.dtype === 'bool') return [...t.data].map((b) => b !== 0);
  if (t.dtype === 'int32' || t.dtype === 'uint8') return [...(typedView(t) as Int32Array | Uint8Array)];
  if (t.dtype === 'float64') return [...(typedView(t) as Float64Array)];
  return [...toFloat32(t)];
}

function fixture(name: string): string {
  return path.join(fixturesDir, name);
}

describe('PyTorch zip checkpoints', () => {
  test('a state dict with every dtype, views, offsets, shared storages, scalars (made by torch.save)', () => {
    const ckpt = readTorchCheckpoint(fixture('state_dict.pt'));
    const expected = JSON.parse(fs.readFileSync(fixture('state_dict.expected.json'), 'utf8')) as Record<string, Expected>;
    assert.equal(ckpt.kind, 'state_dict');
    assert.deepEqual([...ckpt.tensors.keys()], Object.keys(expected), 'all tensors, in file order');
    for (const [name, e] of Object.entries(expected)) {
      const t = ckpt.tensors.get(name)!;
      assert.equal(t.dtype, e.dtype, name);
      assert.deepEqual(t.shape, e.shape, name);
      assert.deepEqual(values(t), e.values, name);
    }
    // i64 beyond 2^53 would not survive JSON; check the exact bits too
    assert.deepEqual([...(typedView(ckpt.tensors.get('i64')!) as BigInt64Array)], [0n, -1n, 2n ** 40n, -(2n ** 50n)]);
  });

  test('a Dassl checkpoint: state_dict + epoch; optimizer, numpy scalar, objects and an os.system payload stay inert', () => {
    const marker = '/tmp/mpl-pickle-pwned';
    fs.rmSync(marker, { force: true });
    const ckpt = readTorchCheckpoint(fixture('model.pth.tar-3'));
    const expected = JSON.parse(fs.readFileSync(fixture('model.pth.tar-3.expected.json'), 'utf8')) as {
      epoch: number;
      state_dict: Record<string, Expected>;
    };
    assert.equal(ckpt.kind, 'checkpoint');
    assert.equal(ckpt.epoch, expected.epoch);
    assert.deepEqual([...ckpt.tensors.keys()], Object.keys(expected.state_dict));
    for (const [name, e] of Object.entries(expected.state_dict)) {
      const t = ckpt.tensors.get(name)!;
      assert.equal(t.dtype, e.dtype);
      assert.deepEqual(t.shape, e.shape);
      assert.deepEqual(values(t), e.values, name);
    }
    assert.ok(!fs.existsSync(marker), 'the payload never ran');
    const root = ckpt.root as Map<string, unknown>;
    const evil = root.get('evil');
    assert.ok(evil instanceof PyObject);
    assert.equal(evil.className, 'posix.system');
    assert.match(String(evil.args[0]), /SHOULD-NEVER-RUN/);
    const config = root.get('config') as PyObject;
    assert.equal(config.className, '__main__.SomeConfig');
    assert.deepEqual(pyGet(config.state, 'values'), [1, 2, 3]);
    const optimizer = root.get('optimizer') as Map<string, unknown>;
    assert.ok(optimizer.get('state') instanceof Map, 'optimizer state is readable data');
    assert.ok(root.get('val_result') instanceof PyObject, 'numpy scalar kept as a placeholder');
  });

  test('the OpenAI-style TorchScript archive gives the same tensors as the plain state dict', () => {
    const script = readTorchCheckpoint(fixture('micro_clip_torchscript.pt'));
    const plain = readTorchCheckpoint(fixture('micro_clip_state_dict.pt'));
    const expected = JSON.parse(fs.readFileSync(fixture('micro_clip.expected.json'), 'utf8')) as Record<
      string,
      { dtype: string; shape: number[]; sum: number; first: number }
    >;
    assert.equal(script.kind, 'torchscript');
    assert.deepEqual([...plain.tensors.keys()], Object.keys(expected));
    for (const [name, e] of Object.entries(expected)) {
      const a = script.tensors.get(name);
      assert.ok(a, `torchscript has ${name}`);
      assert.ok(rawEqual(a, plain.tensors.get(name)!), name);
      assert.equal(a.dtype, e.dtype);
      assert.deepEqual(a.shape, e.shape);
      const f = toFloat32(a);
      assert.equal(f[0], Math.fround(e.first), `${name} first`);
      const sum = f.reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(sum - e.sum) <= 1e-4 * Math.max(1, Math.abs(e.sum)), `${name} sum ${sum} vs ${e.sum}`);
    }
  });

  test('legacy, truncated and non-checkpoint files fail with the file named', () => {
    assert.throws(() => readTorchCheckpoint(fixture('legacy_format.pt')), /legacy_format\.pt: is in the legacy \(pre-1\.6, non-zip\) torch\.save format.*re-save.*safetensors/);
    const full = fs.readFileSync(fixture('state_dict.pt'));
    const cut = path.join(dir, 'cut.pt');
    fs.writeFileSync(cut, full.subarray(0, full.length - 100));
    assert.throws(() => readTorchCheckpoint(cut), /cut\.pt: truncated or corrupt zip archive/);
    const text = path.join(dir, 'text.pt');
    fs.writeFileSync(text, 'hello');
    assert.throws(() => readTorchCheckpoint(text), /text\.pt: not a PyTorch checkpoint/);
    assert.throws(() => readTorchCheckpoint(path.join(dir, 'nope.pt')), /nope\.pt: no such file/);
  });

  test('a storage shorter than its tensor names the tensor', () => {
    // Shrink storage "0" of the state dict (layer.weight, 48 bytes) by rewriting its size fields in place.
    const bytes = Buffer.from(fs.readFileSync(fixture('state_dict.pt')));
    const name = Buffer.from('state_dict/data/0');
    let patched = 0;
    for (let at = bytes.indexOf(name); at >= 0; at = bytes.indexOf(name, at + 1)) {
      const local = bytes.readUInt32LE(at - 30) === 0x04034b50 ? at - 30 : -1;
      const central = bytes.readUInt32LE(at - 46) === 0x02014b50 ? at - 46 : -1;
      if (local >= 0) (bytes.writeUInt32LE(40, local + 18), bytes.writeUInt32LE(40, local + 22), patched++);
      if (central >= 0) (bytes.writeUInt32LE(40, central + 20), bytes.writeUInt32LE(40, central + 24), patched++);
    }
    assert.equal(patched, 2);
    assert.throws(() => parseTorchCheckpoint(bytes, 'short.pt'), /short\.pt: tensor "layer\.weight": storage data\/0 has 40 bytes but the tensor needs 48/);
  });
});

describe('pickle VM', () => {
  /** Protocol-0/1 text opcodes, memo, marks, dicts, long ints, floats. */
  test('text protocol and the basic opcodes', () => {
    // Checked with Python: pickle.loads(src) == {'a': 42, 'b': 1.5, 'c': 123456789012345678901, 'd': (1, False), ...}
    const src = "(dp0\nS'a'\np1\nI42\nsS'b'\nF1.5\nsS'c'\nL123456789012345678901L\nsS'd'\n(I1\nI00\ntp2\nsS'e'\ng2\nsS'f'\nV\\u00e9t\\u00e9\nsS'g'\nNs.";
    const v = unpickle(Buffer.from(src, 'latin1')) as Map<string, unknown>;
    assert.equal(v.get('a'), 42);
    assert.equal(v.get('b'), 1.5);
    assert.equal(v.get('c'), 123456789012345678901n);
    assert.deepEqual(v.get('d'), [1, false]);
    assert.equal(v.get('e'), v.get('d'), 'memo returns the same object');
    assert.equal(v.get('f'), 'été');
    assert.equal(v.get('g'), null);
  });

  test('binary opcodes: LONG1 negatives, BINFLOAT, bytes, sets, STACK_GLOBAL, MEMOIZE, FRAME', () => {
    const b: number[] = [0x80, 4, 0x95, ...new Array(8).fill(0)];
    const str = (s: string) => [0x8c, s.length, ...Buffer.from(s)];
    b.push(0x5d, 0x94); // EMPTY_LIST, MEMOIZE
    b.push(0x28); // MARK
    b.push(0x8a, 2, 0x00, 0xff); // LONG1 -256
    b.push(0x8a, 0); // LONG1 0
    b.push(0x47, ...Buffer.from([0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18])); // BINFLOAT pi
    b.push(0x43, 3, 1, 2, 3); // SHORT_BINBYTES
    b.push(0x8f, 0x28, 0x4b, 7, 0x90); // EMPTY_SET, MARK, 7, ADDITEMS
    b.push(...str('os'), ...str('system'), 0x93, ...str('rm -rf /'), 0x85, 0x52); // os.system('rm -rf /') -> inert
    b.push(0x4a, 0xff, 0xff, 0xff, 0xff); // BININT -1
    b.push(0x65, 0x2e); // APPENDS, STOP
    const v = unpickle(Uint8Array.from(b)) as unknown[];
    assert.equal(v[0], -256);
    assert.equal(v[1], 0);
    assert.equal(v[2], Math.PI);
    assert.deepEqual([...(v[3] as Uint8Array)], [1, 2, 3]);
    assert.deepEqual([...(v[4] as Set<number>)], [7]);
    const call = v[5] as PyObject;
    assert.ok(call instanceof PyObject && call.cls instanceof PyGlobal);
    assert.equal(call.className, 'os.system');
    assert.deepEqual(call.args, ['rm -rf /']);
    assert.equal(v[6], -1);
  });

  test('allow-listed globals run, others never do', () => {
    let called = 0;
    const findGlobal = (m: string, n: string) => (m === 'ok' && n === 'f' ? new PyFunction('ok.f', (a) => (called++, a.length)) : undefined);
    // cok\nf\n(I1\nI2\ntR.  -> 2 ; cevil\nf\n(tR. -> placeholder
    assert.equal(unpickle(Buffer.from('cok\nf\n(I1\nI2\ntR.', 'latin1'), { findGlobal }), 2);
    assert.equal(called, 1);
    const p = unpickle(Buffer.from('cevil\nf\n(tR.', 'latin1'), { findGlobal });
    assert.ok(p instanceof PyObject);
    assert.equal(called, 1);
  });

  test('malformed pickles throw instead of looping or crashing', () => {
    assert.throws(() => unpickle(Uint8Array.from([0x80, 2, 0x4b])), /truncated/);
    assert.throws(() => unpickle(Uint8Array.from([0x30])), /MARK missing|underflow/);
    assert.throws(() => unpickle(Uint8Array.from([0x68, 5])), /memo key 5 missing/);
    assert.throws(() => unpickle(Uint8Array.from([0xff])), /unknown pickle opcode 0xff/);
    assert.throws(() => unpickle(Uint8Array.from([0x54, 0xff, 0xff, 0xff, 0xff])), /negative pickle length/);
    assert.throws(() => unpickle(Uint8Array.from([0x4e, 0x51, 0x2e])), /persistent ids/);
  });
});
