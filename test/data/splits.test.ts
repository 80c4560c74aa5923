import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from '../helpers.js';
import { UserError } from '../../src/util/errors.js';
import { checkImageFiles, readSplitFile } from '../../src/data/splits.js';
import { loadDataset } from '../../src/data/dataset.js';
import { makeSplitTree, writeJson } from './fixtures.js';

function splitWith(dir: string, value: unknown, name = 'split.json'): string {
  const f = path.join(dir, name);
  if (typeof value === 'string') fs.writeFileSync(f, value);
  else writeJson(f, value);
  return f;
}

/** Asserts a UserError whose message names `file` and matches `what`. */
function throwsUser(fn: () => unknown, file: string, what: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${e}`);
    assert.ok(e.message.includes(file), `message should name ${file}: ${e.message}`);
    assert.match(e.message, what);
    return true;
  });
}

const ok = { train: [['a/1.jpg', 0, 'a'], ['b/1.jpg', 1, 'b']], val: [['a/2.jpg', 0, 'a']], test: [['b/2.jpg', 1, 'b']] };

test('a valid split file parses in order', () => {
  const s = readSplitFile(splitWith(tmpDir(), ok));
  assert.deepEqual(s.train[1], { relpath: 'b/1.jpg', label: 1, classname: 'b' });
  assert.equal(s.val.length, 1);
  assert.equal(s.generated, undefined);
});

test('malformed JSON names the file and the parse problem', () => {
  const f = splitWith(tmpDir(), '{"train": [["a.jpg", 0, "a"],');
  throwsUser(() => readSplitFile(f), f, /not valid JSON/);
});

test('missing split file', () => {
  const f = path.join(tmpDir(), 'nope.json');
  throwsUser(() => readSplitFile(f), f, /split file not found/);
});

test('wrong shapes: not an object, missing list, bad entries', () => {
  const dir = tmpDir();
  throwsUser(() => readSplitFile(splitWith(dir, [1, 2], 'a.json')), 'a.json', /expected a JSON object/);
  throwsUser(() => readSplitFile(splitWith(dir, { train: ok.train, test: [] }, 'b.json')), 'b.json', /missing the "val" list/);
  throwsUser(() => readSplitFile(splitWith(dir, { ...ok, test: {} }, 'c.json')), 'c.json', /"test" must be a list/);
  throwsUser(() => readSplitFile(splitWith(dir, { ...ok, val: [['a/2.jpg', 0]] }, 'd.json')), 'd.json', /val\[0\] must be \[relative_path, label, classname\].*\["a\/2.jpg",0\]/);
  throwsUser(() => readSplitFile(splitWith(dir, { ...ok, train: [...ok.train, ['c.jpg', '2', 'c']] }, 'e.json')), 'e.json', /train\[2\]/);
  throwsUser(() => readSplitFile(splitWith(dir, { ...ok, train: [['c.jpg', -1, 'c']] }, 'f.json')), 'f.json', /non-negative integer label/);
  throwsUser(() => readSplitFile(splitWith(dir, { ...ok, train: [] }, 'g.json')), 'g.json', /"train" is empty/);
});

test('label/classname inconsistency names both entries', () => {
  const f = splitWith(tmpDir(), { ...ok, test: [['b/2.jpg', 1, 'bee']] });
  throwsUser(() => readSplitFile(f), f, /label 1 has two class names: "b" \(train\[1\]\) and "bee" \(test\[0\]\)/);
});

test('a val/test label that does not occur in train is an unknown label', () => {
  const f = splitWith(tmpDir(), { ...ok, test: [['c/1.jpg', 7, 'c']] });
  throwsUser(() => readSplitFile(f), f, /test\[0\] has label 7 \("c"\), which does not occur in "train"/);
});

test('missing image files: the error names the split file, the first entry and the count', async () => {
  const root = tmpDir();
  const dir = path.join(root, 'eurosat');
  await makeSplitTree(dir, '2750', 'split_zhou_EuroSAT.json', [
    { prefix: 'Forest/Forest_', label: 0, name: 'Forest' },
    { prefix: 'River/River_', label: 1, name: 'River' },
  ]);
  fs.rmSync(path.join(dir, '2750', 'River', 'River_val_1.jpg'));
  fs.rmSync(path.join(dir, '2750', 'River', 'River_test_0.jpg'));
  const splitFile = path.join(dir, 'split_zhou_EuroSAT.json');
  throwsUser(() => loadDataset('eurosat', { root }), splitFile, /image file not found for val\[3\] "River\/River_val_1.jpg".*2 of 14 images are missing/);
  // checkFiles: false skips the check (e.g. to inspect a split without the images)
  assert.equal(loadDataset('eurosat', { root, checkFiles: false }).train.length, 6);
  const s = readSplitFile(splitFile);
  throwsUser(() => checkImageFiles(s, path.join(dir, '2750'), splitFile), splitFile, /River_val_1/);
});
