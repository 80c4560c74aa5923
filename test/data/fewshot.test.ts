import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { goldenDir, tmpDir } from '../helpers.js';
import { fewshotCachePath, fewshotWithCache, readFewshotCache, sampleFewshot, subsampleClasses } from '../../src/data/fewshot.js';
import { readSplitFile } from '../../src/data/splits.js';
import type { Reporter } from '../../src/util/reporter.js';
import { officialFewshotDir, splitsDir } from './fixtures.js';

const golden = JSON.parse(fs.readFileSync(path.join(goldenDir, 'fewshot.json'), 'utf8'));
const goldenSplit = readSplitFile(path.join(goldenDir, 'fewshot_split.json'));

test('golden fewshot.json: every (seed, shots) case, train and val in order', () => {
  assert.equal(golden.cases.length, 15);
  for (const c of golden.cases) {
    const got = sampleFewshot(goldenSplit.train, goldenSplit.val, c.shots, c.seed);
    assert.deepEqual(got.train.map((e) => e.relpath), c.train, `seed ${c.seed} shots ${c.shots} train`);
    assert.deepEqual(got.val.map((e) => e.relpath), c.val, `seed ${c.seed} shots ${c.shots} val`);
  }
});

test('golden base_new: subsample_classes on train and test', () => {
  for (const mode of ['base', 'new'] as const) {
    const [train, , test_] = subsampleClasses(mode, goldenSplit.train, goldenSplit.val, goldenSplit.test);
    const enc = (l: typeof train) => l.map((e) => [e.relpath, e.label, e.classname]);
    assert.deepEqual(enc(train), golden.base_new[mode].train, `${mode} train`);
    assert.deepEqual(enc(test_), golden.base_new[mode].test, `${mode} test`);
  }
  assert.deepEqual(subsampleClasses('all', goldenSplit.train)[0], goldenSplit.train);
});

// dataset folder in ../shared/data/fewshot → split file and the image folder the impaths are under
const OFFICIAL: Record<string, [string, string]> = {
  eurosat: ['EuroSAT', '/eurosat/2750/'],
  dtd: ['DescribableTextures', '/dtd/images/'],
  oxford_pets: ['OxfordPets', '/oxford_pets/images/'],
  caltech101: ['Caltech101', '/caltech-101/101_ObjectCategories/'],
};

test('every official few-shot subset (4 datasets x K in 1,2,4,8,16 x seeds 1-3) is reproduced element by element', () => {
  let files = 0;
  for (const [ds, [name, imageFolder]] of Object.entries(OFFICIAL)) {
    const split = readSplitFile(path.join(splitsDir, `split_zhou_${name}.json`));
    for (const f of fs.readdirSync(path.join(officialFewshotDir, ds))) {
      const m = /^shot_(\d+)-seed_(\d+)\.json$/.exec(f);
      if (!m) continue;
      const expected = JSON.parse(fs.readFileSync(path.join(officialFewshotDir, ds, f), 'utf8'));
      const rel = (d: { impath: string }) => {
        const i = d.impath.indexOf(imageFolder);
        assert.ok(i >= 0, `${f}: ${d.impath} not under ${imageFolder}`);
        return d.impath.slice(i + imageFolder.length);
      };
      const got = sampleFewshot(split.train, split.val, Number(m[1]), Number(m[2]));
      assert.deepEqual(got.train.map((e) => e.relpath), expected.train.data.map(rel), `${ds}/${f} train`);
      assert.deepEqual(got.val.map((e) => e.relpath), expected.val.data.map(rel), `${ds}/${f} val`);
      // labels and class names travel with the paths
      assert.deepEqual(got.train.map((e) => [e.label, e.classname]), expected.train.data.map((d: { label: number; classname: string }) => [d.label, d.classname]));
      files++;
    }
  }
  assert.equal(files, 60);
});

test('all 7 official split files parse with the documented sizes', () => {
  const sizes: Record<string, [number, number, number, number]> = {
    Caltech101: [4128, 1649, 2465, 100],
    DescribableTextures: [2820, 1128, 1692, 47],
    EuroSAT: [13500, 5400, 8100, 10],
    OxfordFlowers: [4093, 1633, 2463, 102],
    OxfordPets: [2944, 736, 3669, 37],
    StanfordCars: [6509, 1635, 8041, 196],
    UCF101: [7639, 1898, 3783, 101],
  };
  for (const [name, [tr, va, te, nc]] of Object.entries(sizes)) {
    const s = readSplitFile(path.join(splitsDir, `split_zhou_${name}.json`));
    assert.deepEqual([s.train.length, s.val.length, s.test.length, new Set(s.train.map((e) => e.label)).size], [tr, va, te, nc], name);
  }
});

test('classes with fewer than K items keep all of them, in order, and draw nothing', () => {
  const items = [
    { label: 0, id: 'a' },
    { label: 1, id: 'b' },
    { label: 0, id: 'c' },
  ];
  const got = sampleFewshot(items, [], 4, 1);
  assert.deepEqual(got.train.map((x) => x.id), ['a', 'c', 'b']);
});

function recorder(): Reporter & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, info() {}, warn: (m) => void warnings.push(m), progress: () => ({ update() {}, stop() {} }) };
}

test('few-shot cache: written as portable JSON, reused, and redrawn when drawn from other lists', () => {
  const dir = tmpDir();
  const args = { train: goldenSplit.train, val: goldenSplit.val, shots: 2, seed: 3, datasetDir: dir, source: 'golden' };
  const first = fewshotWithCache(args);
  const file = fewshotCachePath(dir, 2, 3);
  assert.equal(first.cacheFile, file);
  assert.equal(first.fromCache, false);
  const onDisk = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.equal(onDisk.format, 'mpl-fewshot-v1');
  assert.deepEqual(onDisk.train[0], [first.train[0].relpath, first.train[0].label, first.train[0].classname]);
  assert.ok(!path.isAbsolute(String(onDisk.train[0][0])));

  const second = fewshotWithCache(args);
  assert.equal(second.fromCache, true);
  assert.deepEqual(second.train, first.train);
  assert.deepEqual(readFewshotCache(file).val, first.val);

  // Tamper with the cache: a reused cache is returned as is (that is what caching means)...
  onDisk.train = onDisk.train.slice(0, 1);
  fs.writeFileSync(file, JSON.stringify(onDisk));
  assert.equal(fewshotWithCache(args).train.length, 1);
  // ...but a cache drawn from other lists is not reused.
  const rep = recorder();
  const other = fewshotWithCache({ ...args, train: goldenSplit.train.slice(1), reporter: rep });
  assert.equal(other.fromCache, false);
  assert.match(rep.warnings[0], /drawn from other lists/);
  assert.deepEqual(other.train, sampleFewshot(goldenSplit.train.slice(1), goldenSplit.val, 2, 3).train);
});

test('few-shot cache: read-only mode never writes; an unwritable folder is a warning', () => {
  const dir = tmpDir();
  const args = { train: goldenSplit.train, val: goldenSplit.val, shots: 1, seed: 1, datasetDir: dir, source: 'golden' };
  fewshotWithCache({ ...args, cache: 'read-only' });
  assert.equal(fs.existsSync(fewshotCachePath(dir, 1, 1)), false);
  const blocker = path.join(dir, 'file');
  fs.writeFileSync(blocker, 'x'); // a file where the dataset folder should be → mkdir fails
  const rep = recorder();
  const r = fewshotWithCache({ ...args, datasetDir: blocker, reporter: rep });
  assert.equal(r.train.length, 11);
  assert.match(rep.warnings[0], /could not write the few-shot cache/);
});
