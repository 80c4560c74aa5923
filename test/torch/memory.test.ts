import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator, SGD, dispose, keep, liveTensors, nn, randn, tensor, tidy, zeros, type Tensor } from '../../src/torch/index.js';

test('tidy frees what it created except what it returns or keeps', () => {
  const before = liveTensors();
  const kept: Tensor[] = [];
  const out = tidy(() => {
    const a = tensor([1, 2, 3]);
    const b = a.mul(2);
    kept.push(keep(a.add(1)));
    a.add(b); // garbage
    return { result: b, list: [b.sum()] };
  });
  assert.equal(liveTensors(), before + 3); // b, its sum, the kept tensor
  assert.deepEqual(out.result.toArray(), [2, 4, 6]);
  dispose(out);
  kept[0].dispose();
  assert.equal(liveTensors(), before);
});

test('nested scopes move returned tensors to the parent; exceptions free everything', () => {
  const before = liveTensors();
  tidy(() => {
    const inner = tidy(() => tensor([1]).add(1));
    assert.equal(inner.isDisposed, false);
  });
  assert.equal(liveTensors(), before);
  assert.throws(() =>
    tidy(() => {
      tensor([1, 2]).add(1);
      throw new Error('boom');
    }),
  );
  assert.equal(liveTensors(), before);
  assert.throws(() => tidy(() => Promise.resolve(1) as unknown as number), /synchronous/);
});

test('1,000 training iterations leave the live-tensor count unchanged and RSS bounded', () => {
  const g = new Generator(1);
  const w1 = randn([64, 32], g).mul(0.1).keep().requiresGrad_(true);
  const b1 = zeros([64]).keep().requiresGrad_(true);
  const w2 = randn([10, 64], g).mul(0.1).keep().requiresGrad_(true);
  const x = randn([16, 32], g).keep();
  const y = tensor(Array.from({ length: 16 }, (_, i) => i % 10), [16], 'int64').keep();
  const opt = new SGD([w1, b1, w2], { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  const step = (): number =>
    tidy(() => {
      opt.zeroGrad();
      const h = nn.linear(x, w1, b1).relu();
      const loss = nn.crossEntropy(nn.linear(h, w2), y);
      loss.backward();
      opt.step();
      return loss.item();
    });
  const first = step();
  for (let i = 0; i < 50; i++) step();
  const live = liveTensors();
  const rss = process.memoryUsage().rss;
  let last = first;
  for (let i = 0; i < 1000; i++) last = step();
  assert.equal(liveTensors(), live, 'live native tensors changed over 1,000 iterations');
  const growth = process.memoryUsage().rss - rss;
  assert.ok(growth < 64 * 1024 * 1024, `RSS grew by ${(growth / 1048576).toFixed(1)} MiB`);
  assert.ok(last < first, 'the loss decreases');
  opt.disposeState();
  for (const t of [w1, b1, w2, x, y]) t.dispose();
});
