import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadClip } from '../../src/backbones/clip/load.js';
import { ClipModel } from '../../src/backbones/clip/model.js';
import { loadClipWeights } from '../../src/backbones/clip/weights.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { initClipWeights } from '../../src/pretrain/init.js';
import { CHECKPOINT_FILE, contrastiveLoss, pretrain, pretrainLr } from '../../src/pretrain/pretrain.js';
import { TINY_CLIP, tinyArchitecture, type PretrainRecipe } from '../../src/pretrain/recipe.js';
import { liveTensors, tensor, tidy } from '../../src/torch/index.js';
import { tmpDir } from '../helpers.js';

const recipe: PretrainRecipe = {
  ...TINY_CLIP,
  arch: tinyArchitecture({ visionWidth: 32, visionLayers: 1, patch: 8, image: 16, textWidth: 32, textLayers: 1, embed: 16 }),
  steps: 6,
  batchSize: 8,
  warmupSteps: 2,
  lr: 1e-3,
};

test('learning rate: linear warm-up to the peak, then cosine to zero', () => {
  const r = { lr: 1, warmupSteps: 4, steps: 14 };
  assert.deepEqual([0, 1, 2, 3].map((k) => pretrainLr(k, r)), [0.25, 0.5, 0.75, 1]);
  assert.equal(pretrainLr(4, r), 1);
  assert.ok(Math.abs(pretrainLr(9, r) - 0.5) < 1e-12);
  assert.ok(pretrainLr(13, r) > 0 && pretrainLr(13, r) < 0.03);
});

test('symmetric InfoNCE equals the hand-computed cross-entropies, with the scale exp(logit_scale)', () => {
  tidy(() => {
    const img = tensor([1, 0, 0.6, 0.8], [2, 2]);
    const txt = tensor([0, 2, 3, 0], [2, 2]);
    const s = Math.log(2);
    const { loss, accuracy } = contrastiveLoss(img, txt, tensor([s], []));
    // cosine similarities: img0·txt0 = 0, img0·txt1 = 1, img1·txt0 = 0.8, img1·txt1 = 0.6; times 2
    const L = [[0, 2], [1.6, 1.2]];
    const ce = (row: number[], i: number) => Math.log(row.reduce((a, v) => a + Math.exp(v), 0)) - row[i];
    const i2t = (ce(L[0], 0) + ce(L[1], 1)) / 2;
    const t2i = (ce([L[0][0], L[1][0]], 0) + ce([L[0][1], L[1][1]], 1)) / 2;
    assert.ok(Math.abs(loss.item() - (i2t + t2i) / 2) < 1e-6, `${loss.item()} vs ${(i2t + t2i) / 2}`);
    assert.equal(accuracy, 0); // both images retrieve the wrong caption
  });
});

test("initialisation follows openai/CLIP's rules (seeded)", () => {
  const arch = tinyArchitecture({ visionWidth: 64, visionLayers: 2, patch: 8, image: 16, textWidth: 64, textLayers: 2, embed: 32 });
  const model = ClipModel.random(arch, 0);
  try {
    initClipWeights(model, 3);
    const w = model.namedWeights();
    const std = (n: string) => {
      const v = w.get(n)!.toFloat32();
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
    };
    const near = (n: string, want: number, tol = 0.05) => assert.ok(Math.abs(std(n) / want - 1) < tol, `${n}: std ${std(n)}, expected ${want}`);
    near('token_embedding.weight', 0.02, 0.01);
    near('positional_embedding', 0.01);
    near('transformer.resblocks.0.attn.in_proj_weight', 64 ** -0.5);
    near('transformer.resblocks.1.mlp.c_proj.weight', 64 ** -0.5 * 4 ** -0.5);
    near('transformer.resblocks.0.mlp.c_fc.weight', 128 ** -0.5);
    near('visual.transformer.resblocks.0.attn.in_proj_weight', Math.sqrt(6 / 256) / Math.sqrt(3)); // xavier-uniform
    assert.deepEqual([...new Set(w.get('visual.ln_pre.weight')!.toArray())], [1]);
    assert.deepEqual([...new Set(w.get('transformer.resblocks.0.attn.out_proj.bias')!.toArray())], [0]);
    const again = ClipModel.random(arch, 9);
    initClipWeights(again, 3);
    assert.deepEqual(again.namedWeights().get('visual.proj')!.toArray(), w.get('visual.proj')!.toArray());
    again.dispose();
  } finally {
    model.dispose();
  }
});

test('pretraining: a killed run resumed from its checkpoint ends with the same weights; the export loads as a CLIP', async () => {
  const live = liveTensors();
  const straight = tmpDir('mpl-pretrain-');
  const resumed = tmpDir('mpl-pretrain-');
  const a = await pretrain({ recipe, out: straight, checkpointEvery: 3, probeEvery: 3, probeImages: 24 });
  const stopped = await pretrain({ recipe, out: resumed, checkpointEvery: 3, probeEvery: 3, probeImages: 24, stopAfterStep: 3, workers: false });
  assert.equal(stopped.stopped, true);
  assert.ok(!fs.existsSync(stopped.weights), 'no weights file before the run ends');
  const b = await pretrain({ recipe, out: resumed, checkpointEvery: 3, probeEvery: 3, probeImages: 24, resume: true });
  assert.equal(liveTensors(), live, 'pretraining leaves no tensors behind');
  assert.deepEqual(b.history, a.history, 'same losses, step for step');
  const wa = readSafetensors(a.weights).tensors;
  const wb = readSafetensors(b.weights).tensors;
  for (const [k, t] of wa) assert.deepEqual(wb.get(k)!.data, t.data, k);
  assert.match(fs.readFileSync(path.join(resumed, 'log.txt'), 'utf8'), /resumed from .* at step 3/);

  // OpenAI key names, fp16 (logit_scale fp32), the architecture of the recipe, loadable by loadClip
  const w = loadClipWeights(a.weights);
  assert.deepEqual(w.config, recipe.arch);
  assert.equal(w.format, 'openai');
  assert.equal(wa.get('visual.conv1.weight')!.dtype, 'float16');
  assert.equal(wa.get('logit_scale')!.dtype, 'float32');
  const loaded = await loadClip({ weights: a.weights });
  assert.ok(Math.abs(loaded.model.logitScale - a.history.at(-1)!.logitScale) < 1e-6);
  loaded.model.dispose();
  const summary = JSON.parse(fs.readFileSync(path.join(straight, 'pretrain.json'), 'utf8'));
  assert.equal(summary.steps, 6);
  assert.ok(Number.isFinite(summary.zero_shot.accuracy));
  assert.ok(a.history.every((h) => Number.isFinite(h.loss)));
  assert.ok(fs.existsSync(path.join(straight, CHECKPOINT_FILE)));

  // a checkpoint of another recipe is refused with a clear message
  await assert.rejects(pretrain({ recipe: { ...recipe, lr: 2e-3 }, out: resumed, resume: true, probeImages: 24 }), /checkpoint of another recipe/);
});
