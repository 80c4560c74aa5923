import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arange, cat, full, nn, ones, stack, tensor, tidy, where, zeros, type Tensor } from '../../src/torch/index.js';

function close(actual: ArrayLike<number>, expected: number[], tol = 1e-5): void {
  assert.equal(actual.length, expected.length, 'length');
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)))) {
      assert.fail(`element ${i}: got ${a}, expected ${e}`);
    }
  }
}
const vals = (t: Tensor): number[] => t.toArray();

test('creation, shape, dtype and export', () =>
  tidy(() => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    assert.deepEqual(a.shape, [2, 3]);
    assert.equal(a.dtype, 'float32');
    assert.equal(a.device, 'cpu');
    assert.deepEqual(vals(a), [1, 2, 3, 4, 5, 6]);
    const i = tensor([1, 2, 3], [3], 'int64');
    assert.equal(i.dtype, 'int64');
    assert.deepEqual(Array.from(i.data() as BigInt64Array), [1n, 2n, 3n]);
    const h = a.to('float16');
    assert.equal(h.dtype, 'float16');
    assert.deepEqual(Array.from(h.toFloat32()), [1, 2, 3, 4, 5, 6]);
    const bf = a.to('bfloat16');
    assert.equal(bf.dtype, 'bfloat16');
    assert.deepEqual(vals(bf), [1, 2, 3, 4, 5, 6]);
    // fp16 raw bits: 1.0 = 0x3c00
    assert.equal((h.data() as Uint16Array)[0], 0x3c00);
    const b = tensor([1, 0, 1], [3], 'bool');
    assert.equal(b.dtype, 'bool');
    assert.deepEqual(vals(b), [1, 0, 1]);
    assert.deepEqual(vals(zeros([2])), [0, 0]);
    assert.deepEqual(vals(ones([2], 'int64')), [1, 1]);
    assert.deepEqual(vals(full([2], 7)), [7, 7]);
    assert.deepEqual(vals(arange(0, 5, 2)), [0, 2, 4]);
    assert.equal(tensor([3.5], []).item(), 3.5);
    assert.throws(() => tensor(new Float32Array(5), [2, 3]), /buffer holds 20 bytes but shape and dtype need 24/);
  }));

test('elementwise arithmetic with broadcasting', () =>
  tidy(() => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const row = tensor([10, 20, 30], [3]);
    const col = tensor([1, 2], [2, 1]);
    assert.deepEqual(vals(a.add(row)), [11, 22, 33, 14, 25, 36]);
    assert.deepEqual(vals(a.sub(col)), [0, 1, 2, 2, 3, 4]);
    assert.deepEqual(vals(a.mul(col)), [1, 2, 3, 8, 10, 12]);
    assert.deepEqual(vals(a.div(2)), [0.5, 1, 1.5, 2, 2.5, 3]);
    assert.deepEqual(vals(a.add(row, 0.5)), [6, 12, 18, 9, 15, 21]);
    assert.deepEqual(vals(a.pow(2)), [1, 4, 9, 16, 25, 36]);
    assert.deepEqual(vals(a.rsub(1)), [0, -1, -2, -3, -4, -5]);
    assert.deepEqual(vals(a.neg()), [-1, -2, -3, -4, -5, -6]);
    assert.deepEqual(vals(a.gt(3)), [0, 0, 0, 1, 1, 1]);
    assert.deepEqual(vals(where(a.gt(3), a, zeros([1]))), [0, 0, 0, 4, 5, 6]);
    assert.deepEqual(vals(a.maximum(tensor([3]))), [3, 3, 3, 4, 5, 6]);
    assert.deepEqual(vals(a.clamp(2, 5)), [2, 2, 3, 4, 5, 5]);
  }));

test('unary functions against hand-computed values', () =>
  tidy(() => {
    const x = tensor([-1, 0, 0.5, 2]);
    close(vals(x.exp()), [Math.exp(-1), 1, Math.exp(0.5), Math.exp(2)]);
    close(vals(tensor([1, Math.E, 10]).log()), [0, 1, Math.log(10)]);
    close(vals(x.sigmoid()), [1 / (1 + Math.E), 0.5, 1 / (1 + Math.exp(-0.5)), 1 / (1 + Math.exp(-2))]);
    close(vals(x.tanh()), [Math.tanh(-1), 0, Math.tanh(0.5), Math.tanh(2)]);
    // erf(0.5) = 0.5204998778130465, erf(2) = 0.9953222650189527
    close(vals(x.erf()), [-0.8427007929497149, 0, 0.5204998778130465, 0.9953222650189527]);
    close(vals(tensor([4, 9]).sqrt()), [2, 3]);
    close(vals(tensor([4, 16]).rsqrt()), [0.5, 0.25]);
    close(vals(x.abs()), [1, 0, 0.5, 2]);
    close(vals(x.relu()), [0, 0, 0.5, 2]);
    close(vals(nn.quickGelu(x)), [-1 / (1 + Math.exp(1.702)), 0, 0.5 / (1 + Math.exp(-0.851)), 2 / (1 + Math.exp(-3.404))]);
  }));

