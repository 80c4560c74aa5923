import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW, SGD, liveTensors, tensor, tidy, type AdamWOptions, type SGDOptions } from '../../src/torch/index.js';

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

// Expected parameter values after each of 5 steps, printed by test/fixtures/make_adamw_sequences.py with real
// torch.optim.AdamW (PyTorch 1.13, float64) on the same problem; `lrs` sets the learning rate before each step.
const adamw: Record<string, { opts: AdamWOptions; lrs?: number[]; seq: number[][] }> = {
  defaults: { opts: { lr: 0.1 }, seq: [[0.899000000333333, -1.89800000014286, 0.39950000025], [0.798343153961783, -1.79630344212312, 0.29985473631034], [0.698217092738078, -1.69506280842661, 0.201793837424209], [0.598831245387195, -1.59444537617327, 0.106272934521434], [0.500418360588827, -1.49463397651601, 0.0145130306245135]] },
  noDecay: { opts: { lr: 0.05, weightDecay: 0 }, seq: [[0.950000000166667, -1.95000000007143, 0.450000000125], [0.900051353875276, -1.90004302302159, 0.400139387156191], [0.850190761978912, -1.85015947243092, 0.350528800361285], [0.800456765868076, -1.80038100987558, 0.30129389796124], [0.75088972854132, -1.75074052001795, 0.252576682498276]] },
  betasEpsDecay: { opts: { lr: 0.02, betas: [0.8, 0.95], eps: 1e-3, weightDecay: 0.5 }, seq: [[0.970006664445185, -1.96000285673475, 0.475004998750312], [0.940331610795601, -1.92042681659789, 0.450296352366031], [0.910983851246445, -1.88128183957843, 0.425896406142157], [0.881972130394657, -1.84257766187747, 0.401827713664231], [0.853304791021334, -1.80432364502031, 0.378112778590194]] },
  cosineLr: {
    opts: { lr: 0.1, weightDecay: 0.1 },
    lrs: [0, 1, 2, 3, 4].map((i) => 0.1 * 0.5 * (1 + Math.cos((Math.PI * i) / 5))),
    seq: [[0.890000000333333, -1.88000000014286, 0.39500000025], [0.791743825938292, -1.77276864930357, 0.301706663644096], [0.721571068983893, -1.69613536342935, 0.235730342814605], [0.684940756003379, -1.65610201439119, 0.201714391503703], [0.674892002083216, -1.64511230802921, 0.192489927685898]],
  },
};

for (const [name, { opts, lrs, seq }] of Object.entries(adamw)) {
  test(`AdamW ${name} matches torch.optim.AdamW`, () => {
    const live = liveTensors();
    const p = tensor(Float64Array.from([1, -2, 0.5]), [3]).keep().requiresGrad_(true);
    const c = tensor(Float64Array.from([1, 2, 3]), [3]).keep();
    const opt = new AdamW([p], opts);
    seq.forEach((step, k) => {
      if (lrs) opt.lr = lrs[k];
      opt.zeroGrad();
      tidy(() => p.pow(2).mul(c).sum().add(p.sum()).backward());
      opt.step();
      const got = p.toArray();
      step.forEach((e, i) => assert.ok(Math.abs(got[i] - e) < 1e-12, `${name} step ${k + 1}: got ${got[i]}, expected ${e}`));
    });
    assert.equal(opt.stateList()[0]!.step, seq.length);
    opt.disposeState();
    p.dispose();
    c.dispose();
    assert.equal(liveTensors(), live, 'AdamW leaves no tensors behind');
  });
}

test('AdamW state round-trips (a resumed run continues the same sequence) and skips parameters without gradients', () => {
  const run = (resumeAt: number | null): number[] => {
    const p = tensor(Float64Array.from([1, -2, 0.5]), [3]).keep().requiresGrad_(true);
    let opt = new AdamW([p], { lr: 0.1 });
    for (let k = 0; k < 5; k++) {
      if (k === resumeAt) {
        const saved = opt.stateList();
        const fresh = new AdamW([p], { lr: 0.1 });
        fresh.loadStateList(saved);
        opt.disposeState();
        opt = fresh;
      }
      opt.zeroGrad();
      tidy(() => p.pow(2).sum().add(p.sum()).backward());
      opt.step();
    }
    const out = p.toArray();
    opt.disposeState();
    p.dispose();
    return out;
  };
  assert.deepEqual(run(2), run(null));
  const q = tensor([1, 2]).keep().requiresGrad_(true);
  const opt = new AdamW([q], { lr: 0.1 });
  opt.step();
  assert.deepEqual(q.toArray(), [1, 2]);
  assert.equal(opt.stateList()[0], undefined);
  assert.throws(() => new AdamW([q], { lr: 0.1, betas: [1, 0.9] }), /betas/);
  q.dispose();
});
