/**
 * mpl predict reads what mpl eval reads (issue 21): an official Dassl checkpoint's method and depth come off
 * its tensors, as docs/weights.md says; the prompts of a base-to-new run score the classes --classes names
 * (base, new or all), and the line on stderr says which, the default included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixturesDir, goldenDir, mplOk, runMpl, tmpDir } from '../helpers.js';
import { makeImageFolder } from '../data/fixtures.js';

const weights = path.join(goldenDir, 'tiny_clip.safetensors'); // 4 layers
const official = path.join(fixturesDir, 'dassl_mpl', 'MultiModalPromptLearner', 'model.pth.tar-4'); // MPL, depth 4
const work = tmpDir('mpl-predict-');
const root = path.join(work, 'images');
const mpl = (args: string[]) => runMpl(args, { cwd: work });
const common = ['--weights', weights, '--precision', 'fp32', '--json'];

test.before(async () => {
  await makeImageFolder(root, ['cat', 'dog', 'red_car', 'blue_sky'], 6);
});

test('an official checkpoint: predict infers method and depth off the tensors, as eval does', () => {
  const img = path.join(root, 'cat', '0.png');
  // what docs/weights.md lists as read off the tensors, given explicitly
  const explicit = JSON.parse(mplOk(mpl(['predict', ...common, '--prompts', official, '--method', 'mpl', '--n-ctx', '1', '--depth', '4', '--n-add', '2', '--classes', 'cat,dog', img]), 'explicit'));
  const inferred = JSON.parse(mplOk(mpl(['predict', ...common, '--prompts', official, '--classes', 'cat,dog', img]), 'no method flags'));
  const methodOnly = JSON.parse(mplOk(mpl(['predict', ...common, '--prompts', official, '--method', 'mpl', '--classes', 'cat,dog', img]), '--method mpl alone'));
  assert.deepEqual(inferred, explicit);
  assert.deepEqual(methodOnly, explicit);
  // eval reads the same checkpoint the same way (the shared reader): it runs without method flags too
  const e = JSON.parse(mplOk(mpl(['eval', ...common, '--prompts', official, '--dataset', 'imagefolder', '--root', root, '--workers', '1']), 'eval'));
  assert.equal(e.method, 'mpl');
  assert.equal(e.method_options.depth, 4);
  // an official checkpoint names no classes
  const none = mpl(['predict', ...common, '--prompts', official, img]);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /^mpl: --classes "a,b,c" is required: .*model\.pth\.tar-4 \(an official checkpoint\) names no classes/);
});

test('prompts of a base-to-new run: --classes base|new|all, default all, said on stderr', () => {
  const out = path.join(work, 'runs');
  mplOk(mpl(['base2new', '--weights', weights, '--dataset', 'imagefolder', '--root', root, '--method', 'coop', '--epochs', '1', '--seeds', '1', '--precision', 'fp32', '--workers', '1', '--out', out, '--quiet']), 'base2new');
  const resultFile = (fs.readdirSync(out, { recursive: true }) as string[]).map((f) => path.join(out, f)).find((f) => f.endsWith('result.json'))!;
  const result = JSON.parse(fs.readFileSync(resultFile, 'utf8'));
  const prompts = path.join(path.dirname(resultFile), 'prompts.safetensors');
  const img = path.join(root, 'blue_sky', '1.png');
  const classesOf = (r: ReturnType<typeof mpl>) => Object.keys(JSON.parse(mplOk(r, 'predict'))[0].probabilities);

  const byDefault = mpl(['predict', ...common, '--prompts', prompts, img]);
  assert.deepEqual(classesOf(byDefault), [...result.config.base_classes, ...result.config.new_classes]);
  assert.match(byDefault.stderr, /^scoring 4 classes: all classes of the run \(2 base, trained on, \+ 2 new\), the default; --classes base\|new\|all/m);
  const base = mpl(['predict', ...common, '--prompts', prompts, '--classes', 'base', img]);
  assert.deepEqual(classesOf(base), result.config.base_classes);
  assert.match(base.stderr, /^scoring 2 classes: the base classes \(trained on\);/m);
  const novel = mpl(['predict', ...common, '--prompts', prompts, '--classes', 'new', img]);
  assert.deepEqual(classesOf(novel), result.config.new_classes);
  const list = mpl(['predict', ...common, '--prompts', prompts, '--classes', 'dog,blue_sky', img]);
  assert.deepEqual(classesOf(list), ['dog', 'blue_sky']);
  assert.doesNotMatch(list.stderr, /scoring/);
  // a distribution over the classes scored
  const probs = JSON.parse(novel.stdout)[0].probabilities as Record<string, number>;
  assert.ok(Math.abs(Object.values(probs).reduce((a, b) => a + b, 0) - 1) < 1e-5);
});