test('reductions, argmax, topk and norms', () =>
  tidy(() => {
    const a = tensor([1, 5, 3, 4, 2, 6], [2, 3]);
    assert.deepEqual(vals(a.sum()), [21]);
    assert.deepEqual(vals(a.sum(0)), [5, 7, 9]);
    assert.deepEqual(vals(a.sum(1, true)), [9, 12]);
    assert.deepEqual(a.sum(1, true).shape, [2, 1]);
    assert.deepEqual(vals(a.mean(1)), [3, 4]);
    assert.deepEqual(vals(a.amax(1)), [5, 6]);
    assert.deepEqual(vals(a.argmax(1)), [1, 2]);
    const [v, i] = a.topk(2, 1);
    assert.deepEqual(vals(v), [5, 3, 6, 4]);
    assert.deepEqual(vals(i), [1, 2, 2, 0]);
    const [mv, mi] = a.max(0);
    assert.deepEqual(vals(mv), [4, 5, 6]);
    assert.deepEqual(vals(mi), [1, 0, 1]);
    close(vals(tensor([3, 4]).norm()), [5]);
    close(vals(tensor([3, 4, 6, 8], [2, 2]).norm(2, -1)), [5, 10]);
    close(vals(nn.l2normalize(tensor([3, 4], [1, 2]))), [0.6, 0.8]);
    close(vals(tensor([1, 2, 3]).logsumexp(0)), [Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3))]);
  }));

