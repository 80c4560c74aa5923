/**
 * Training observers (what the TensorBoard event files are written from): every batch reported in order with
 * the epoch's running loss, accuracy and loss terms; the snapshots kept on the device when the trainer reads it
 * only every few batches (the GPU setting) give the same reports as reading every batch; nothing leaks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClipTokenizer } from '../../src/backbones/clip/tokenizer.js';
import { PromptLearner } from '../../src/prompting/learner.js';
import { liveTensors } from '../../src/torch/index.js';
import type { BatchReport } from '../../src/train/observer.js';
import { train, type EpochSummary } from '../../src/train/trainer.js';
import { goldenModel, testDevice } from '../prompting/golden.js';
import { syntheticSource } from './synthetic.js';

async function observed(syncEvery: number): Promise<{ batches: BatchReport[]; epochs: EpochSummary[]; leaked: number }> {
  const model = goldenModel('fp32', testDevice);
  const learner = new PromptLearner(model, ClipTokenizer.default(), 'promptsrc', ['left', 'right'], { depthText: 2, depthVision: 2, seed: 1 });
  try {
    const batches: BatchReport[] = [];
    const epochs: EpochSummary[] = [];
    // a first training fills the model's caches (causal masks per text length), which outlive a training
    await train(learner, syntheticSource(), { epochs: 1, lr: 0.05 });
    const before = liveTensors();
    await train(learner, syntheticSource(), { epochs: 3, lr: 0.05, syncEvery, observers: [{ batch: (r) => batches.push(r), epoch: (s) => epochs.push(s) }] });
    return { batches, epochs, leaked: liveTensors() - before };
  } finally {
    learner.dispose();
  }
}

test(`observers see every batch's running loss, accuracy and loss terms, read every batch or every few [${testDevice}]`, async () => {
  const every = await observed(1);
  const few = await observed(5); // 2 batches per epoch: each epoch's two snapshots are read together at its end
  for (const run of [every, few]) {
    assert.equal(run.leaked, 0, 'no tensor left behind');
    assert.deepEqual(run.batches.map((r) => [r.epoch, r.batch, r.batchesPerEpoch]), [[1, 1, 2], [1, 2, 2], [2, 1, 2], [2, 2, 2], [3, 1, 2], [3, 2, 2]]);
    for (const s of run.epochs) {
      const last = run.batches.find((r) => r.epoch === s.epoch && r.batch === 2)!;
      assert.equal(last.loss, s.loss, `epoch ${s.epoch}: the last batch's running loss is the epoch's`);
      assert.equal(last.accuracy, s.accuracy);
      assert.equal(last.lr, s.lr);
    }
    for (const r of run.batches) {
      assert.deepEqual(Object.keys(r.terms), ['ce', 'scl_logits', 'scl_text', 'scl_image'], 'the cross-entropy and the terms PromptSRC declares');
      const sum = Object.values(r.terms).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - r.loss) <= 1e-5 * Math.max(1, r.loss), `the terms add up to the loss (${sum} vs ${r.loss})`);
    }
  }
  assert.deepEqual(few.batches, every.batches, 'device snapshots read later = values read at once');
});
