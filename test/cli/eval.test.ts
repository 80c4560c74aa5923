/**
 * mpl eval: prompts made here and official Dassl checkpoints evaluated on a split, with per-class accuracy and
 * a confusion matrix; the numbers equal what the protocol run recorded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixturesDir, goldenDir, mplOk, runMpl, tmpDir } from '../helpers.js';
import { makeImageFolder } from '../data/fixtures.js';

const weights = path.join(goldenDir, 'tiny_clip.safetensors');
const work = tmpDir('mpl-eval-');
const root = path.join(work, 'images');
const out = path.join(work, 'runs');

const mpl = (args: string[]) => runMpl(args, { cwd: work });
const ok = mplOk;

function runDir(dir: string): string {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isFile() && e.name === 'result.json') return dir;
    if (e.isDirectory()) {
      const found = runDir(p);
      if (found) return found;
    }
  }
  return '';
}

const evalArgs = (prompts: string, extra: string[]) => [
  'eval', '--weights', weights, '--prompts', prompts, '--dataset', 'imagefolder', '--root', root, '--precision', 'fp32', '--workers', '1', ...extra,
];

/** The confusion matrix agrees with the accuracy and the per-class accuracy it comes with. */
function checkConsistent(e: { accuracy: number; per_class: Record<string, number>; confusion: number[][]; classes: string[]; total: number }): void {
  const C = e.classes.length;
  assert.equal(e.confusion.length, C);
  let diag = 0;
  let total = 0;
  e.confusion.forEach((row, i) => {
    assert.equal(row.length, C);
    const n = row.reduce((a, b) => a + b, 0);
    total += n;
    diag += row[i];
    if (n > 0) assert.ok(Math.abs(e.per_class[e.classes[i]] - (100 * row[i]) / n) < 1e-9);
  });
  assert.equal(total, e.total);
  assert.ok(Math.abs(e.accuracy - (100 * diag) / total) < 1e-9);
}

test.before(async () => {
  await makeImageFolder(root, ['cat', 'dog', 'red_car', 'blue_sky', 'green_tree', 'sun'], 8);
  ok(mpl(['base2new', '--weights', weights, '--dataset', 'imagefolder', '--root', root, '--method', 'mpl', '--depth', '3', '--epochs', '2', '--seeds', '1', '--precision', 'fp32', '--workers', '1', '--out', out, '--quiet']), 'base2new');
});

test('mpl eval of a run\'s prompts reproduces the run\'s base and new accuracy, per class', () => {
  const dir = runDir(out);
  const result = JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8'));
  const prompts = path.join(dir, 'prompts.safetensors');
  for (const split of ['base', 'new'] as const) {
    const e = JSON.parse(ok(mpl(evalArgs(prompts, ['--split', 'test', '--subsample', split, '--json'])), `eval ${split}`));
    assert.equal(e.accuracy, result[split]);
    assert.deepEqual(e.per_class, result.per_class[split]);
    assert.equal(e.method, 'mpl');
    assert.equal(e.split, 'test');
    checkConsistent(e);
  }
  // the acceptance command: all classes, test split, JSON with accuracy, per_class and confusion
  const all = JSON.parse(ok(mpl(evalArgs(prompts, ['--split', 'test', '--json', '--out', path.join(work, 'eval.json'), '--figure', path.join(work, 'cm.png')])), 'eval all'));
  assert.deepEqual(Object.keys(all).slice(0, 3), ['accuracy', 'per_class', 'confusion']);
  assert.equal(all.classes.length, 6);
  checkConsistent(all);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(work, 'eval.json'), 'utf8')), all);
  const png = fs.readFileSync(path.join(work, 'cm.png'));
  assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
  // the validation split, and a PDF figure
  const val = JSON.parse(ok(mpl(evalArgs(prompts, ['--split', 'val', '--subsample', 'base', '--json', '--figure', path.join(work, 'cm.pdf')])), 'eval val'));
  assert.equal(val.split, 'val');
  checkConsistent(val);
  assert.equal(fs.readFileSync(path.join(work, 'cm.pdf')).subarray(0, 5).toString('latin1'), '%PDF-');
  // human-readable output
  assert.match(ok(mpl(evalArgs(prompts, ['--subsample', 'new', '--quiet'])), 'eval text'), /MPL on ImageFolder, new classes, test: accuracy [\d.]+ % \(\d+\/\d+\)/);
  const bad = mpl(evalArgs(prompts, ['--split', 'train']));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^mpl: --split must be test or val/);
});

test('mpl eval of an official model.pth.tar-N: exported here, and the official trainer\'s layout', () => {
  const dir = runDir(out);
  const mine = JSON.parse(ok(mpl(evalArgs(path.join(dir, 'prompts.safetensors'), ['--subsample', 'new', '--json'])), 'eval prompts'));
  ok(mpl(['export', dir, '--out', path.join(work, 'dassl')]), 'export');
  const ckpt = path.join(work, 'dassl', 'MultiModalPromptLearner', 'model.pth.tar-2');
  // no method flags: MPL and its sizes are read off the checkpoint's tensors
  const theirs = JSON.parse(ok(mpl(evalArgs(ckpt, ['--subsample', 'new', '--json'])), 'eval checkpoint'));
  assert.equal(theirs.method, 'mpl');
  assert.equal(theirs.epoch, 2);
  assert.equal(theirs.method_options.depth ?? theirs.method_options.prompt_depth, 3);
  assert.equal(theirs.accuracy, mine.accuracy);
  assert.deepEqual(theirs.confusion, mine.confusion);
  // a checkpoint saved by PyTorch in the official trainer's layout (token buffers, optimizer, scheduler)
  const official = JSON.parse(ok(mpl(evalArgs(path.join(fixturesDir, 'dassl_mpl', 'MultiModalPromptLearner', 'model.pth.tar-4'), ['--json'])), 'eval official'));
  assert.equal(official.method, 'mpl');
  assert.equal(official.epoch, 4);
  assert.equal(official.method_options.depth ?? official.method_options.prompt_depth, 4);
  checkConsistent(official);
});
