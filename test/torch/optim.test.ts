import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SGD, tensor, tidy, type SGDOptions } from '../../src/torch/index.js';

// Expected parameter values after each of 5 steps, produced by torch.optim.SGD (PyTorch 1.13, float64) on
// loss = sum(c * p^2) + sum(p), c = [1, 2, 3], p0 = [1, -2, 0.5].
const expected: Record<string, { opts: SGDOptions; seq: number[][] }> = {
  plain: { opts: { lr: 0.1 }, seq: [[0.7, -1.3, 0.1], [0.46, -0.88, -0.06], [0.268, -0.628, -0.124], [0.1144, -0.4768, -0.1496], [-0.00848, -0.38608, -0.15984]] },
  momentum: { opts: { lr: 0.1, momentum: 0.9 }, seq: [[0.7, -1.3, 0.1], [0.19, -0.25, -0.42], [-0.407, 0.695, -0.736], [-0.9629, 1.1675, -0.6788], [-1.37063, 1.02575, -0.32004]] },
  weightDecay: { opts: { lr: 0.1, momentum: 0.9, weightDecay: 0.01 }, seq: [[0.699, -1.298, 0.0995], [0.187601, -0.245702, -0.4207495], [-0.410365901, 0.699892702, -0.7361036005], [-0.966052565799, 1.170270960298, -0.677524027049], [-1.371993998393, 1.024332737687, -0.317610470687]] },
  dampening: { opts: { lr: 0.05, momentum: 0.5, dampening: 0.3, weightDecay: 0.1 }, seq: [[0.845, -1.64, 0.2975], [0.6703925, -1.25966, 0.09773375], [0.49881490125, -0.92372879, -0.058015530625], [0.341363206633, -0.658208103635, -0.158503855149], [0.202547163637, -0.465994897581, -0.209907444337]] },
  nesterov: { opts: { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4 }, seq: [[0.429905, -0.66981, -0.2600475], [-0.166540240975, 0.21639023195, -0.477588895488], [-0.662637599234, 0.508331565901, -0.369316791763], [-0.987244721073, 0.362608705936, -0.208735165769], [-1.123448935026, 0.038863306274, -0.125681470365]] },
};

for (const [name, { opts, seq }] of Object.entries(expected)) {
  test(`SGD ${name} matches torch.optim.SGD`, () => {
    const p = tensor(Float64Array.from([1, -2, 0.5]), [3]).keep().requiresGrad_(true);
    const c = tensor(Float64Array.from([1, 2, 3]), [3]).keep();
    const opt = new SGD([p], opts);
    for (const step of seq) {
      opt.zeroGrad();
      tidy(() => p.pow(2).mul(c).sum().add(p.sum()).backward());
      opt.step();
      const got = p.toArray();
      step.forEach((e, i) => assert.ok(Math.abs(got[i] - e) < 1e-9, `${name}: got ${got[i]}, expected ${e}`));
    }
    opt.disposeState();
    p.dispose();
    c.dispose();
  });
}

test('SGD skips parameters without gradients and rejects bad Nesterov settings', () => {
  const p = tensor([1, 2]).keep().requiresGrad_(true);
  const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
  opt.step();
  assert.deepEqual(p.toArray(), [1, 2]);
  assert.throws(() => new SGD([p], { lr: 0.1, nesterov: true }), /Nesterov/);
  p.dispose();
});
