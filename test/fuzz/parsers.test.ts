/**
 * Property-based fuzzing (fast-check, fixed seed, bounded cases) of every parser of outside input:
 * safetensors headers, the pickle VM, PyTorch zip checkpoints, split/JSON lists, the --schedule grammar and the
 * numeric CLI flags. Each input must end in a result or in the parser's own one-line error (UserError /
 * PickleError), never in a TypeError, RangeError, hang or unbounded allocation. Inputs are a mix of random
 * bytes and structure-aware ones (valid files with fields mutated), so the deep code paths are reached.
 * The number of cases per parser is printed as a test diagnostic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { parseIntFlag, parseIntListFlag, parseNumberFlag } from '../../src/cli/flags.js';
import { parseSplit } from '../../src/data/splits.js';
import { PickleError, unpickle } from '../../src/io/pickle.js';
import { parseSafetensors, serializeSafetensors } from '../../src/io/safetensors.js';
import { DTYPE_SIZE, numel } from '../../src/io/tensor.js';
import { parseTorchCheckpoint } from '../../src/io/torchzip.js';
import { ZipArchive } from '../../src/io/zip.js';
import { parseSchedule } from '../../src/prompting/plan.js';
import { UserError } from '../../src/util/errors.js';
import { fixturesDir } from '../helpers.js';
import { torchCheckpoint, type PickledTensorSpec } from '../io/builders.js';
import { makeZip } from '../net/helpers.js';
import { SEED, edgyNumber, fuzz, mutated, text } from './harness.js';

test('fuzz: safetensors headers', (t) => {
  const valid = serializeSafetensors(
    {
      a: { dtype: 'float32', shape: [2, 3], data: new Uint8Array(24).fill(1) },
      b: { dtype: 'float16', shape: [4], data: new Uint8Array(8).fill(2) },
      c: { dtype: 'int64', shape: [], data: new Uint8Array(8).fill(3) },
    },
    { format: 'x' },
  );
  const dtypeName = fc.constantFrom('F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'U8', 'BOOL', 'I8', 'F8_E4M3', 'nope', '');
  const entry = fc.record(
    {
      dtype: fc.oneof(dtypeName, fc.anything()),
      shape: fc.oneof(fc.array(edgyNumber, { maxLength: 4 }), fc.anything()),
      data_offsets: fc.oneof(fc.tuple(edgyNumber, edgyNumber), fc.array(edgyNumber, { maxLength: 3 }), fc.anything()),
    },
    { requiredKeys: [] },
  );
  const header = fc.dictionary(fc.oneof(text(6), fc.constant('__metadata__')), fc.oneof(entry, fc.anything()), { maxKeys: 5 });
  const structured = fc.tuple(header, fc.nat(200)).map(([h, dataLen]) => {
    const json = Buffer.from(JSON.stringify(h) ?? '');
    const head = Buffer.alloc(8);
    head.writeBigUInt64LE(BigInt(json.length));
    return Uint8Array.from(Buffer.concat([head, json, Buffer.alloc(dataLen, 7)]));
  });
  const rawLength = fc.tuple(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.uint8Array({ maxLength: 64 })).map(([n, rest]) => {
    const head = Buffer.alloc(8);
    head.writeBigUInt64LE(n);
    return Uint8Array.from(Buffer.concat([head, rest]));
  });
  const n = fuzz(
    t,
    'safetensors',
    fc.oneof(structured, rawLength, mutated(valid), fc.uint8Array({ maxLength: 128 })),
    4000,
    (b) => parseSafetensors(b, 'fuzz.safetensors'),
    [UserError],
    (r) => {
      // a header that parses describes tensors whose bytes are all inside the data section
      for (const [, tensor] of (r as ReturnType<typeof parseSafetensors>).tensors) {
        assert.equal(tensor.data.byteLength, numel(tensor.shape) * DTYPE_SIZE[tensor.dtype]);
      }
    },
  );
  assert.equal(n, 4000);
});

test('fuzz: the pickle VM', (t) => {
  // Opcode soup: random opcodes of the protocol with random small arguments, and mutated real pickles.
  const opcodes = [
    0x80, 0x95, 0x2e, 0x28, 0x30, 0x31, 0x32, 0x4e, 0x88, 0x89, 0x4a, 0x4b, 0x4d, 0x8a, 0x8b, 0x49, 0x4c, 0x46, 0x47, 0x58,
    0x8c, 0x8d, 0x56, 0x53, 0x54, 0x55, 0x42, 0x43, 0x8e, 0x96, 0x29, 0x85, 0x86, 0x87, 0x74, 0x5d, 0x6c, 0x61, 0x65, 0x7d,
    0x64, 0x73, 0x75, 0x8f, 0x90, 0x91, 0x70, 0x71, 0x72, 0x94, 0x67, 0x68, 0x6a, 0x63, 0x93, 0x52, 0x81, 0x92, 0x69, 0x6f,
    0x62, 0x50, 0x51, 0x82, 0x83, 0x84, 0x97, 0x98,
  ];
  const soup = fc
    .array(fc.tuple(fc.constantFrom(...opcodes), fc.uint8Array({ maxLength: 6 }), fc.boolean()), { maxLength: 40 })
    .map((ops) => Uint8Array.from(ops.flatMap(([op, arg, nl]) => [op, ...arg, ...(nl ? [0x0a] : [])])));
  const zipPickle = (file: string): Uint8Array => {
    const zip = new ZipArchive(fs.readFileSync(path.join(fixturesDir, file)), file);
    return Uint8Array.from(zip.read([...zip.entries.keys()].find((k) => k.endsWith('data.pkl'))!));
  };
  const real = zipPickle('model.pth.tar-3');
  assert.equal(real[0], 0x80, 'found the pickle inside the fixture');
  const persistentLoad = (pid: unknown) => ({ pid });
  const n = fuzz(
    t,
    'pickle',
    fc.oneof(soup, mutated(real), fc.uint8Array({ maxLength: 64 })),
    4000,
    (b) => unpickle(b, { persistentLoad }),
    [PickleError],
  );
  assert.equal(n, 4000);
});

test('fuzz: PyTorch zip checkpoints (zip structure, pickle, storages, strides)', (t) => {
  const files = ['state_dict.pt', 'model.pth.tar-3', 'micro_clip_torchscript.pt'].map((f) => Uint8Array.from(fs.readFileSync(path.join(fixturesDir, f))));
  const storage = new Uint8Array(64).map((_, i) => i);
  const spec: fc.Arbitrary<PickledTensorSpec> = fc.record({
    name: text(4),
    key: fc.constantFrom('0', '1', 'missing'),
    storage: fc.constantFrom('FloatStorage', 'HalfStorage', 'LongStorage', 'BoolStorage', 'CharStorage', 'NoStorage'),
    offset: fc.integer({ min: -4, max: 40 }),
    size: fc.array(fc.integer({ min: -2, max: 9 }), { maxLength: 3 }),
    stride: fc.array(fc.integer({ min: -3, max: 9 }), { maxLength: 3 }),
  });
  const handMade = fc.array(spec, { minLength: 1, maxLength: 3 }).map((specs) => Uint8Array.from(torchCheckpoint(specs, { '0': storage, '1': storage.subarray(0, 10) })));
  const n = fuzz(
    t,
    'torch zip',
    fc.oneof(handMade, ...files.map((f) => mutated(f)), fc.uint8Array({ maxLength: 128 })),
    1500,
    (b) => parseTorchCheckpoint(b, 'fuzz.pt'),
    [UserError],
    (r) => {
      for (const [, tensor] of (r as ReturnType<typeof parseTorchCheckpoint>).tensors) {
        assert.equal(tensor.data.byteLength, numel(tensor.shape) * DTYPE_SIZE[tensor.dtype]);
      }
    },
  );
  assert.equal(n, 1500);
});

test('fuzz: split files and JSON image lists', (t) => {
  const item = fc.oneof(
    fc.tuple(text(5), fc.oneof(fc.integer({ min: -1, max: 4 }), fc.double()), fc.constantFrom('a', 'b', 'c', '')),
    fc.anything(),
  );
  const lists = fc.record(
    { train: fc.oneof(fc.array(item, { maxLength: 6 }), fc.anything()), val: fc.array(item, { maxLength: 3 }), test: fc.array(item, { maxLength: 3 }), mpl_generated_split: fc.anything() },
    { requiredKeys: [] },
  );
  const n = fuzz(
    t,
    'split / JSON list',
    fc.oneof(lists, fc.jsonValue(), fc.anything()),
    3000,
    (json) => parseSplit(json, 'split.json', {}),
    [UserError],
    (r) => {
      const s = r as ReturnType<typeof parseSplit>;
      assert.ok(s.train.length > 0);
      for (const e of [...s.train, ...s.val, ...s.test]) assert.ok(Number.isInteger(e.label) && e.label >= 0 && e.relpath.length > 0);
    },
  );
  assert.equal(n, 3000);
});

test('fuzz: the --schedule grammar', (t) => {
  const token = fc.constantFrom('1', '2', '12', '999', '1001', '99999999999', '0', '-', ':', ',', ';', '/', 'add', 'rm', 'remove', ' ', 'x', '1-4', '5-8', '1-1000000000');
  const grammarish = fc.array(token, { maxLength: 14 }).map((ts) => ts.join(''));
  const n = fuzz(
    t,
    'schedule',
    fc.oneof(grammarish, text(30)),
    4000,
    (s) => parseSchedule(s),
    [UserError],
    (r) => {
      for (const [layer, c] of r as ReturnType<typeof parseSchedule>) {
        assert.ok(Number.isSafeInteger(layer) && layer >= 1 && layer <= 1000, `layer ${layer}`);
        assert.ok(Number.isSafeInteger(c.add) && c.add >= 0 && Number.isSafeInteger(c.remove) && c.remove >= 0);
      }
    },
  );
  assert.equal(n, 4000);
});

test('fuzz: numeric CLI flags', (t) => {
  const flagText = fc.oneof(
    text(12),
    fc.constantFrom('nan', 'NaN', 'inf', '-inf', 'Infinity', '1e400', '0x10', '1e3', '1.', '.5', '-0', '+3', ' 7 ', '', ',', '1,,2', '1,1'),
    edgyNumber.map(String),
    fc.array(fc.integer({ min: -2, max: 5 }), { maxLength: 4 }).map((xs) => xs.join(',')),
  );
  const range = fc.record({ min: fc.integer({ min: 0, max: 3 }), max: fc.option(fc.integer({ min: 3, max: 1000 }), { nil: undefined }), exclusiveMin: fc.boolean() });
  const inRange = (v: number, r: { min: number; max?: number; exclusiveMin: boolean }) =>
    Number.isFinite(v) && (r.exclusiveMin ? v > r.min : v >= r.min) && (r.max === undefined || v <= r.max);
  let n = 0;
  n += fuzz(t, 'int flag', fc.tuple(flagText, range), 2000, ([s, r]) => parseIntFlag('--n', s, r), [UserError], (v, [, r]) => {
    assert.ok(Number.isSafeInteger(v) && inRange(v as number, r), String(v));
  });
  n += fuzz(t, 'number flag', fc.tuple(flagText, range), 2000, ([s, r]) => parseNumberFlag('--x', s, r), [UserError], (v, [, r]) => {
    assert.ok(inRange(v as number, r), String(v));
  });
  n += fuzz(t, 'int list flag', fc.tuple(flagText, range), 2000, ([s, r]) => parseIntListFlag('--seeds', s, r), [UserError], (v, [, r]) => {
    const xs = v as number[];
    assert.ok(xs.length > 0 && new Set(xs).size === xs.length && xs.every((x) => Number.isSafeInteger(x) && inRange(x, r)));
  });
  // and every integer in range is accepted as itself
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 32 }), (k) => parseIntFlag('--n', String(k)) === k && parseNumberFlag('--x', String(k)) === k),
    { seed: SEED, numRuns: 500 },
  );
  assert.equal(n, 6000);
});

test('large hostile inputs end in a result or a one-line error, not a stack overflow', () => {
  // APPENDS of 300,000 items (a 300 KB pickle): once a RangeError from push(...items)
  const items = 300_000;
  const list = Uint8Array.from([0x80, 2, 0x5d, 0x28, ...new Array<number>(items).fill(0x4e), 0x65, 0x2e]);
  assert.equal((unpickle(list) as unknown[]).length, items);

  // a truncated safetensors file whose header lists 200,000 tensors: once a RangeError from Math.max(...)
  const header: Record<string, unknown> = {};
  for (let i = 0; i < 200_000; i++) header[`t${i}`] = { dtype: 'U8', shape: [1], data_offsets: [i, i + 1] };
  const json = Buffer.from(JSON.stringify(header));
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  assert.throws(() => parseSafetensors(Buffer.concat([head, json, Buffer.alloc(10)]), 'many.safetensors'), (e: Error) => e instanceof UserError && /many\.safetensors: truncated/.test(e.message));

  // a TorchScript archive whose modules nest 50,000 deep: once a RangeError from recursion
  const global = [0x63, ...Buffer.from('x\ny\n')];
  const level = [...global, 0x29, 0x81, 0x7d, 0x58, 1, 0, 0, 0, 0x6b, 0x68, 0, 0x73, 0x62, 0x71, 0, 0x30]; // obj, {"k": memo[0]}, BUILD, memo[0] = obj
  const pkl = [0x80, 2, ...global, 0x29, 0x81, 0x71, 0, 0x30];
  for (let i = 0; i < 50_000; i++) pkl.push(...level);
  pkl.push(0x68, 0, 0x2e);
  const deep = makeZip([
    { name: 'a/data.pkl', data: Buffer.from(pkl) },
    { name: 'a/constants.pkl', data: Buffer.from([0x80, 2, 0x29, 0x2e]) },
  ]);
  assert.throws(() => parseTorchCheckpoint(deep, 'deep.pt'), /deep\.pt: TorchScript modules nested more than 1000 deep/);
});
