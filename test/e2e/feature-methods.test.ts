/**
 * The linear probe, CLIP-Adapter, Tip-Adapter and Tip-Adapter-F end to end with the shipped tiny CLIP on the
 * generated SynthShapes dataset, in the few-shot protocol of their papers (16 shots, all 12 classes, one
 * seed): each beats zero-shot CLIP, over all classes and on the base half of them (the base-to-new split's
 * base classes), with the settings of FEATURE_LEARNING (src/pretrain/learning.ts; docs/methods.md lists the
 * measured numbers). Then what the runs record (the fitted α, β, best epoch, C), Tip-Adapter-F selected on the
 * test set shown as such by `mpl table`, and the protocols a method cannot run refused before anything runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadClip, type LoadedClip } from '../../src/backbones/clip/load.js';
import { preflight } from '../../src/eval/protocols.js';
import type { RunResult } from '../../src/eval/results.js';
import { FEATURE_LEARNING, FEATURE_LEARNING_DATA, runFeatureLearningCheck, type FeatureMethod } from '../../src/pretrain/learning.js';
import { tinyClipWeights } from '../../src/pretrain/recipe.js';
import { writeSynthDataset } from '../../src/synth/dataset.js';
import { setNumThreads } from '../../src/torch/index.js';
import { mplOk, runMpl, tmpDir } from '../helpers.js';

setNumThreads(1);

const work = tmpDir('mpl-feature-methods-');
const root = path.join(work, 'data');
const out = path.join(work, 'runs');
let clip: LoadedClip;
let zeroshot: RunResult;

/** Accuracy over the base half of the classes (labels 0..5 of 12): the mean of their per-class accuracies (equal test counts). */
function baseAccuracy(r: RunResult, classes: string[]): number {
  const per = r.per_class!.synthshapes;
  const base = classes.slice(0, Math.ceil(classes.length / 2));
  return base.reduce((s, c) => s + per[c], 0) / base.length;
}

test.before(async () => {
  const weights = tinyClipWeights();
  assert.ok(fs.existsSync(weights), `${weights} is missing: it ships with the repository`);
  clip = await loadClip({ weights });
  await writeSynthDataset(root, FEATURE_LEARNING_DATA);
  [zeroshot] = await runFeatureLearningCheck({ ...clip, root, out, method: 'zeroshot', seeds: [1] });
});

test.after(() => clip?.model.dispose());

for (const method of Object.keys(FEATURE_LEARNING) as FeatureMethod[]) {
  test(`${method} beats zero-shot CLIP on SynthShapes, 16 shots (all classes and the base half)`, async () => {
    const [r] = await runFeatureLearningCheck({ ...clip, root, out, method, seeds: [1] });
    const classes = Object.keys(zeroshot.per_class!.synthshapes);
    const all = r.accuracy!.synthshapes;
    const zs = zeroshot.accuracy!.synthshapes;
    assert.ok(all > zs, `${method} ${all.toFixed(2)} vs zero-shot ${zs.toFixed(2)} (all classes)`);
    assert.ok(baseAccuracy(r, classes) > baseAccuracy(zeroshot, classes), `${method} base classes ${baseAccuracy(r, classes).toFixed(2)} vs zero-shot ${baseAccuracy(zeroshot, classes).toFixed(2)}`);
    // what fitting chose is recorded
    if (method === 'linear-probe') assert.ok(r.fitted!.c > 0);
    if (method === 'tip-adapter' || method === 'tip-adapter-f') assert.ok(r.fitted!.alpha > 0 && r.fitted!.beta > 0);
    if (method === 'tip-adapter-f') assert.ok(r.fitted!.best_epoch >= 1 && r.fitted!.best_epoch <= 20);
  });
}

test('tip-adapter-f --select-on-test-set: recorded in result.json, its folder and tag, and shown as such by mpl table', () => {
  const args = ['fewshot', '--weights', tinyClipWeights(), '--dataset', 'synthshapes', '--root', root, '--method', 'tip-adapter-f', '--k', '16', '--seeds', '1', '--out', out, '--no-augment', '--epochs', '3', '--quiet', '--workers', '1'];
  mplOk(runMpl([...args, '--select-on-test-set']), 'tip-adapter-f --select-on-test-set');
  const dir = path.join(out, 'fewshot', 'synthshapes', 'shots_16', 'tip-adapter-f');
  const runs = fs.readdirSync(dir).filter((d) => d.includes('test-selected'));
  assert.equal(runs.length, 1, `a folder tagged test-selected in ${fs.readdirSync(dir)}`);
  const r = JSON.parse(fs.readFileSync(path.join(dir, runs[0], 'seed1', 'result.json'), 'utf8')) as RunResult;
  assert.equal((r.config.method_options as Record<string, unknown>).select_on_test_set, true);
  assert.ok(r.fitted!.best_epoch >= 1 && r.fitted!.best_epoch <= 3);
  const table = mplOk(runMpl(['table', out]), 'mpl table');
  assert.match(table, /Tip-Adapter-F \(test-selected[,)]/);
  assert.match(table, /Tip-Adapter-F(?! \(test-selected)/, 'the validation-selected run keeps its own row');
  // flags its training has no use for are refused
  const r2 = runMpl(['fewshot', '--weights', tinyClipWeights(), '--dataset', 'synthshapes', '--root', root, '--method', 'tip-adapter', '--epochs', '3', '--out', out]);
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /--epochs does not apply to --method tip-adapter: it is fitted on the training features, without epochs of gradient steps/);
});

test('mpl rerun replays a linear-probe run (fitted, not trained by epochs) to the same accuracy', () => {
  const dir = path.join(out, 'fewshot', 'synthshapes', 'shots_16', 'linear-probe');
  const run = fs.readdirSync(dir)[0];
  // the library run recorded no weights file: given here
  const text = mplOk(runMpl(['rerun', path.join(dir, run, 'seed1', 'result.json'), '--weights', tinyClipWeights(), '--out', path.join(work, 'rerun')]), 'mpl rerun');
  assert.match(text, /synthshapes\s+recorded (\d+\.\d\d)\s+now \1\s+difference \+0\.00/);
});

test('the linear probe classifies only its training classes: base2new and cross-dataset runs are refused before anything runs', () => {
  const o = { backbone: 'tiny', method: 'linear-probe' as const, methodOptions: {}, root, dataset: 'synthshapes', seeds: [1], out };
  assert.throws(() => preflight(o, 'base2new'), /--method linear-probe classifies only the classes it is fitted on, so it cannot be tested on base2new's new classes/);
  assert.throws(() => preflight({ ...o, dataset: 'synthshapes' }, 'xd', ['synthshapes']), /cannot be tested on other datasets' classes/);
});
