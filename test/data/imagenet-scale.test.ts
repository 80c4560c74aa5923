/**
 * The data side at ImageNet size on a generated ImageNet-layout tree (bench/imagenet-tree.ts, written here,
 * never shipped): 1,000 class folders of train and val files, and the four test-only variants. The 16-shot
 * subset of the 1,000 classes is Dassl's draw, element by element (CPython's `random`, run here on the same
 * list, with Dassl's generate_fewshot_dataset loop); ImageNet-A and -R have their 200 classes with their
 * names; the lists are sorted as Python sorts them. The times of the full 1.28M-file case are a benchmark
 * (`mpl bench imagenet-data`, README), not asserted here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeImagenetTree, type ImagenetTree } from '../../bench/imagenet-tree.js';
import { loadDataset } from '../../src/data/dataset.js';
import { comparePy, sortPy } from '../../src/data/datasets/common.js';
import { toData } from '../../src/data/splits.js';
import { tmpDir } from '../helpers.js';

const python = process.env.MPL_TEST_PYTHON ?? '/usr/bin/python3';

/** Dassl's DatasetBase.generate_fewshot_dataset(items, num_shots) after random.seed(seed), in CPython. */
const DASSL_FEWSHOT = `
import json, random, sys
from collections import defaultdict
req = json.load(sys.stdin)
random.seed(req["seed"])
tracker = defaultdict(list)          # split_dataset_by_label
for item in req["items"]:
    tracker[item[1]].append(item)
dataset = []
for label, items in tracker.items():
    if len(items) >= req["shots"]:
        sampled = random.sample(items, req["shots"])
    else:
        sampled = items
    dataset.extend(sampled)
print(json.dumps([x[0] for x in dataset]))
`;

function dasslFewshot(items: Array<[string, number]>, shots: number, seed: number): string[] {
  const r = spawnSync(python, ['-c', DASSL_FEWSHOT], { input: JSON.stringify({ items, shots, seed }), encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  assert.equal(r.status, 0, `this test runs Dassl's few-shot draw in CPython at ${python} (set MPL_TEST_PYTHON): ${r.error?.message ?? r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

let tree: ImagenetTree;
const root = tmpDir('mpl-imagenet-scale-');

test('a generated 1,000-class ImageNet tree lists as CoOp reads it: sorted wnid folders, labels in that order, names from classnames.txt', async () => {
  tree = await writeImagenetTree(root, { trainPerClass: 20, valPerClass: 2, variantPerClass: 1 });
  const d = loadDataset('imagenet', { root, shots: 0 });
  assert.equal(d.classnames.length, 1000);
  assert.deepEqual(d.classnames, tree.classnames, 'class i is the i-th folder in sorted order, named by classnames.txt');
  assert.equal(d.train.length, 20_000);
  assert.equal(d.test.length, 2000);
  assert.deepEqual(d.val, d.test, 'val is the test set (ImageNet val), as CoOp');
  const first = d.train.slice(0, 20).map((x) => path.basename(x.impath));
  assert.deepEqual(first, sortPy(first.slice()), 'images of a folder in Python order');
  assert.equal(d.train[0].impath, path.join(root, 'imagenet', 'images', 'train', tree.wnids[0], first[0]));
  assert.ok(d.train.every((x, i) => x.label === Math.floor(i / 20) && fs.existsSync(x.impath)));
});

test("16 shots x 1,000 classes: Dassl's draw element by element, and the same subset from the few-shot cache", () => {
  const full = loadDataset('imagenet', { root, shots: 0 });
  const imageDir = path.join(root, 'imagenet', 'images');
  const rel = (p: string) => path.relative(imageDir, p);
  for (const seed of [1, 2]) {
    const expected = dasslFewshot(full.train.map((x) => [rel(x.impath), x.label]), 16, seed);
    const drawn = loadDataset('imagenet', { root, shots: 16, seed });
    assert.equal(drawn.train.length, 16_000);
    assert.deepEqual(drawn.train.map((x) => rel(x.impath)), expected, `seed ${seed}: the same images in the same order as Dassl`);
    assert.equal(drawn.fewshot?.fromCache, false);
    assert.equal(drawn.test.length, 2000, 'val is not sampled (ImageNet)');
    const again = loadDataset('imagenet', { root, shots: 16, seed });
    assert.equal(again.fewshot?.fromCache, true);
    assert.deepEqual(again.train, drawn.train);
  }
});

test('ImageNet-A and -R: their 200 classes (README.txt ignored), relabelled 0..199 in folder order; V2 and Sketch: all 1,000', () => {
  const names = new Map(tree.wnids.map((w, i) => [w, tree.classnames[i]]));
  for (const name of ['imagenet_a', 'imagenet_r']) {
    const d = loadDataset(name, { root });
    assert.equal(d.classnames.length, 200, name);
    assert.deepEqual(d.classnames, tree.subset.map((w) => names.get(w)), `${name}: names of its wnids, in sorted folder order`);
    assert.deepEqual([...new Set(d.test.map((x) => x.label))], Array.from({ length: 200 }, (_, i) => i));
  }
  for (const name of ['imagenet_v2', 'imagenet_sketch']) {
    const d = loadDataset(name, { root });
    assert.deepEqual(d.classnames, tree.classnames, name);
    assert.equal(d.test.length, 1000);
  }
});

test('sortPy is Python order (code points) with and without astral characters; toData joins as path.resolve does', () => {
  const bmp = ['b', 'a10', 'a2', 'B', '\u00e9', 'z', '_x'];
  assert.deepEqual(sortPy(bmp.slice()), bmp.slice().sort(comparePy));
  const astral = ['\u{1F600}a', '\uFFFDb', 'a'];
  assert.deepEqual(sortPy(astral.slice()), ['a', '\uFFFDb', '\u{1F600}a'], 'U+1F600 sorts after U+FFFD, as in Python');
  const entries = ['a/b.jpg', './a/b.jpg', 'a/../c.jpg', 'a//b.jpg', '/abs/x.jpg', 'a/.hidden/x.jpg', 'x.jpg'].map((relpath) => ({ relpath, label: 0, classname: 'c' }));
  for (const dir of ['/data/set', '/data/set/', 'rel/dir', '/']) {
    assert.deepEqual(toData(entries, dir).map((d) => d.impath), entries.map((e) => path.resolve(dir, e.relpath)), dir);
  }
});