test('shape and indexing ops', () =>
  tidy(() => {
    const a = tensor([0, 1, 2, 3, 4, 5], [2, 3]);
    assert.deepEqual(vals(a.transpose(0, 1)), [0, 3, 1, 4, 2, 5]);
    assert.deepEqual(vals(a.permute([1, 0]).contiguous()), [0, 3, 1, 4, 2, 5]);
    assert.deepEqual(a.reshape([3, 2]).shape, [3, 2]);
    assert.deepEqual(a.view([6]).shape, [6]);
    assert.deepEqual(a.unsqueeze(0).shape, [1, 2, 3]);
    assert.deepEqual(a.unsqueeze(0).squeeze(0).shape, [2, 3]);
    assert.deepEqual(vals(tensor([1, 2], [2, 1]).expand([2, 3])), [1, 1, 1, 2, 2, 2]);
    assert.deepEqual(vals(cat([a, a], 0)), [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]);
    assert.deepEqual(cat([a, a], 1).shape, [2, 6]);
    assert.deepEqual(stack([a, a], 0).shape, [2, 2, 3]);
    assert.deepEqual(vals(a.narrow(1, 1, 2)), [1, 2, 4, 5]);
    assert.deepEqual(vals(a.slice(1, 0, -1)), [0, 1, 3, 4]);
    assert.deepEqual(vals(a.slice(1, 0, undefined, 2)), [0, 2, 3, 5]);
    assert.deepEqual(vals(a.select(0, 1)), [3, 4, 5]);
    assert.deepEqual(vals(a.indexSelect(1, tensor([2, 0], [2], 'int64'))), [2, 0, 5, 3]);
    assert.deepEqual(vals(a.gather(1, tensor([2, 0, 1, 1], [2, 2], 'int64'))), [2, 0, 4, 4]);
    assert.deepEqual(vals(a.flatten()), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(vals(a.repeat([1, 2])), [0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5]);
    assert.deepEqual(a.chunk(3, 1).map((c) => c.shape[1]), [1, 1, 1]);
    assert.deepEqual(vals(a.flip([1])), [2, 1, 0, 5, 4, 3]);
  }));

test('triangular masks and masked fill', () =>
  tidy(() => {
    const m = nn.causalMask(3);
    assert.deepEqual(vals(m), [0, -Infinity, -Infinity, 0, 0, -Infinity, 0, 0, 0]);
    const a = ones([3, 3]);
    assert.deepEqual(vals(a.tril()), [1, 0, 0, 1, 1, 0, 1, 1, 1]);
    assert.deepEqual(vals(a.triu(1)), [0, 1, 1, 0, 0, 1, 0, 0, 0]);
    const filled = a.maskedFill(a.triu(1).gt(0), -5);
    assert.deepEqual(vals(filled), [1, -5, -5, 1, 1, -5, 1, 1, 1]);
  }));

test('matmul, linear, conv2d', () =>
  tidy(() => {
    const a = tensor([1, 2, 3, 4], [2, 2]);
    const b = tensor([5, 6, 7, 8], [2, 2]);
    assert.deepEqual(vals(a.matmul(b)), [19, 22, 43, 50]);
    // linear: x Wᵀ + b
    const y = nn.linear(tensor([1, 2], [1, 2]), tensor([1, 0, 0, 1, 1, 1], [3, 2]), tensor([0, 1, 2]));
    assert.deepEqual(vals(y), [1, 3, 5]);
    // batched matmul broadcasting
    assert.deepEqual(tensor(new Float32Array(24), [2, 3, 4]).matmul(zeros([4, 5])).shape, [2, 3, 5]);
    // conv2d, 1 channel, 2x2 kernel stride 2 over a 4x4 image: sums of blocks
    const img = arange(0, 16, 1, 'float32').reshape([1, 1, 4, 4]);
    const out = nn.conv2d(img, ones([1, 1, 2, 2]), null, [2, 2]);
    assert.deepEqual(out.shape, [1, 1, 2, 2]);
    assert.deepEqual(vals(out), [0 + 1 + 4 + 5, 2 + 3 + 6 + 7, 8 + 9 + 12 + 13, 10 + 11 + 14 + 15]);
  }));

test('layer norm, softmax, log-softmax', () =>
  tidy(() => {
    const x = tensor([1, 2, 3, 4], [1, 4]);
    const mean = 2.5;
    const sd = Math.sqrt((1.5 ** 2 * 2 + 0.5 ** 2 * 2) / 4 + 1e-5);
    close(vals(nn.layerNorm(x, ones([4]), zeros([4]))), [1, 2, 3, 4].map((v) => (v - mean) / sd));
    close(vals(nn.layerNorm(x, full([4], 2), full([4], 1))), [1, 2, 3, 4].map((v) => (2 * (v - mean)) / sd + 1));
    const z = Math.exp(1) + Math.exp(2) + Math.exp(3) + Math.exp(4);
    close(vals(x.softmax(-1)), [1, 2, 3, 4].map((v) => Math.exp(v) / z));
    close(vals(x.logSoftmax(-1)), [1, 2, 3, 4].map((v) => v - Math.log(z)));
  }));

test('losses: cross-entropy, KL divergence, L1, MSE', () =>
  tidy(() => {
    const logits = tensor([1, 2, 3, 1, 1, 1], [2, 3]);
    const target = tensor([2, 0], [2], 'int64');
    const l0 = -(3 - Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)));
    const l1 = Math.log(3);
    close(vals(nn.crossEntropy(logits, target)), [(l0 + l1) / 2]);
    close(vals(nn.crossEntropy(logits, target, 'sum')), [l0 + l1]);
    close(vals(nn.crossEntropy(logits, target, 'none')), [l0, l1]);
    // KL(p || q) with log inputs: sum p (log p - log q)
    const p = [0.2, 0.8];
    const q = [0.5, 0.5];
    const kl = p[0] * Math.log(p[0] / q[0]) + p[1] * Math.log(p[1] / q[1]);
    const logq = tensor(q.map(Math.log), [1, 2]);
    const logp = tensor(p.map(Math.log), [1, 2]);
    close(vals(nn.klDiv(logq, logp, 'sum', true)), [kl]);
    close(vals(nn.klDiv(logq, tensor(p, [1, 2]), 'sum', false)), [kl]);
    close(vals(nn.l1Loss(tensor([1, 2, 3]), tensor([2, 2, 5]))), [1]);
    close(vals(nn.mseLoss(tensor([1, 2, 3]), tensor([2, 2, 5]))), [5 / 3]);
  }));

test('self-attention equals a hand-written single-head computation', () =>
  tidy(() => {
    // one head, D = 2, identity projections: attention(x) = softmax(x xᵀ / sqrt(2)) x
    const x = tensor([1, 0, 0, 1, 1, 1], [1, 3, 2]);
    const I2 = tensor([1, 0, 0, 1], [2, 2]);
    const w = {
      inProjWeight: cat([I2, I2, I2], 0),
      inProjBias: zeros([6]),
      outProjWeight: I2,
      outProjBias: zeros([2]),
    };
    const out = nn.selfAttention(x, w, 1);
    const rows = [[1, 0], [0, 1], [1, 1]];
    const expected: number[] = [];
    for (const q of rows) {
      const s = rows.map((k) => (q[0] * k[0] + q[1] * k[1]) / Math.sqrt(2));
      const e = s.map(Math.exp);
      const z = e.reduce((a, b) => a + b);
      expected.push(rows.reduce((acc, k, j) => acc + (e[j] / z) * k[0], 0), rows.reduce((acc, k, j) => acc + (e[j] / z) * k[1], 0));
    }
    close(vals(out), expected);
    // with the causal mask the first token only sees itself
    const masked = nn.selfAttention(x, w, 1, nn.causalMask(3));
    close(vals(masked).slice(0, 2), [1, 0]);
  }));
