/**
 * Prompt packages end to end: a run exported with `mpl export --package`, its model card and config.json against
 * the run's files, predictions and evaluations through `--prompts DIR` equal to the run's own prompts, the
 * library's loadPromptPackage, refusals of another backbone (architecture, or weights of the same shape) before
 * any image is read, and an official Dassl checkpoint imported with `mpl import`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadClip } from '../../src/backbones/clip/load.js';
import { ClipModel } from '../../src/backbones/clip/model.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import type { RawTensor } from '../../src/io/tensor.js';
import { readCardMetadata } from '../../src/packages/card.js';
import { loadPromptPackage } from '../../src/packages/load.js';
import { noGrad, tensor, tidy } from '../../src/torch/index.js';
import { loadEvalImage } from '../../src/data/image.js';
import { UserError } from '../../src/util/errors.js';
import { main } from '../../src/cli/main.js';
import { fixturesDir, goldenDir, tmpDir } from '../helpers.js';
import { makeImageFolder, mplCli as mpl, ok } from '../e2e/fixtures.js';

const weights = path.join(goldenDir, 'tiny_clip.safetensors');
const work = tmpDir('mpl-packages-');
const root = path.join(work, 'images');
const classes = ['red_square', 'green_field', 'blue_sky', 'yellow_sun'];
const pkg = path.join(work, 'pkg');
const image = path.join(root, 'blue_sky', '3.png');
let run = '';

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const json = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));

/**
 * `mpl ARGS` in this process (no node or addon start-up per call): exit code and stderr. stdout is not captured:
 * the test runner reports through this process's stdout meanwhile.
 */
async function mplHere(args: string[]): Promise<{ status: number; stderr: string }> {
  let stderr = '';
  const err = process.stderr.write;
  process.stderr.write = ((c: string | Uint8Array) => ((stderr += c.toString()), true)) as typeof process.stderr.write;
  try {
    return { status: await main(['node', 'mpl', ...args]), stderr };
  } finally {
    process.stderr.write = err;
  }
}

