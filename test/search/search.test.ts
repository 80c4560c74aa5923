/**
 * A real search in this process: the golden tiny CLIP, a generated image folder, 16 candidates with
 * successive halving. What every data loader was asked for is watched from here (src/data/access.ts): the
 * test split and the real new classes are never read, not one of their images. Every bound holds, the
 * report files are written, no tensor is left behind, and running it again continues from the folder
 * without training anything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { watchDataAccess, type DataAccess } from '../../src/data/access.js';
import { describeDataset, loadDataset } from '../../src/data/dataset.js';
import { parseSchedule } from '../../src/prompting/plan.js';
import { collectReads, type SearchFile } from '../../src/search/files.js';
import { writeSearchReport } from '../../src/search/report.js';
import { runSearch } from '../../src/search/search.js';
import { liveTensors, setNumThreads } from '../../src/torch/index.js';
import { makeImageFolder } from '../e2e/fixtures.js';
import { tmpDir } from '../helpers.js';
import { goldenModel } from '../prompting/golden.js';

const work = tmpDir('mpl-search-');
const root = path.join(work, 'images');
const classes = ['red_square', 'green_field', 'blue_sky', 'yellow_sun', 'red_brick', 'green_leaf', 'blue_sea', 'yellow_sand'];
test.before(async () => {
  setNumThreads(1); // tiny tensors: a second thread only spins against the machine's other jobs
  await makeImageFolder(root, classes);
});

const file: SearchFile = {
  format: 'mpl-search/1',
  device: 'cpu',
  workers: 1,
  settings: {
    backbone: 'tiny_clip.safetensors',
    protocol: 'base2new',
    dataset: 'imagefolder',
    root,
    shots: 16,
    seed: 1,
    seeds: [1],
    bounds: { depth: { min: 2, max: 4 }, add: { min: 0, max: 3 }, rm: { min: 0, max: 2 }, nCtx: 1 },
    candidates: 16,
    rounds: 1,
    eta: 2,
    min_epochs: 2,
    max_epochs: 4,
    lr: 0.0035,
    batch_size: 4,
    ctx_init: 'a photo of a',
    precision: 'fp32',
    allow_generated_split: false,
  },
};

test('base2new search: 16 candidates, successive halving, bounds held, never the test split or the new classes', async () => {
  const model = goldenModel();
  const out = path.join(work, 'search');
  const seen: DataAccess[] = [];
  const stop = watchDataAccess((a) => seen.push(a));
  // the text encoder caches a causal mask per prompt length: the only tensors allowed to stay
  const masks = () => (model as unknown as { maskCache: Map<number, unknown> }).maskCache.size;
  const before = liveTensors() - masks();
  let r;
  try {
    r = await runSearch({ out, file, arch: model.arch, executor: 'inprocess', model });
  } finally {
    stop();
  }
  assert.equal(liveTensors() - masks(), before, 'live tensors after the search (cached causal masks aside)');

  // what the real protocol would hold out: the test list and the new half of the classes
  const info = describeDataset('imagefolder', { root });
  const all = loadDataset('imagefolder', { root });
  const testImages = new Set(all.test.map((d) => d.impath));
  const newImages = new Set([...all.train, ...all.val, ...all.test].filter((d) => info.newClasses.includes(d.classname)).map((d) => d.impath));
  assert.equal(info.newClasses.length, 4);
  const splits = seen.filter((a) => a.kind === 'split');
  const images = seen.flatMap((a) => (a.kind === 'images' ? a.paths : []));
  assert.ok(splits.length >= 2 && images.length > 0, 'the loaders reported what they read');
  for (const s of splits) {
    assert.notEqual(s.split, 'test');
    assert.equal(s.subsample, 'base');
    for (const c of s.classes) assert.ok(info.baseClasses.includes(c), `${c} is a base class`);
  }
  for (const im of images) {
    assert.ok(!testImages.has(im), `${im} is a test image`);
    assert.ok(!newImages.has(im), `${im} is an image of a new class`);
  }
  // the folder's record says the same, and so does the result
  const recorded = collectReads(out);
  assert.deepEqual(recorded.images, [...new Set(images)].sort());
  assert.deepEqual(r.read_splits.sort(), ['train', 'val']);
  assert.deepEqual(r.read_classes, [...info.baseClasses].sort());
  assert.deepEqual([...r.objective.pseudo_base!, ...r.objective.pseudo_new!].sort(), [...info.baseClasses].sort());

  // 16 candidates, every one inside the bounds; 16 trained 2 epochs, the best 8 continued to 4
  assert.equal(r.candidates.length, 16);
  for (const c of r.candidates) {
    assert.ok(c.depth >= 2 && c.depth <= 4, c.flags);
    const ops = parseSchedule(c.schedule);
    assert.deepEqual([...ops.keys()], Array.from({ length: c.depth - 1 }, (_, i) => i + 1), c.flags);
    for (const op of ops.values()) assert.ok(op.add >= 0 && op.add <= 3 && op.remove >= 0 && op.remove <= 2, c.flags);
    assert.ok(Number.isFinite(c.objective) && c.objective! >= 0 && c.objective! <= 100);
  }
  assert.deepEqual(r.rungs, [2, 4]);
  assert.equal(r.candidates.filter((c) => c.epochs === 4).length, 8);
  assert.equal(r.candidates.filter((c) => c.epochs === 2).length, 8);
  assert.ok(r.best && r.best.epochs === 4);
  assert.deepEqual(r.references.map((x) => [x.name, x.schedule, Boolean(x.candidate)]), [['paper-default', '1-3:add2,rm1', true], ['maple-replacement', '1-3:add1,rm1', true]]);

  const files = await writeSearchReport(r, 'test search');
  const md = fs.readFileSync(files.leaderboard, 'utf8');
  assert.match(md, /\| rank \| candidate \| flags \| parameters \| extra tokens \| ms\/step \| epochs \| objective \| per seed \(1\) \|/);
  assert.equal(md.split('\n').filter((l) => /^\| \d+ \| c\d\d \|/.test(l)).length, 16);
  assert.equal(fs.readFileSync(files.csv, 'utf8').trim().split('\n').length, 17);
  const svg = fs.readFileSync(files.svg, 'utf8');
  assert.match(svg, /<svg[^>]*viewBox/);
  assert.match(svg, /paper default/);
  assert.match(svg, /Pareto front/);
  assert.deepEqual([...fs.readFileSync(files.png).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);

  // the same search again continues from its folder: every trial is on disk, nothing is trained
  const logs = () => fs.readdirSync(path.join(out, 'trials')).map((c) => fs.readFileSync(path.join(out, 'trials', c, 'seed1', 'log.txt'), 'utf8')).join('');
  const before2 = logs();
  const again = await runSearch({ out, file, arch: model.arch, executor: 'inprocess', model });
  assert.equal(logs(), before2);
  assert.deepEqual(again.candidates, r.candidates);
  assert.deepEqual(again.best, r.best);

  // another search's settings in this folder are refused, naming what differs
  await assert.rejects(
    runSearch({ out, file: { ...file, settings: { ...file.settings, seed: 2 } }, arch: model.arch, executor: 'inprocess', model }),
    /holds a search with other settings \(seed: 1 → 2\); use another --out, or start over with --force/,
  );
});
