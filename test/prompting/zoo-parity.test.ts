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
import { CACHE_KEYS, CACHE_VALUES, PromptLearner } from '../../src/prompting/learner.js';
import type { BatchSource } from '../../src/train/batches.js';
import { buildFeatureCache, cosinePerStepLr, searchCacheHyperparameters } from '../../src/train/feature-heads.js';
import { ClipTokenizer } from '../../src/clip/tokenizer.js';
import { AdamW, SGD, noGrad, tensor, tidy } from '../../src/torch/index.js';
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

/** A BatchSource whose epoch p yields `passes(p)`: batches of fixed images (for the cache's "augmented" passes). */
function fixedSource(passes: (epoch: number) => Array<{ images: Float32Array; labels: number[] }>, imageSize: number): BatchSource {
  return {
    length: passes(0).reduce((n, b) => n + b.labels.length, 0),
    batchesPerEpoch: () => passes(0).length,
    async *batches(epoch: number) {
      for (const b of passes(epoch)) yield { images: b.images, labels: Int32Array.from(b.labels), size: b.labels.length, imageSize };
    },
    close: async () => {},
  };
}

/** The golden images [4, 3, S, S] (flipped left-right), rows `from`..`to` (exclusive), scaled, as a flat array. */
function goldenPixels(flip: boolean, scale = 1, from = 0, to = 4): Float32Array {
  return tidy(() => {
    let x = goldenImages();
    if (flip) x = x.flip([3]);
    return x.narrow(0, from, to - from).mul(scale).contiguous().toFloat32();
  });
}

test(`tip-adapter [${testDevice} fp32]: text classifier, cache, cache logits and the α/β search as the official Tip-Adapter`, async () => {
  const o = outputs('tip-adapter');
  const cfg = o.cfg as { search_scale: number[]; search_step: number[]; init_alpha: number; init_beta: number; augment_epoch: number };
  const model = goldenModel('fp32', testDevice);
  const classes = o.classes as string[];
  const labels = o.labels as number[];
  const options = {
    dataset: 'eurosat',
    tipAlpha: cfg.init_alpha,
    tipBeta: cfg.init_beta,
    betaSearchMax: cfg.search_scale[0],
    alphaSearchMax: cfg.search_scale[1],
    betaSearchSteps: cfg.search_step[0],
    alphaSearchSteps: cfg.search_step[1],
    cachePasses: cfg.augment_epoch,
  };
  const learner = new PromptLearner(model, ClipTokenizer.default(), 'tip-adapter', classes, options);
  const official = fixture('tip-adapter/cache.safetensors');
  const logits = fixture('tip-adapter/logits.safetensors');
  try {
    // clip_classifier: [E, C] in the official layout; CoOp's template for EuroSAT, the 7 templates for ImageNet
    const text = noGrad(() => learner.textFeatures()).keep();
    tidy(() => assertClose(text.T.contiguous().toFloat32(), float32(official.get('clip_weights')!), 1e-5, 1e-6, 'text classifier'));
    const imagenetLike = new PromptLearner(model, ClipTokenizer.default(), 'tip-adapter', classes, { dataset: 'imagenet' });
    tidy(() => assertClose(noGrad(() => imagenetLike.textFeatures()).T.contiguous().toFloat32(), float32(official.get('clip_weights_ensemble')!), 1e-5, 1e-6, 'ImageNet ensemble classifier'));
    imagenetLike.dispose();
    // build_cache_model over two passes (the images, then flipped), each in batches of 3 and 1
    const S = model.imageSize;
    const plane = 3 * S * S;
    const pass = (p: number) => {
      const px = goldenPixels(p === 1);
      return [{ images: px.slice(0, 3 * plane), labels: labels.slice(0, 3) }, { images: px.slice(3 * plane), labels: labels.slice(3) }];
    };
    await buildFeatureCache(learner, fixedSource(pass, S), cfg.augment_epoch);
    assertClose(learner.buffers.get(CACHE_KEYS)!.toFloat32(), float32(official.get('cache_keys')!), 1e-5, 1e-6, 'cache keys');
    assert.deepEqual(Array.from(learner.buffers.get(CACHE_VALUES)!.toFloat32()), Array.from(float32(official.get('cache_values')!)), 'cache values');
    // logits of the validation images at the initial α, β (run_tip_adapter's "Tip-Adapter's val accuracy")
    const val = tidy(() => tensor(new Float32Array([...goldenPixels(false, 0.9), ...goldenPixels(true, 1.1)]), [8, 3, S, S])).keep();
    tidy(() => {
      const f = noGrad(() => learner.imageFeatures(val));
      assertClose(learner.textLogits(f, text).toFloat32(), float32(logits.get('val_zeroshot_logits')!), 1e-5, 1e-4, 'zero-shot logits (x100)');
      assertClose(learner.headLogits(f, text).toFloat32(), float32(logits.get('val_tip_logits_init')!), 1e-5, 1e-4, 'Tip-Adapter logits at the initial α, β');
    });
    val.dispose();
    text.dispose();
  } finally {
    learner.dispose();
  }
});

