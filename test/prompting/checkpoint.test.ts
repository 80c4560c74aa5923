import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClipTokenizer } from '../../src/backbones/clip/tokenizer.js';
import { loadPrompts, savePrompts } from '../../src/prompting/checkpoint.js';
import { PromptLearner } from '../../src/prompting/learner.js';
import { noGrad, tensor, tidy } from '../../src/torch/index.js';
import { fixturesDir, goldenDir, tmpDir } from '../helpers.js';
import { assertClose, float32, goldenImages, goldenModel, goldenTensors } from './golden.js';
import { FP32, assertScaled } from '../tolerance.js';

const classes: string[] = JSON.parse(fs.readFileSync(path.join(goldenDir, 'methods', 'mpl', 'outputs.json'), 'utf8')).classes;
const mplOptions = { nCtx: 1, nAdd: 2, nRm: 1, depth: 4, ctxInit: 'a photo of a' };

test('prompts from an official Dassl checkpoint (model.pth.tar-N) evaluate to the official logits', () => {
  const file = path.join(fixturesDir, 'dassl_mpl', 'MultiModalPromptLearner', 'model.pth.tar-4');
  const loaded = loadPrompts(file);
  assert.equal(loaded.epoch, 4);
  assert.equal(loaded.config, null);
  assert.ok(!loaded.tensors.has('prompt_learner.token_prefix'), 'class-dependent buffers are dropped like the official load_model');
  const learner = new PromptLearner(goldenModel(), ClipTokenizer.default(), 'mpl', classes, mplOptions);
  try {
    learner.loadStateDict(loaded.tensors, file);
    const expected = float32(goldenTensors('methods/mpl/logits.safetensors').get('logits_eval')!);
    noGrad(() => tidy(() => assertScaled(learner.forward(goldenImages()).logits.toFloat32(), expected, FP32.forward, 'logits')));
  } finally {
    learner.dispose();
  }
});

test('saved prompts (official keys + JSON config) load back into an identical learner', () => {
  const dir = tmpDir();
  const a = new PromptLearner(goldenModel(), ClipTokenizer.default(), 'maple', classes, { depth: 3, seed: 7 });
  const file = savePrompts(dir, a, { backbone: 'tiny', dataset: 'test', seed: 7 });
  const loaded = loadPrompts(file);
  assert.equal(loaded.config!.method, 'maple');
  assert.deepEqual(loaded.config!.classnames, classes);
  assert.deepEqual([...loaded.tensors.keys()].sort(), [...a.params.keys()].sort());
  const b = new PromptLearner(goldenModel(), ClipTokenizer.default(), loaded.config!.method, loaded.config!.classnames, { ...loaded.config!.options, seed: 99 });
  try {
    b.loadStateDict(loaded.tensors, file);
    for (const [k, t] of a.params) assert.deepEqual(b.params.get(k)!.toArray(), t.toArray(), k);
    noGrad(() =>
      tidy(() => {
        const x = goldenImages();
        assertClose(b.forward(x).logits.toFloat32(), a.forward(x).logits.toFloat32(), 0, 0, 'same logits');
      }),
    );
    // a mis-shaped tensor is refused with its name
    const bad = new Map(loaded.tensors);
    bad.set('prompt_learner.ctx', { dtype: 'float32', shape: [3, 128], data: new Uint8Array(3 * 128 * 4) });
    assert.throws(() => b.loadStateDict(bad, 'bad.safetensors'), /bad.safetensors: tensor prompt_learner.ctx has shape \[3,128\]/);
    bad.delete('prompt_learner.ctx');
    assert.throws(() => b.loadStateDict(bad, 'bad.safetensors'), /missing tensor prompt_learner.ctx/);
  } finally {
    a.dispose();
    b.dispose();
  }
});

test('official initialisation: MPL coupling maps start identical, text context from the word embeddings', () => {
  const model = goldenModel();
  const learner = new PromptLearner(model, ClipTokenizer.default(), 'mpl', classes, { ...mplOptions, seed: 3 });
  try {
    const first = learner.params.get('prompt_learner.txt2img_proj.0.0.weight')!.toArray();
    let maps = 0;
    for (const [k, t] of learner.params) {
      if (/txt2img_proj\.\d+\.\d+\.weight$/.test(k)) {
        maps++;
        assert.deepEqual(t.toArray(), first, `${k} equals txt2img_proj.0.0 at init`);
      }
    }
    assert.equal(maps, 2 * 3);
    assert.notDeepEqual(learner.params.get('prompt_learner.proj.weight')!.toArray(), first, 'proj is a separate Linear');
    // ctx = token_embedding[343] ("x</w>", the placeholder X)
    const x = tidy(() => model.tokenEmbedding(tensor([343], [1, 1], 'int64')).reshape([128]).toArray());
    assert.deepEqual(learner.params.get('prompt_learner.ctx')!.toArray(), x);
    // deep text prompts ~ N(0, 0.02)
    const p = learner.params.get('prompt_learner.compound_prompts_text.0')!.toArray();
    const sd = Math.sqrt(p.reduce((s, v) => s + v * v, 0) / p.length);
    assert.ok(sd > 0.01 && sd < 0.03, `std ${sd}`);
    // seeded: the same seed gives the same parameters
    const again = new PromptLearner(model, ClipTokenizer.default(), 'mpl', classes, { ...mplOptions, seed: 3 });
    for (const [k, t] of learner.params) assert.deepEqual(again.params.get(k)!.toArray(), t.toArray(), k);
    again.dispose();
  } finally {
    learner.dispose();
  }
});