/** A failed command: exit 1, one `mpl:` line on stderr matching `what` (and nothing on stdout, when captured). */
function refused(r: { status: number | null; stdout?: string; stderr: string }, what: RegExp, label: string): string {
  assert.equal(r.status, 1, `${label}: exit ${r.status}: ${r.stderr}`);
  if (r.stdout !== undefined) assert.equal(r.stdout, '', `${label}: nothing printed`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${label}: one line: ${r.stderr}`);
  assert.match(lines[0], /^mpl: /);
  assert.match(lines[0], what, label);
  return lines[0];
}

/** The tiny CLIP with one byte of one weight changed: the same architecture, other weights. */
function otherWeights(file: string): void {
  const { tensors, metadata } = readSafetensors(weights);
  const [name, t] = [...tensors].find(([k]) => k.includes('ln_final.weight'))!;
  const data = Buffer.from(t.data);
  data[0] ^= 1;
  tensors.set(name, { ...t, data });
  writeSafetensors(file, tensors, metadata);
}

/** A random CLIP whose text encoder has 2 layers instead of 4: another architecture. */
async function otherArchitecture(file: string): Promise<void> {
  const { model } = await loadClip({ weights });
  const arch = { ...model.arch, text: { ...model.arch.text, layers: 2 } };
  model.dispose();
  const other = ClipModel.random(arch, 7, { trainable: true });
  const w = new Map<string, RawTensor>([...other.namedWeights()].map(([k, t]) => [k, t.toRawFloat32()]));
  w.set('logit_scale', { dtype: 'float32', shape: [], data: new Uint8Array(new Float32Array([Math.log(100)]).buffer) });
  writeSafetensors(file, w);
  other.dispose();
}

const predictJson = (prompts: string, w = weights, extra: string[] = []) =>
  JSON.parse(ok(mpl(['predict', '--weights', w, '--prompts', prompts, '--precision', 'fp32', '--device', 'cpu', '--json', ...extra, image]), `predict ${prompts}`));

test.before(async () => {
  await makeImageFolder(root, classes);
  const out = path.join(work, 'runs');
  ok(mpl(['base2new', '--weights', weights, '--dataset', 'imagefolder', '--root', root, '--method', 'mpl', '--depth', '3', '--epochs', '2', '--seeds', '1', '--out', out, '--workers', '1', '--quiet', '--device', 'cpu', '--precision', 'fp32']), 'base2new');
  const base = path.join(out, 'base2new', 'imagefolder', 'shots_16', 'mpl');
  run = path.join(base, fs.readdirSync(base)[0], 'seed1');
  ok(mpl(['export', run, '--package', pkg, '--license', 'apache-2.0']), 'export --package');
});

test('the package: model card front matter and config.json say what the run recorded', () => {
  assert.deepEqual(fs.readdirSync(pkg).sort(), ['README.md', 'config.json', 'prompts.safetensors']);
  const config = json(path.join(pkg, 'config.json'));
  const prompts = json(path.join(run, 'prompts.json'));
  const result = json(path.join(run, 'result.json'));
  assert.equal(config.format, 'mpl-package/1');
  assert.equal(config.method, 'mpl');
  assert.deepEqual(config.method_options, { n_ctx: 1, n_add: 2, n_rm: 1, depth: 3, ctx_init: 'a photo of a', schedule: null });
  assert.deepEqual(config.classnames, prompts.classnames);
  assert.deepEqual(config.templates, ['X a photo of a {}.']);
  assert.equal(config.precision, 'fp32');
  assert.deepEqual(config.backbone, { name: 'tiny_clip.safetensors', sha256: sha256(weights), architecture: prompts.backbone_architecture });
  assert.equal(prompts.backbone_sha256, sha256(weights), 'the run recorded the sha256 of the weights it trained on');
  assert.deepEqual(config.training, { protocol: 'base2new', shots: 16, seed: 1, epochs: 2, lr: result.config.lr, batch_size: result.config.batch_size });
  assert.deepEqual(config.accuracy, { protocol: 'base2new', test_images: result.eval_images, max_test_images: null, base: result.base, new: result.new, hm: result.hm });

  const card = fs.readFileSync(path.join(pkg, 'README.md'), 'utf8');
  const meta = readCardMetadata(card);
  assert.equal(meta.library_name, 'modular-prompt-learning');
  assert.equal(meta.license, 'apache-2.0');
  assert.equal(meta.method, 'mpl');
  assert.equal(meta.backbone, 'tiny_clip.safetensors');
  assert.equal(meta.backbone_sha256, sha256(weights));
  assert.equal(meta.dataset, 'imagefolder');
  assert.deepEqual(meta.classes, prompts.classnames);
  assert.equal(meta.shots, 16);
  assert.deepEqual(meta.seeds, [1]);
  assert.deepEqual(meta.accuracy, config.accuracy);
  assert.match(card, new RegExp(`\\| ${result.base.toFixed(2)} % \\| ${result.new.toFixed(2)} % \\| ${result.hm.toFixed(2)} % \\|`));
  assert.match(card, /mpl predict --weights WEIGHTS_FILE --prompts THIS_FOLDER/);
  // the tensors are the run's, byte for byte, under the official keys
  const a = readSafetensors(path.join(pkg, 'prompts.safetensors')).tensors;
  const b = readSafetensors(path.join(run, 'prompts.safetensors')).tensors;
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [k, t] of a) assert.ok(Buffer.from(t.data).equals(Buffer.from(b.get(k)!.data)), k);
});

test('mpl predict and mpl eval with --prompts PACKAGE give what the run\'s own prompts give', () => {
  // the package scores the classes it was trained on: the run's base classes (the run folder scores base + new by default)
  assert.deepEqual(predictJson(pkg).map((r: { probabilities: unknown }) => r.probabilities), predictJson(path.join(run, 'prompts.safetensors'), weights, ['--classes', 'base']).map((r: { probabilities: unknown }) => r.probabilities));
  const evalArgs = (p: string) => ['eval', '--weights', weights, '--prompts', p, '--dataset', 'imagefolder', '--root', root, '--subsample', 'new', '--precision', 'fp32', '--workers', '1', '--json'];
  const mine = JSON.parse(ok(mpl(evalArgs(pkg)), 'eval package'));
  const theirs = JSON.parse(ok(mpl(evalArgs(run)), 'eval run folder'));
  assert.equal(mine.accuracy, theirs.accuracy);
  assert.deepEqual(mine.confusion, theirs.confusion);
  assert.equal(mine.accuracy, json(path.join(run, 'result.json')).new, 'the new-class accuracy the run recorded');
});

test('loadPromptPackage(dir, { model }): one call to a classifier equal to mpl predict', async () => {
  const clip = await loadClip({ weights, precision: 'fp32' });
  const learner = await loadPromptPackage(pkg, { model: clip });
  try {
    const pixels = await loadEvalImage(image, clip.model.imageSize);
    const probs = tidy(() => noGrad(() => learner.forward(tensor(pixels, [1, 3, clip.model.imageSize, clip.model.imageSize])).logits.softmax(-1).toFloat32()));
    const cli = predictJson(pkg)[0].probabilities as Record<string, number>;
    learner.classnames.forEach((c, i) => assert.ok(Math.abs(probs[i] - cli[c]) < 1e-6, `${c}: ${probs[i]} vs ${cli[c]}`));
  } finally {
    learner.dispose();
    clip.model.dispose();
  }
});

test('another backbone is refused before any image is read: one line naming both', async () => {
  const same = path.join(work, 'other.safetensors');
  otherWeights(same);
  const arch = path.join(work, 'small.safetensors');
  await otherArchitecture(arch);
  // an unreadable "image": refusing the backbone first means this is never looked at
  const junk = path.join(work, 'junk.png');
  fs.writeFileSync(junk, 'not an image');
  const shaOf = (f: string) => sha256(f).slice(0, 12);
  for (const target of [pkg, run]) {
    const line = refused(target === pkg ? mpl(['predict', '--weights', same, '--prompts', target, junk]) : await mplHere(['predict', '--weights', same, '--prompts', target, junk]), /same architecture, other weights/, `predict ${target} on other weights`);
    assert.ok(line.includes(`tiny_clip.safetensors (weights sha256 ${shaOf(weights)}…)`) && line.includes(`other.safetensors (weights sha256 ${shaOf(same)}…)`), line);
  }
  const line = refused(await mplHere(['predict', '--weights', arch, '--prompts', pkg, junk]), /another architecture \(text\.layers: 4 → 2\)/, 'predict on another architecture');
  assert.ok(line.includes('small.safetensors'), line);
  refused(await mplHere(['eval', '--weights', same, '--prompts', pkg, '--dataset', 'imagefolder', '--root', root, '--workers', '1']), /same architecture, other weights/, 'eval on other weights');
  const clip = await loadClip({ weights: same });
  try {
    await assert.rejects(loadPromptPackage(pkg, { model: clip }), (e: Error) => e instanceof UserError && /same architecture, other weights/.test(e.message));
  } finally {
    clip.model.dispose();
  }
});

test('an existing package is replaced only with --force; other folders and damaged packages are refused', async () => {
  refused(await mplHere(['export', run, '--package', pkg]), /a prompt package is already there; pass --force/, 'export over a package');
  const other = path.join(work, 'not-a-package');
  fs.mkdirSync(other);
  fs.writeFileSync(path.join(other, 'notes.txt'), 'mine');
  refused(await mplHere(['export', run, '--package', other]), /holds other files and is not a prompt package/, 'export into a folder with files');
  assert.deepEqual(fs.readdirSync(other), ['notes.txt'], 'nothing written there');
  assert.equal((await mplHere(['export', run, '--package', pkg, '--force'])).status, 0, 'export --force');
  assert.deepEqual(fs.readdirSync(work).filter((f) => f.includes('.partial-') || f.includes('.old-')), [], 'no temporary folder left');
  refused(await mplHere(['export', run, '--package', pkg, '--out', work]), /give one of them/, '--package with --out');
  const damaged = path.join(work, 'damaged');
  fs.cpSync(pkg, damaged, { recursive: true });
  const cfg = json(path.join(damaged, 'config.json'));
  cfg.backbone.sha256 = 'abc';
  fs.writeFileSync(path.join(damaged, 'config.json'), JSON.stringify(cfg));
  refused(await mplHere(['predict', '--weights', weights, '--prompts', damaged, image]), /config\.json: its backbone .* is missing or malformed; the package is damaged/, 'damaged package');
});

test('mpl import: an official Dassl checkpoint as a package that predicts as the checkpoint does', async () => {
  const ckpt = path.join(fixturesDir, 'dassl_mpl', 'MultiModalPromptLearner', 'model.pth.tar-4');
  const imported = path.join(work, 'imported');
  const names = 'cat,dog,red car';
  const out = ok(mpl(['import', ckpt, '--weights', weights, '--classes', names, '--package', imported, '--precision', 'fp32']), 'import');
  assert.match(out, /wrote .*imported: mpl prompts for tiny_clip\.safetensors/);
  const config = json(path.join(imported, 'config.json'));
  assert.equal(config.method, 'mpl');
  assert.equal(config.method_options.depth, 4, 'read off the tensors');
  assert.deepEqual(config.classnames, ['cat', 'dog', 'red car']);
  assert.equal(config.backbone.sha256, sha256(weights));
  assert.equal(config.accuracy, null);
  assert.match(config.source, /model\.pth\.tar-4 \(epoch 4\)/);
  const meta = readCardMetadata(fs.readFileSync(path.join(imported, 'README.md'), 'utf8'));
  assert.equal(meta.backbone_sha256, sha256(weights));
  // the checkpoint itself, with the method's flags spelled out
  const o = config.method_options;
  const flags = ['--method', 'mpl', '--n-ctx', String(o.n_ctx), '--n-add', String(o.n_add), '--n-rm', String(o.n_rm), '--depth', String(o.depth), '--classes', names];
  assert.deepEqual(predictJson(imported).map((r: { probabilities: unknown }) => r.probabilities), predictJson(ckpt, weights, flags).map((r: { probabilities: unknown }) => r.probabilities));
  // a checkpoint that does not fit the model: refused naming the tensor, nothing written
  const arch = path.join(work, 'small.safetensors');
  refused(await mplHere(['import', ckpt, '--weights', arch, '--classes', names, '--package', path.join(work, 'no')]), /depth|layers|shape/, 'import onto another architecture');
  assert.ok(!fs.existsSync(path.join(work, 'no')));
});