test('tip-adapter: search_hp over its 200 x 20 grid on constructed inputs, accuracy by accuracy, and the (β, α) it picks', () => {
  const s = JSON.parse(fs.readFileSync(path.join(methodsDir, 'tip-adapter', 'search.json'), 'utf8')) as { search_scale: number[]; search_step: number[]; best_beta: number; best_alpha: number; best_accuracy: number };
  const t = fixture('tip-adapter/search.safetensors');
  const int = (r: RawTensor) => Array.from(new BigInt64Array(r.data.buffer.slice(r.data.byteOffset, r.data.byteOffset + r.data.byteLength)), Number);
  const classes = ['a', 'b', 'c', 'd', 'e'];
  const learner = new PromptLearner(goldenModel('fp32', testDevice), ClipTokenizer.default(), 'tip-adapter', classes, {
    betaSearchMax: s.search_scale[0],
    alphaSearchMax: s.search_scale[1],
    betaSearchSteps: s.search_step[0],
    alphaSearchSteps: s.search_step[1],
  });
  try {
    const r = tidy(() => {
      const dev = (raw: RawTensor) => tensor(raw.data, raw.shape, raw.dtype, testDevice);
      learner.setCache(dev(t.get('keys')!), int(t.get('labels')!));
      // clip_weights [E, C] are the class text features transposed
      return searchCacheHyperparameters(learner, dev(t.get('val_features')!), int(t.get('val_labels')!), dev(t.get('clip_weights')!).T.contiguous());
    });
    assertClose(r.grid.flat(), float32(t.get('search_accuracy')!), 1e-6, 1e-4, 'validation accuracy over the grid');
    assert.deepEqual([r.beta, r.alpha], [s.best_beta, s.best_alpha], 'the (β, α) search_hp returns');
    assert.ok(Math.abs(r.accuracy - s.best_accuracy) < 1e-9);
  } finally {
    learner.dispose();
  }
});

test(`tip-adapter-f [${testDevice} fp32]: two AdamW steps on the cache keys (loss, gradients, keys), cosine per step, as the official Tip-Adapter-F`, () => {
  const o = outputs('tip-adapter-f');
  const adamw = o.adamw as { lr: number; eps: number; betas: [number, number]; weight_decay: number; T_max: number };
  const model = goldenModel('fp32', testDevice);
  const learner = new PromptLearner(model, ClipTokenizer.default(), 'tip-adapter-f', o.classes as string[], { dataset: 'eurosat', tipAlpha: 1.17, tipBeta: 1 });
  const steps = fixture('tip-adapter-f/steps.safetensors');
  const cache = fixture('tip-adapter/cache.safetensors');
  const images = goldenImages().keep();
  const labels = tensor(o.labels as number[], [4], 'int64').keep();
  try {
    tidy(() => learner.setCache(tensor(cache.get('cache_keys')!.data, cache.get('cache_keys')!.shape, 'float32', testDevice).T.contiguous(), o.labels as number[]));
    const w = learner.params.get('adapter.weight')!;
    assertClose(w.toFloat32(), float32(steps.get('adapter.weight.init')!), 0, 0, 'adapter.weight = cache_keys.t()');
    const opt = new AdamW(learner.parameters(), { lr: adamw.lr, eps: adamw.eps, betas: adamw.betas, weightDecay: adamw.weight_decay });
    const losses = o.losses as number[];
    const lrs = o.lrs as number[];
    for (let step = 0; step < 2; step++) {
      opt.lr = cosinePerStepLr(adamw.lr, step, adamw.T_max);
      assertClose([opt.lr], [lrs[step]], 1e-12, 0, `lr of step ${step + 1}`);
      tidy(() => {
        opt.zeroGrad();
        const out = learner.forward(images, labels);
        assertClose(out.logits.toFloat32(), float32(steps.get(`train_logits_step${step + 1}`)!), 1e-5, 1e-4, `training logits (step ${step + 1})`);
        assertClose([out.loss!.item()], [losses[step]], FP32.loss[0], FP32.loss[1], `loss (step ${step + 1})`);
        out.loss!.backward();
        assertClose(w.grad!.toFloat32(), float32(steps.get(`grad_step${step + 1}`)!), FP32.grad[0], FP32.grad[1], `gradient (step ${step + 1})`);
        opt.step();
      });
      assertClose(w.toFloat32(), float32(steps.get(`adapter.weight.step${step + 1}`)!), FP32.after[0], FP32.after[1], `keys after step ${step + 1}`);
    }
    opt.disposeState();
  } finally {
    images.dispose();
    labels.dispose();
    learner.dispose();
  }
});
