import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator, cat, nn, noGrad, isGradEnabled, randn, tensor, tidy, type Tensor } from '../../src/torch/index.js';

/** Central finite differences of a scalar function of one float64 tensor, compared with autograd. */
function checkGradient(f: (x: Tensor) => Tensor, x0: Tensor, tol = 1e-6): void {
  tidy(() => {
    const x = x0.clone().detach().requiresGrad_(true);
    f(x).backward();
    const analytic = x.grad!.toArray();
    const base = x0.toArray();
    const eps = 1e-6;
    base.forEach((_, i) => {
      const plus = base.slice();
      plus[i] += eps;
      const minus = base.slice();
      minus[i] -= eps;
      const fp = noGrad(() => f(tensor(Float64Array.from(plus), x0.shape)).item());
      const fm = noGrad(() => f(tensor(Float64Array.from(minus), x0.shape)).item());
      const numeric = (fp - fm) / (2 * eps);
      assert.ok(
        Math.abs(numeric - analytic[i]) <= tol * Math.max(1, Math.abs(numeric)),
        `d/dx[${i}]: autograd ${analytic[i]} vs finite difference ${numeric}`,
      );
    });
  });
}

const g = new Generator(7);
const f64 = (shape: number[]) => randn(shape, g, 'float64').keep();

test('gradients of elementwise and reduction ops match finite differences', () => {
  const x = f64([3, 4]);
  checkGradient((t) => t.exp().mul(t.sin()).sum(), x);
  checkGradient((t) => t.sigmoid().add(t.tanh()).mul(t.erf()).mean(), x);
  checkGradient((t) => nn.quickGelu(t).pow(2).sum(), x);
  checkGradient((t) => t.softmax(-1).mul(tensor(Float64Array.from([1, 2, 3, 4]), [4])).sum(), x);
  checkGradient((t) => nn.l2normalize(t).select(1, 0).sum(), x);
  x.dispose();
});

test('gradients through layer norm, linear and attention match finite differences', () => {
  const x = f64([1, 3, 4]);
  const w = f64([4]);
  const b = f64([4]);
  const W = f64([4, 4]);
  const attn = {
    inProjWeight: f64([12, 4]),
    inProjBias: f64([12]),
    outProjWeight: f64([4, 4]),
    outProjBias: f64([4]),
  };
  const mask = tidy(() => nn.causalMask(3).to('float64')).keep();
  checkGradient((t) => nn.linear(nn.layerNorm(t, w, b), W).tanh().sum(), x);
  checkGradient((t) => nn.selfAttention(t, attn, 2, mask).pow(2).sum(), x);
  // gradient w.r.t. a prompt concatenated to frozen tokens (the prompt-learning pattern)
  const frozen = f64([1, 2, 4]);
  checkGradient((p) => nn.selfAttention(cat([frozen, p.unsqueeze(0)], 1), attn, 2).sum(), f64([1, 4]));
  for (const t of [x, w, b, W, mask, frozen, ...Object.values(attn)]) t.dispose();
});

test('gradients of cross-entropy, KL and L1 match finite differences', () => {
  const logits = f64([3, 5]);
  const target = tensor([1, 4, 0], [3], 'int64').keep();
  const teacher = tidy(() => randn([3, 5], g, 'float64').logSoftmax(-1)).keep();
  checkGradient((t) => nn.crossEntropy(t, target), logits);
  checkGradient((t) => nn.klDiv(t.logSoftmax(-1), teacher, 'sum', true), logits);
  checkGradient((t) => nn.l1Loss(t, teacher), logits, 1e-5);
  for (const t of [logits, target, teacher]) t.dispose();
});

test('requiresGrad, grad accumulation, zeroGrad, detach and noGrad', () =>
  tidy(() => {
    const p = tensor([1, 2, 3]).requiresGrad_(true);
    assert.equal(p.requiresGrad, true);
    assert.equal(p.isLeaf, true);
    assert.equal(p.grad, null);
    p.mul(p).sum().backward();
    assert.deepEqual(p.grad!.toArray(), [2, 4, 6]);
    p.mul(p).sum().backward(); // accumulates like PyTorch
    assert.deepEqual(p.grad!.toArray(), [4, 8, 12]);
    p.zeroGrad();
    assert.equal(p.grad, null);
    assert.equal(p.detach().requiresGrad, false);
    const y = noGrad(() => {
      assert.equal(isGradEnabled(), false);
      return p.mul(2);
    });
    assert.equal(isGradEnabled(), true);
    assert.equal(y.requiresGrad, false);
  }));
