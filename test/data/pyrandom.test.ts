import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PyRandom, pyRound } from '../../src/data/pyrandom.js';

// Expected values were produced once with CPython 3.11 (`random.Random(seed)`); the tests never run Python.
test('seed(1): getrandbits and random match CPython', () => {
  const r = new PyRandom(1);
  assert.deepEqual([r.getrandbits(32), r.getrandbits(32), r.getrandbits(32)], [577090037, 2444712010, 3639700191]);
  assert.equal(r.getrandbits(53), 6879471607037488);
  assert.equal(r.random(), 0.06310682188770933);
  assert.equal(r.random(), 0.11791870367106105);
});

test('multi-word seed (2**40 + 7): sample (both code paths), shuffle, randint, big getrandbits', () => {
  const r = new PyRandom(2 ** 40 + 7);
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  // n=30 <= setsize for k=10 → pool path
  assert.deepEqual(r.sample(range(30), 10), [19, 23, 26, 20, 18, 22, 15, 8, 29, 4]);
  // n=1000 > setsize for k=16 → selection-set path
  assert.deepEqual(r.sample(range(1000), 16), [529, 384, 533, 737, 371, 402, 453, 460, 884, 918, 381, 230, 862, 915, 455, 768]);
  assert.deepEqual(r.shuffle(range(12)), [1, 3, 4, 5, 6, 7, 0, 11, 8, 10, 2, 9]);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map(() => r.randint(0, 9)), [9, 9, 0, 9, 2, 0]);
  assert.equal(r.getrandbitsBig(100).toString(), '602586287138786645999663376982');
});

test('negative seeds use abs(seed); seed 0 and bigint seeds work', () => {
  assert.equal(new PyRandom(-5).getrandbits(32), 2675342405);
  assert.equal(new PyRandom(5n).getrandbits(32), 2675342405);
  assert.equal(new PyRandom(0).random(), 0.8444218515250481);
});

test('sample rejects k > n; getrandbits(0) is 0', () => {
  const r = new PyRandom(3);
  assert.throws(() => r.sample([1, 2], 3), /larger than population/);
  assert.equal(r.getrandbits(0), 0);
  assert.deepEqual(r.sample([1, 2, 3], 0), []);
});

test('pyRound rounds half to even like Python', () => {
  assert.deepEqual([0.5, 1.5, 2.5, 3.5, -0.5, 2.4, 2.6].map(pyRound), [0, 2, 2, 4, 0, 2, 3]);
});
