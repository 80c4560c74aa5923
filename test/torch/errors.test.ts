import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { getNumThreads, nn, setNumThreads, tensor, tidy, zeros } from '../../src/torch/index.js';
import { repoRoot } from '../helpers.js';

test('a libtorch error is a JS exception naming the op and the shapes', () =>
  tidy(() => {
    assert.throws(() => zeros([2, 3]).matmul(zeros([4, 5])), /^Error: matmul \(\[2, 3\] float32; \[4, 5\] float32\): .*shapes cannot be multiplied/);
    assert.throws(() => zeros([2, 3]).add(zeros([4])), /add \(\[2, 3\] float32; \[4\] float32\): The size of tensor a \(3\) must match/);
    assert.throws(() => zeros([2, 3]).select(0, 5), /select \(\[2, 3\] float32\): .*index 5 .*out of (range|bounds)/);
    assert.throws(() => zeros([2]).indexSelect(0, tensor([0.5])), /indexSelect \(\[2\] float32; \[1\] float32\): .*(int64|Long)/i);
    assert.throws(() => nn.crossEntropy(zeros([2, 3]), tensor([0, 7], [2], 'int64')), /crossEntropy.*out of bounds|Target 7 is out of bounds/);
    assert.throws(() => zeros([2]).reshape([3]), /reshape \(\[2\] float32\): shape '\[3\]' is invalid/);
  }));

test('using a disposed tensor is an error, not a crash', () => {
  const t = tensor([1]);
  t.dispose();
  assert.throws(() => t.add(1), /used after dispose/);
  t.dispose(); // twice is fine
});

test('intra-op threads: option and environment variable', () => {
  const before = getNumThreads();
  setNumThreads(1);
  assert.equal(getNumThreads(), 1);
  setNumThreads(before);
  assert.throws(() => setNumThreads(0), /positive integer/);
  const r = spawnSync(process.execPath, ['-e', "console.log(require('./dist/src/torch').getNumThreads())"], {
    cwd: repoRoot,
    env: { ...process.env, MPL_NUM_THREADS: '1' },
    encoding: 'utf8',
  });
  assert.equal(r.stdout.trim(), '1');
});
