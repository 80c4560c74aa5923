/**
 * The feature-head methods through train(), as the protocols run them: Tip-Adapter's cache built from every
 * training image, Tip-Adapter-F's AdamW epochs with their best epoch kept and a resume that ends where an
 * uninterrupted run ends, the α/β search, the linear probe's fit; what they save and load back; heads moved
 * to other classes; their official files (Tip-Adapter's cache, CLIP-Adapter's Dassl checkpoint) read by real
 * PyTorch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClipTokenizer } from '../../src/backbones/clip/tokenizer.js';
import { loadPrompts, savePrompts } from '../../src/prompting/checkpoint.js';
import { CACHE_KEYS, CACHE_VALUES, PromptLearner } from '../../src/prompting/learner.js';
import { checkMethod } from '../../src/prompting/methods/index.js';
import { noGrad, tidy } from '../../src/torch/index.js';
import { writeDasslCheckpoint } from '../../src/train/dassl.js';
import { batchTensors } from '../../src/train/step.js';
import { writeTipAdapterFiles } from '../../src/train/tip-files.js';
import { train } from '../../src/train/trainer.js';
import { UserError } from '../../src/util/errors.js';
import { tmpDir } from '../helpers.js';
import { assertClose, goldenModel, testDevice } from '../prompting/golden.js';
import { syntheticSource } from './synthetic.js';

const classes = ['left', 'right'];
const snapshot = (learner: PromptLearner) => new Map([...learner.params].map(([k, p]) => [k, p.toFloat32()]));
async function logitsOf(learner: PromptLearner): Promise<Float32Array> {
  const parts: number[] = [];
  for await (const batch of syntheticSource().batches(0)) {
    parts.push(...noGrad(() => tidy(() => learner.forward(batchTensors(batch, learner.model.device).images).logits.toFloat32())));
  }
  return Float32Array.from(parts);
}

test('--method names as the field writes them, any case, with - or _', () => {
  assert.equal(checkMethod('tip-adapter-f'), 'tip-adapter-f');
  assert.equal(checkMethod('Tip_Adapter_F'), 'tip-adapter-f');
  assert.equal(checkMethod('TIPADAPTER'), 'tip-adapter');
  assert.equal(checkMethod('clip-adapter'), 'clip-adapter');
  assert.equal(checkMethod('linear-probe'), 'linear-probe');
  assert.equal(checkMethod('lpclip'), 'linear-probe');
});

test(`tip-adapter-f through train(): cache, AdamW epochs, best epoch, α/β search; a resumed run ends as an uninterrupted one [${testDevice}]`, async () => {
  const model = goldenModel('fp32', testDevice);
  const dir = tmpDir('mpl-tipf-');
  const options = { tipAlpha: 1.17, tipBeta: 1, cachePasses: 2, betaSearchSteps: 20, alphaSearchSteps: 10, seed: 1 };
  const run = async (checkpointDir: string, stopAfterEpoch?: number, resume = false) => {
    const learner = new PromptLearner(model, ClipTokenizer.default(), 'tip-adapter-f', classes, options);
    const lrs: number[] = [];
    const r = await train(learner, syntheticSource(), {
      epochs: 4,
      lr: 0.05,
      checkpointDir,
      resume,
      stopAfterEpoch,
      cacheSource: syntheticSource(),
      validation: syntheticSource(),
      onEpoch: (e) => lrs.push(e.lr),
    });
    return { learner, r, lrs };
  };
  const whole = await run(path.join(dir, 'whole'));
  try {
    const { learner, r, lrs } = whole;
    assert.equal(learner.cacheSize, 8, 'one cache entry per training image');
    assert.deepEqual([...learner.params.keys()], ['adapter.weight']);
    assert.deepEqual([...learner.buffers.keys()].sort(), [CACHE_KEYS, CACHE_VALUES]);
    // CosineAnnealingLR(T_max = 4 epochs x 2 batches), stepped per batch: the rate of each epoch's first step
    assertClose(lrs, [0, 2, 4, 6].map((t) => (0.05 * (1 + Math.cos((Math.PI * t) / 8))) / 2), 1e-12, 0, 'learning rates');
    assert.ok(r.fitted && Number.isInteger(r.fitted.best_epoch) && r.fitted.best_epoch >= 1 && r.fitted.best_epoch <= 4, `best epoch ${JSON.stringify(r.fitted)}`);
    assert.ok(r.fitted.alpha > 0 && r.fitted.beta > 0, 'searched α and β');
    assert.deepEqual(learner.fitted, r.fitted);
    assert.ok(fs.existsSync(path.join(dir, 'whole', 'cache.safetensors')), 'the cache is kept beside the checkpoint');
    // stopped after epoch 2, then resumed (the cache read back, AdamW's state and the best epoch restored)
    const first = await run(path.join(dir, 'resumed'), 2);
    first.learner.dispose();
    const resumed = await run(path.join(dir, 'resumed'), undefined, true);
    try {
      assert.equal(resumed.r.resumedFrom, 2);
      const a = snapshot(learner);
      for (const [k, v] of snapshot(resumed.learner)) assertClose(v, a.get(k)!, 0, 0, `${k} after a resume`);
      assert.deepEqual(resumed.r.fitted, r.fitted, 'the same best epoch, α and β');
    } finally {
      resumed.learner.dispose();
    }
    // saved and loaded back: the same logits (cache, trained keys, α and β)
    savePrompts(path.join(dir, 'saved'), learner);
    const loaded = loadPrompts(path.join(dir, 'saved', 'prompts.safetensors'));
    assert.deepEqual(loaded.fitted, r.fitted);
    assert.deepEqual(loaded.config?.fitted, r.fitted);
    const again = new PromptLearner(model, ClipTokenizer.default(), 'tip-adapter-f', classes, options);
    try {
      again.loadPrompts(path.join(dir, 'saved', 'prompts.safetensors'));
      assertClose(await logitsOf(again), await logitsOf(learner), 0, 0, 'logits after loading the prompts');
    } finally {
      again.dispose();
    }
  } finally {
    whole.learner.dispose();
  }
});

test(`tip-adapter: training-free (the cache and the search); a class it holds no image of gets the text logits alone [${testDevice}]`, async () => {
  const model = goldenModel('fp32', testDevice);
  const learner = new PromptLearner(model, ClipTokenizer.default(), 'tip-adapter', classes, { cachePasses: 1, betaSearchSteps: 10, alphaSearchSteps: 5 });
  const zeroshot = new PromptLearner(model, ClipTokenizer.default(), 'tip-adapter', ['cat', 'left'], { cachePasses: 1 });
  try {
    const r = await train(learner, syntheticSource(), { epochs: 0, lr: 0, cacheSource: syntheticSource(), validation: syntheticSource() });
    assert.equal(learner.params.size, 0);
    assert.equal(learner.cacheSize, 8);
    assert.ok(r.fitted && 'alpha' in r.fitted && 'beta' in r.fitted && !('best_epoch' in r.fitted));
    // another class list: 'cat' has no cache entry, 'left' keeps its own
    learner.setClassnames(['cat', 'left']);
    for await (const batch of syntheticSource().batches(0)) {
      tidy(() => {
        const x = batchTensors(batch, learner.model.device).images;
        const f = noGrad(() => learner.imageFeatures(x));
        const text = noGrad(() => learner.textFeatures());
        const full = learner.headLogits(f, text).toFloat32();
        const textOnly = zeroshot.textLogits(f, noGrad(() => zeroshot.textFeatures())).toFloat32();
        for (let i = 0; i < batch.size; i++) assertClose([full[2 * i]], [textOnly[2 * i]], 1e-6, 1e-5, `'cat': text logits alone (image ${i})`);
        assert.ok(Array.from({ length: batch.size }, (_, i) => full[2 * i + 1] - textOnly[2 * i + 1]).every((d) => d > 0), "'left' gets its cache logits");
      });
    }
  } finally {
    learner.dispose();
    zeroshot.dispose();
  }
});

test(`linear-probe through train(): lpclip's fit of C and the classifier; it refuses classes it was not fitted on [${testDevice}]`, async () => {
  const model = goldenModel('fp32', testDevice);
  const dir = tmpDir('mpl-lp-');
  const learner = new PromptLearner(model, ClipTokenizer.default(), 'linear-probe', classes, { cSearchSteps: 3 });
  try {
    await assert.rejects(train(learner, syntheticSource(), { epochs: 0, lr: 0 }), /linear-probe chooses C on validation images: pass TrainOptions.validation/);
    const r = await train(learner, syntheticSource(), { epochs: 0, lr: 0, validation: syntheticSource() });
    assert.ok(r.fitted && r.fitted.c > 0, `C ${JSON.stringify(r.fitted)}`);
    const logits = await logitsOf(learner);
    const labels = [0, 1, 0, 1, 0, 1, 0, 1];
    const pred = labels.map((_, i) => (logits[2 * i + 1] > logits[2 * i] ? 1 : 0));
    assert.deepEqual(pred, labels, 'the two synthetic classes are linearly separable: every training image is classified right');
    savePrompts(dir, learner);
    const again = new PromptLearner(model, ClipTokenizer.default(), 'linear-probe', classes, {});
    try {
      again.loadPrompts(path.join(dir, 'prompts.safetensors'));
      assertClose(await logitsOf(again), logits, 0, 0, 'logits after loading');
      // a subset in another order is classified with the rows of those classes; an unknown class is refused
      again.setClassnames(['right']);
      assert.throws(() => again.setClassnames(['left', 'up']), (e: Error) => e instanceof UserError && /classifies only the 2 classes it was fitted on; 1 of the 2 asked \('up'\)/.test(e.message));
    } finally {
      again.dispose();
    }
  } finally {
    learner.dispose();
  }
});

const python = process.env.MPL_TEST_PYTHON ?? '/usr/bin/python3';

test("official files read by PyTorch: Tip-Adapter's cache (keys, values, best_F as an nn.Parameter) and CLIP-Adapter's Dassl checkpoint", async () => {
  const check = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  assert.equal(check.status, 0, `this test needs Python with PyTorch at ${python} (Debian: apt-get install python3-torch; or set MPL_TEST_PYTHON): ${check.stderr}`);
  const model = goldenModel('fp32', 'cpu');
  const dir = tmpDir('mpl-official-');
  const tip = new PromptLearner(model, ClipTokenizer.default(), 'tip-adapter-f', classes, { cachePasses: 1, betaSearchSteps: 4, alphaSearchSteps: 2 });
  const adapter = new PromptLearner(model, ClipTokenizer.default(), 'clip-adapter', classes, {});
  try {
    await train(tip, syntheticSource(), { epochs: 1, lr: 0.01, cacheSource: syntheticSource(), validation: syntheticSource() });
    const tensors = new Map([...tip.savedTensors()].map(([k, t]) => [k, t.toRawFloat32()]));
    const files = writeTipAdapterFiles(path.join(dir, 'caches'), tensors, 4, 'adapter.weight');
    assert.deepEqual(files.map((f) => path.basename(f)), ['keys_4shots.pt', 'values_4shots.pt', 'best_F_4shots.pt']);
    const ckpt = writeDasslCheckpoint(path.join(dir, 'dassl'), { method: 'clip-adapter', tensors: new Map([...adapter.params].map(([k, t]) => [k, t.toRawFloat32()])), epoch: 2, lr: 0.002, epochs: 2 });
    assert.equal(ckpt, path.join(dir, 'dassl', 'clip_adapter', 'model.pth.tar-2'));
    const script = `
import sys, json, torch
d = sys.argv[1]
k = torch.load(d + '/caches/keys_4shots.pt'); v = torch.load(d + '/caches/values_4shots.pt'); w = torch.load(d + '/caches/best_F_4shots.pt')
c = torch.load(sys.argv[2], map_location='cpu')
adapter = torch.nn.Sequential(torch.nn.Linear(64, 16, bias=False), torch.nn.ReLU(), torch.nn.Linear(16, 64, bias=False), torch.nn.ReLU())
missing = adapter.load_state_dict({k2.replace('fc.', ''): t for k2, t in c['state_dict'].items()}, strict=True)
print(json.dumps({"keys": [list(k.shape), str(k.dtype)], "values": [list(v.shape), str(v.dtype), v.float().sum(1).tolist()],
  "best_F": [type(w).__name__, list(w.shape), str(w.dtype), w.requires_grad], "state_dict": sorted(c['state_dict']), "epoch": c['epoch'],
  "keys_vs_F0": float((k.float().t() - w.float()).abs().max())}))`;
    const r = spawnSync(python, ['-c', script, dir, ckpt], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.deepEqual(got.keys, [[64, 8], 'torch.float16']);
    assert.deepEqual(got.values, [[8, 2], 'torch.float16', Array(8).fill(1)]);
    assert.deepEqual(got.best_F, ['Parameter', [8, 64], 'torch.float16', true]);
    assert.ok(got.keys_vs_F0 > 0, 'best_F holds the trained keys, not the keys as built');
    assert.deepEqual(got.state_dict, ['fc.0.weight', 'fc.2.weight'], "CLIP-Adapter's trainer registers the adapter: its keys, without adapter.");
    assert.equal(got.epoch, 2);
  } finally {
    tip.dispose();
    adapter.dispose();
  }
});
