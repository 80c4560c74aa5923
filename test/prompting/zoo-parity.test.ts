/**
 * Parity of the linear probe, CLIP-Adapter, Tip-Adapter and Tip-Adapter-F with their official code on the golden
 * tiny CLIP: reference vectors made by test/fixtures/methods/make_*_golden.py from the official repositories
 * (test/fixtures/README.md). fp32 on the test device, held to the golden README's tolerances.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensors } from '../../src/io/safetensors.js';
import type { RawTensor } from '../../src/io/tensor.js';
import { PromptLearner } from '../../src/prompting/learner.js';
import { ClipTokenizer } from '../../src/clip/tokenizer.js';
import { SGD, noGrad, tensor, tidy } from '../../src/torch/index.js';
import { fixturesDir } from '../helpers.js';
import { assertClose, float32, goldenImages, goldenModel, testDevice } from './golden.js';

const methodsDir = path.join(fixturesDir, 'methods');
const fixture = (rel: string): Map<string, RawTensor> => readSafetensors(path.join(methodsDir, rel)).tensors;
const outputs = (method: string): Record<string, unknown> => JSON.parse(fs.readFileSync(path.join(methodsDir, method, 'outputs.json'), 'utf8'));

/** fp32 elementwise tolerances [rtol, atol] (the golden README's on the CPU; GPU kernels reorder sums). */
const FP32 = testDevice === 'cpu'
  ? { logits: [1e-5, 1e-4], loss: [1e-5, 0], grad: [1e-4, 1e-6], after: [1e-4, 1e-6] }
  : { logits: [1e-4, 1e-4], loss: [1e-4, 1e-7], grad: [1e-3, 1e-5], after: [1e-4, 1e-6] };

test(`clip-adapter [${testDevice} fp32]: logits, loss, gradients and two SGD steps as the official CLIP-Adapter`, () => {
  const o = outputs('clip-adapter');
  const model = goldenModel('fp32', testDevice);
  const learner = new PromptLearner(model, ClipTokenizer.default(), 'clip-adapter', o.classes as string[], { dataset: 'eurosat' });
  const images = goldenImages().keep();
  const labels = tensor(o.labels as number[], [(o.labels as number[]).length], 'int64').keep();
  try {
    const params = fixture('clip-adapter/params.safetensors');
    assert.deepEqual([...learner.params.keys()].sort(), [...params.keys()].sort(), 'parameter names');
    learner.loadStateDict(params);
    assert.equal(learner.trainableParameters, o.trainable_parameters);
    const expected = float32(fixture('clip-adapter/logits.safetensors').get('logits_eval')!);
    tidy(() => assertClose(noGrad(() => learner.forward(images).logits).toFloat32(), expected, FP32.logits[0], FP32.logits[1], 'eval logits'));
    const opt = new SGD(learner.parameters(), { lr: o.sgd_lr as number, momentum: 0.9, weightDecay: 5e-4 });
    const grads = fixture('clip-adapter/grads.safetensors');
    for (const [step, want] of [[1, o.loss], [2, o.loss_step2]] as const) {
      tidy(() => {
        opt.zeroGrad();
        const out = learner.forward(images, labels);
        assertClose([out.loss!.item()], [want as number], FP32.loss[0], FP32.loss[1], `loss (step ${step})`);
        out.loss!.backward();
        if (step === 1) for (const [k, p] of learner.params) assertClose(p.grad!.toFloat32(), float32(grads.get(`${k}.grad`)!), FP32.grad[0], FP32.grad[1], `grad ${k}`);
        opt.step();
      });
    }
    const after = fixture('clip-adapter/params_after_2_steps.safetensors');
    for (const [k, p] of learner.params) assertClose(p.toFloat32(), float32(after.get(k)!), FP32.after[0], FP32.after[1], `${k} after 2 steps`);
    opt.disposeState();
  } finally {
    images.dispose();
    labels.dispose();
    learner.dispose();
  }
});
