/**
 * What train() and evaluate() do for a method's capabilities, checked through those functions (not their
 * parts): weight averaging over epochs (PromptSRC's GPA) ends training, image-conditioned text (CoCoOp) is
 * evaluated, and the optimiser settings (weight decay) reach the update.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClipTokenizer } from '../../src/backbones/clip/tokenizer.js';
import { PromptLearner } from '../../src/prompting/learner.js';
import { gpaWeights } from '../../src/prompting/methods/index.js';
import { evaluate } from '../../src/train/evaluate.js';
import { train } from '../../src/train/trainer.js';
import { TRAIN_DEFAULTS } from '../../src/train/defaults.js';
import { batchTensors } from '../../src/train/step.js';
import { noGrad, tidy } from '../../src/torch/index.js';
import type { Batch, BatchSource } from '../../src/train/batches.js';
import { assertClose, goldenModel, testDevice } from '../prompting/golden.js';
import { syntheticSource } from './synthetic.js';

const classes = ['left', 'right'];
const snapshot = (learner: PromptLearner) => new Map([...learner.params].map(([k, p]) => [k, p.toFloat32()]));

test(`PromptSRC ends training with the Gaussian-weighted average of every epoch's prompts [${testDevice}]`, async () => {
  const model = goldenModel('fp32', testDevice);
  const options = { depthText: 2, depthVision: 2, gpaMean: 2, gpaStd: 1, seed: 1 };
  const learner = new PromptLearner(model, ClipTokenizer.default(), 'promptsrc', classes, options);
  try {
    const epochs = 3;
    const perEpoch: Array<Map<string, Float32Array>> = [];
    await train(learner, syntheticSource(), { epochs, lr: 0.05, warmupEpochs: 0, onEpoch: () => perEpoch.push(snapshot(learner)) });
    assert.equal(perEpoch.length, epochs);
    const w = gpaWeights(epochs, options.gpaMean, options.gpaStd);
    assert.ok(w[epochs - 1] < 0.5, 'the last epoch does not dominate the average (else the check below is weak)');
    const final = snapshot(learner);
    for (const [key, got] of final) {
      const want = new Float32Array(got.length);
      perEpoch.forEach((snap, e) => snap.get(key)!.forEach((v, i) => (want[i] += w[e] * v)));
      assertClose(got, want, 1e-5, 1e-7, `GPA of ${key}`);
      const last = perEpoch[epochs - 1].get(key)!;
      assert.ok(got.some((v, i) => Math.abs(v - last[i]) > 1e-6), `${key}: the averaged prompts differ from the last epoch's`);
    }
  } finally {
    learner.dispose();
  }
});

test(`evaluate() agrees with forward() for image-conditioned text (CoCoOp) and fixed text (CoOp) [${testDevice}]`, async () => {
  const model = goldenModel('fp32', testDevice);
  for (const method of ['cocoop', 'coop'] as const) {
    const learner = new PromptLearner(model, ClipTokenizer.default(), method, classes, { seed: 3 });
    try {
      assert.equal(learner.imageConditioned, method === 'cocoop');
      const r = await evaluate(learner, syntheticSource());
      assert.equal(r.total, 8);
      // the confusion matrix forward() gives, batch by batch
      const confusion = [
        [0, 0],
        [0, 0],
      ];
      for await (const batch of syntheticSource().batches(0, model.imageSize)) {
        const pred = noGrad(() => tidy(() => learner.forward(batchTensors(batch, model.device).images).logits.argmax(1).toArray()));
        pred.forEach((p, i) => confusion[batch.labels[i]][p]++);
      }
      assert.deepEqual(r.confusion, confusion, `${method}: evaluate's predictions are forward's`);
    } finally {
      learner.dispose();
    }
  }
});

/** The first batch of the synthetic task only: one SGD step per epoch. */
function oneBatch(): BatchSource {
  const src = syntheticSource();
  return {
    length: 4,
    batchesPerEpoch: () => 1,
    async *batches(epoch: number, size: number): AsyncGenerator<Batch> {
      for await (const b of src.batches(epoch, size)) {
        yield b;
        return;
      }
    },
    close: () => src.close(),
  };
}

test(`weight decay reaches the update inside train(), with the official default [${testDevice}]`, async () => {
  const model = goldenModel('fp32', testDevice);
  const lr = 1; // large, so the decay term stands well above float32 rounding
  // one step without momentum: θ1 = θ0 − lr·(g + wd·θ0), so runs that differ only in wd differ by lr·wd·θ0
  const after = async (weightDecay: number | undefined) => {
    const learner = new PromptLearner(model, ClipTokenizer.default(), 'coop', classes, { seed: 4 });
    try {
      const start = snapshot(learner);
      await train(learner, oneBatch(), { epochs: 1, lr, warmupEpochs: 0, momentum: 0, weightDecay });
      return { start, end: snapshot(learner) };
    } finally {
      learner.dispose();
    }
  };
  const none = await after(0);
  const strong = await after(0.5);
  const byDefault = await after(undefined);
  const key = 'prompt_learner.ctx';
  const theta0 = none.start.get(key)!;
  const decayed = (wd: number) => theta0.map((v) => lr * wd * v);
  const diff = (a: Float32Array, b: Float32Array) => a.map((v, i) => v - b[i]);
  assertClose(diff(none.end.get(key)!, strong.end.get(key)!), decayed(0.5), 1e-4, 1e-7, 'weight decay 0.5');
  assertClose(diff(none.end.get(key)!, byDefault.end.get(key)!), decayed(TRAIN_DEFAULTS.weightDecay), 1e-3, 1e-8, 'the default weight decay');
});
