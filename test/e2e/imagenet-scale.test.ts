/**
 * A whole protocol at ImageNet scale: `mpl crossdataset` (= `mpl xd`) and `mpl dg` train on a generated
 * 1,000-class ImageNet-layout tree (bench/imagenet-tree.ts: real JPEG files, one colour per class) with the
 * shipped tiny CLIP, then evaluate on ImageNet's val and on the targets (a generated EuroSAT in CoOp's layout;
 * ImageNet-V2, -Sketch, -A, -R with their 1,000 / 200 classes), end to end through the CLI. Few shots and a
 * large batch keep it to CI minutes; the full recipe (16 shots, batch 4) is timed by
 * scripts/imagenet-scale-protocol.sh (docs/scale.md). The run's peak resident memory is read from the child.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeImagenetTree, type ImagenetTree } from '../../bench/imagenet-tree.js';
import type { RunResult } from '../../src/eval/results.js';
import { tinyClipWeights } from '../../src/pretrain/recipe.js';
import { repoRoot, tmpDir } from '../helpers.js';

const work = tmpDir('mpl-imagenet-e2e-');
const root = path.join(work, 'data');
let tree: ImagenetTree;

/** `mpl ARGS` with one thread; returns the output and the child's resident high-water mark (test/seams/peak-rss.ts). */
function mpl(args: string[]): { stdout: string; stderr: string; status: number | null; peakRss: number } {
  const seam = pathToFileURL(path.join(repoRoot, 'dist', 'test', 'seams', 'peak-rss.js')).href;
  const peakFile = path.join(work, `peak-${Date.now()}`);
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'mpl.js'), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, MPL_NUM_THREADS: '1', NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${seam}`.trim(), MPL_TEST_PEAK_RSS_FILE: peakFile },
    timeout: 20 * 60_000,
  });
  const peakRss = fs.existsSync(peakFile) ? Number(fs.readFileSync(peakFile, 'utf8')) : NaN;
  assert.equal(r.status, 0, `mpl ${args[0]} failed (${r.status}, ${r.signal}): ${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr, status: r.status, peakRss };
}

/** A 10-class EuroSAT in CoOp's layout (2750/<class>/*.jpg, split_zhou_EuroSAT.json), images linked from the tree. */
function writeEurosat(): void {
  const dir = path.join(root, 'eurosat');
  const split: Record<'train' | 'val' | 'test', Array<[string, number, string]>> = { train: [], val: [], test: [] };
  const source = path.join(root, '.class-files');
  for (let c = 0; c < 10; c++) {
    const folder = `Class${c}`;
    fs.mkdirSync(path.join(dir, '2750', folder), { recursive: true });
    for (let i = 0; i < 4; i++) {
      const rel = `${folder}/${folder}_${i}.jpg`;
      fs.linkSync(path.join(source, `class-${c * 97}.jpg`), path.join(dir, '2750', rel));
      split[i < 2 ? 'train' : i === 2 ? 'val' : 'test'].push([rel, c, `class ${c}`]);
    }
  }
  fs.writeFileSync(path.join(dir, 'split_zhou_EuroSAT.json'), JSON.stringify(split));
}

/** The one run's result.json under `<out>/<setting>/<tag>-<hash>/seed1/`, relative to out. */
function resultFile(out: string, setting: string): string | undefined {
  const dir = path.join(out, setting);
  const tags = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  assert.equal(tags.length, 1, `one configuration folder in ${dir}`);
  const rel = path.join(setting, tags[0], 'seed1', 'result.json');
  return fs.existsSync(path.join(out, rel)) ? rel : undefined;
}

const common = (out: string) => [
  '--weights', tinyClipWeights(), '--root', root, '--method', 'mpl', '--depth', '3', '--shots', '1', '--epochs', '1',
  '--batch-size', '32', '--seeds', '1', '--out', out, '--workers', '1', '--no-augment', '--quiet', '--device', 'cpu', '--precision', 'fp32',
];

test.before(async () => {
  tree = await writeImagenetTree(root, { trainPerClass: 2, valPerClass: 1, variantPerClass: 1, content: 'jpeg' });
  writeEurosat();
});

test('mpl crossdataset: 1,000 ImageNet classes, then a target dataset, end to end', (t) => {
  const out = path.join(work, 'xd');
  const r = mpl(['crossdataset', ...common(out), '--targets', 'eurosat']);
  assert.match(r.stdout, /xd from imagenet, mpl/);
  const file = resultFile(out, 'xd/imagenet/shots_1/mpl');
  assert.ok(file, `a result under ${out}`);
  const result = JSON.parse(fs.readFileSync(path.join(out, file), 'utf8')) as RunResult;
  assert.deepEqual(Object.keys(result.accuracy!).sort(), ['eurosat', 'imagenet']);
  for (const [k, v] of Object.entries(result.accuracy!)) assert.ok(Number.isFinite(v) && v >= 0 && v <= 100, `${k}: ${v}`);
  assert.equal(Object.keys(result.per_class!.imagenet).length, 1000, 'per-class accuracy of the 1,000 classes');
  assert.equal(result.eval_images, 1000 + 10);
  const log = fs.readFileSync(path.join(out, path.dirname(file), 'log.txt'), 'utf8');
  assert.match(log, /1,?000 classes|"classes": 1000|1000/, 'the log records the source dataset');
  t.diagnostic(`peak RSS ${(r.peakRss / 2 ** 20).toFixed(0)} MiB, train ${result.train_seconds.toFixed(1)} s, eval ${result.eval_seconds.toFixed(1)} s`);
  assert.ok(r.peakRss < 1.5 * 2 ** 30, `peak resident memory ${r.peakRss} bytes`);
});

test('mpl dg: ImageNet to V2, Sketch (1,000 classes), A and R (200 classes), end to end', (t) => {
  const out = path.join(work, 'dg');
  const r = mpl(['dg', ...common(out)]);
  const file = resultFile(out, 'dg/imagenet/shots_1/mpl');
  assert.ok(file, `a result under ${out}`);
  const result = JSON.parse(fs.readFileSync(path.join(out, file), 'utf8')) as RunResult;
  assert.deepEqual(Object.keys(result.accuracy!).sort(), ['imagenet', 'imagenet_a', 'imagenet_r', 'imagenet_sketch', 'imagenet_v2']);
  for (const [k, n] of [['imagenet_v2', 1000], ['imagenet_sketch', 1000], ['imagenet_a', 200], ['imagenet_r', 200]] as const) {
    assert.equal(Object.keys(result.per_class![k]).length, n, `${k}: ${n} classes`);
  }
  const names = new Set(tree.subset.map((w) => tree.classnames[tree.wnids.indexOf(w)]));
  assert.deepEqual(new Set(Object.keys(result.per_class!.imagenet_a)), names, 'ImageNet-A is evaluated on its own 200 classes');
  t.diagnostic(`peak RSS ${(r.peakRss / 2 ** 20).toFixed(0)} MiB, train ${result.train_seconds.toFixed(1)} s, eval ${result.eval_seconds.toFixed(1)} s`);
  assert.ok(r.peakRss < 1.5 * 2 ** 30, `peak resident memory ${r.peakRss} bytes`);
});
