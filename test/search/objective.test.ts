/**
 * The search's data: base-to-new searches see only the base classes, split into pseudo-base / pseudo-new;
 * a dataset whose val list is its test set (ImageNet) is scored on images held out from its training set.
 * Every list comes through the loaders, which report it (src/data/access.ts). No model, no image decoded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { watchDataAccess, type DataAccess } from '../../src/data/access.js';
import { describeDataset } from '../../src/data/dataset.js';
import type { SearchSettings } from '../../src/search/files.js';
import { objectiveOf, pseudoSplit, searchData } from '../../src/search/objective.js';
import { tmpDir } from '../helpers.js';

const work = tmpDir('mpl-search-objective-');

/** Empty files are enough: listing and splitting never open an image. */
function touch(dir: string, names: string[]): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const n of names) fs.writeFileSync(path.join(dir, n), '');
}

const settings = (over: Partial<SearchSettings>): SearchSettings => ({
  backbone: 'x',
  protocol: 'base2new',
  dataset: 'imagefolder',
  root: '',
  shots: 4,
  seed: 5,
  seeds: [1],
  bounds: { depth: { min: 2, max: 3 }, add: { min: 0, max: 2 }, rm: { min: 0, max: 1 }, nCtx: 1 },
  candidates: 4,
  rounds: 1,
  eta: 2,
  min_epochs: 1,
  max_epochs: 2,
  lr: 0.0035,
  batch_size: 4,
  ctx_init: 'a photo of a',
  precision: 'fp32',
  allow_generated_split: false,
  ...over,
});

function watched<T>(fn: () => T): { value: T; reads: DataAccess[] } {
  const reads: DataAccess[] = [];
  const stop = watchDataAccess((a) => reads.push(a));
  try {
    return { value: fn(), reads };
  } finally {
    stop();
  }
}

test('base2new: pseudo-base / pseudo-new halves of the base classes only, relabelled, scored on val', () => {
  const root = path.join(work, 'folder');
  const names = ['ant', 'bee', 'cat', 'dog', 'eel', 'fox', 'gnu', 'hen', 'ibis', 'jay'];
  for (const n of names) touch(path.join(root, n), Array.from({ length: 10 }, (_, i) => `${i}.png`));
  const info = describeDataset('imagefolder', { root });
  const { value: d, reads } = watched(() => searchData(settings({ root }), 1));
  const split = pseudoSplit(info.baseClasses.length, 5);
  assert.deepEqual(d.trainClasses, split.base.map((i) => info.baseClasses[i]));
  assert.deepEqual(d.scoreSets.map((s) => s.name), ['base', 'new']);
  assert.deepEqual(d.scoreSets[1].classnames, split.novel.map((i) => info.baseClasses[i]));
  assert.equal(d.validation, 'val split');
  for (const set of [{ items: d.train, classnames: d.trainClasses }, ...d.scoreSets]) {
    for (const item of set.items) {
      assert.equal(set.classnames[item.label], item.classname, item.impath);
      assert.ok(info.baseClasses.includes(item.classname));
    }
  }
  assert.ok(d.train.every((x) => !d.scoreSets.some((s) => s.items.some((v) => v.impath === x.impath))), 'train and val images are disjoint');
  assert.deepEqual(reads.filter((a) => a.kind === 'split').map((a) => a.kind === 'split' && [a.split, a.subsample]), [['train', 'base'], ['val', 'base']]);
  assert.equal(objectiveOf({ base: 80, new: 60 }), (2 * 80 * 60) / 140);
  assert.equal(objectiveOf({ val: 42 }), 42);
});

test('a dataset whose val list is its test set (ImageNet) is scored on images held out from training', () => {
  const root = path.join(work, 'data');
  const dir = path.join(root, 'imagenet');
  const wnids = ['n01', 'n02', 'n03', 'n04'];
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'classnames.txt'), wnids.map((w, i) => `${w} class ${i}`).join('\n') + '\n');
  for (const w of wnids) {
    touch(path.join(dir, 'images', 'train', w), Array.from({ length: 12 }, (_, i) => `${w}_${i}.JPEG`));
    touch(path.join(dir, 'images', 'val', w), Array.from({ length: 3 }, (_, i) => `v_${w}_${i}.JPEG`));
  }
  const { value: d, reads } = watched(() => searchData(settings({ dataset: 'imagenet', root, protocol: 'fewshot', shots: 4 }), 2));
  assert.equal(d.validation, 'held out from train');
  assert.deepEqual(d.scoreSets.map((s) => s.name), ['val']);
  assert.equal(d.train.length, 16);
  assert.equal(d.scoreSets[0].items.length, 16); // min(K, 4) per class
  const train = new Set(d.train.map((x) => x.impath));
  for (const v of d.scoreSets[0].items) {
    assert.ok(v.impath.includes(`${path.sep}train${path.sep}`), v.impath);
    assert.ok(!train.has(v.impath), `${v.impath} is also a training image`);
  }
  const splits = reads.filter((a) => a.kind === 'split');
  assert.deepEqual(splits.map((a) => a.kind === 'split' && a.split), ['train']);
});

test('an image folder without val/ is scored on training images beyond the few-shot subset, never on test/', () => {
  const root = path.join(work, 'no-val');
  for (const c of ['ant', 'bee', 'cat', 'dog']) {
    touch(path.join(root, 'train', c), Array.from({ length: 8 }, (_, i) => `${i}.png`));
    touch(path.join(root, 'test', c), ['t0.png', 't1.png']);
  }
  const { value: d, reads } = watched(() => searchData(settings({ root, shots: 2 }), 1));
  assert.equal(d.validation, 'held out from train');
  assert.deepEqual(d.scoreSets.map((s) => s.items.length), [2, 2]); // one pseudo class each, min(K, 4) = 2 images
  const images = [...d.train, ...d.scoreSets.flatMap((s) => s.items)].map((x) => x.impath);
  assert.equal(new Set(images).size, images.length, 'train and held-out images are disjoint');
  for (const im of images) assert.ok(im.includes(`${path.sep}train${path.sep}`), im);
  assert.ok(reads.every((a) => a.kind !== 'split' || (a.split !== 'test' && a.subsample === 'base')));
});
