import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClipTokenizer } from '../../src/backbones/clip/tokenizer.js';
import { PromptLearner } from '../../src/prompting/learner.js';
import { evaluate } from '../../src/train/evaluate.js';
import { train } from '../../src/train/trainer.js';
import { liveTensors } from '../../src/torch/index.js';
import { cpuClass } from '../../src/torch/index.js';
import { goldenModel, testDevice, testPrecisions } from '../prompting/golden.js';
import { syntheticSource } from './synthetic.js';

test(`training on a tiny task lowers the loss and frees every temporary tensor [${testDevice}]`, async () => {
  const model = goldenModel('fp32', testDevice);
  const learner = new PromptLearner(model, ClipTokenizer.default(), 'coop', ['left', 'right'], { ctxInit: '', nCtx: 4, csc: true, seed: 1 });
  await evaluate(learner, syntheticSource()); // warms the model's per-length causal-mask cache
  const before = liveTensors();
  const result = await train(learner, syntheticSource(), { epochs: 10, lr: 0.5, warmupEpochs: 0 });
  assert.equal(liveTensors(), before, 'live tensors after training');
  const losses = result.epochs.map((e) => e.loss);
  assert.ok(losses[losses.length - 1] < losses[0] * 0.9, `loss went from ${losses[0]} to ${losses[losses.length - 1]}`);
  const ev = await evaluate(learner, syntheticSource());
  assert.equal(ev.total, 8);
  assert.ok(ev.accuracy >= 50);
  learner.dispose();
});

test(`MPL training frees every temporary tensor and moves the prompts [${testDevice}]`, async () => {
  const model = goldenModel('fp32', testDevice);
  const learner = new PromptLearner(model, ClipTokenizer.default(), 'mpl', ['left', 'right'], { depth: 3, seed: 1 });
  await evaluate(learner, syntheticSource());
  const before = liveTensors();
  const ctx0 = learner.params.get('prompt_learner.ctx')!.toArray();
  await train(learner, syntheticSource(), { epochs: 3, lr: 0.0035 });
  assert.equal(liveTensors(), before, 'live tensors after training');
  assert.notDeepEqual(learner.params.get('prompt_learner.ctx')!.toArray(), ctx0);
  learner.dispose();
});

test(`training in every precision reaches fp32's accuracy on a tiny task [${testDevice === 'cpu' ? `cpu, class ${cpuClass()}` : testDevice}: ${testPrecisions().join(', ')}]`, async () => {
  const outcome = new Map<string, { first: number; last: number; accuracy: number }>();
  for (const precision of testPrecisions()) {
    const learner = new PromptLearner(goldenModel(precision, testDevice), ClipTokenizer.default(), 'coop', ['left', 'right'], { ctxInit: '', nCtx: 4, csc: true, seed: 1 });
    try {
      await evaluate(learner, syntheticSource()); // warms the model's per-length causal-mask cache
      const before = liveTensors();
      const r = await train(learner, syntheticSource(), { epochs: 10, lr: 0.5, warmupEpochs: 0 });
      assert.equal(liveTensors(), before, `${precision}: live tensors after training`);
      const ev = await evaluate(learner, syntheticSource());
      outcome.set(precision, { first: r.epochs[0].loss, last: r.epochs[r.epochs.length - 1].loss, accuracy: ev.accuracy });
    } finally {
      learner.dispose();
    }
  }
  const ref = outcome.get('fp32')!;
  for (const [precision, o] of outcome) {
    assert.ok(o.last < o.first * 0.9, `${precision}: loss went from ${o.first} to ${o.last}`);
    // eight evaluation images: one image is 12.5 points, the noise a precision may add
    assert.ok(Math.abs(o.accuracy - ref.accuracy) <= 12.5, `${precision}: accuracy ${o.accuracy} vs fp32 ${ref.accuracy}`);
  }
});
