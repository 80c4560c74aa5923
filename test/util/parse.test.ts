/**
 * Every file the tool parses loads in time linear in its size or is refused by a stated limit (issue 22,
 * item 3; src/util/parse.ts): each parser of user files gets a large input and a deeply nested one and must
 * end in a result or a one-line error naming the file. A 3 MB / 200,000-key YAML config took about 555 s
 * (the yaml package's duplicate-key check compares every key with every earlier one); it is now refused from
 * its size, and the same keys parse in linear time when a caller allows that size. The time bounds here are
 * generous guards against a quadratic (or endless) parse, not benchmarks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readConfigFile } from '../../src/cli/config-file.js';
import { readFewshotCache } from '../../src/data/fewshot.js';
import { readSplitFile } from '../../src/data/splits.js';
import { readResultFile } from '../../src/report/result-files.js';
import { readSearchFile } from '../../src/search/files.js';
import { readLocalRecords } from '../../src/sweep/records.js';
import { readSweepFile } from '../../src/sweep/spec.js';
import { UserError } from '../../src/util/errors.js';
import { MAX_CONFIG_BYTES, MAX_DEPTH, parseYamlText } from '../../src/util/parse.js';
import { tmpDir } from '../helpers.js';

const work = tmpDir('mpl-parse-');
const write = (name: string, text: string): string => {
  const f = path.join(work, name);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, text);
  return f;
};
/** `k0: 0\nk1: 1\n...`: 200,000 keys are 3.0 MB. */
const manyKeys = (n: number): string => Array.from({ length: n }, (_, i) => `k${i}: ${i}\n`).join('');
const deepJson = (n: number): string => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
const deepList = (n: number): string => '['.repeat(n) + ']'.repeat(n);

/** Runs `read`, which must throw a one-line UserError naming `file` and matching `pattern`, within `seconds`. */
function refused(read: () => unknown, file: string, pattern: RegExp, seconds = 10): void {
  const t0 = Date.now();
  assert.throws(read, (e: Error) => {
    assert.ok(e instanceof UserError, `${e.name}: ${e.message.slice(0, 300)}`);
    assert.ok(!e.message.includes('\n'), `one line: ${e.message.slice(0, 300)}`);
    assert.ok(e.message.includes(file), `names ${file}: ${e.message.slice(0, 300)}`);
    assert.match(e.message, pattern);
    return true;
  });
  assert.ok(Date.now() - t0 < seconds * 1000, `refused within ${seconds} s (${Date.now() - t0} ms)`);
}

test('YAML config files: 3 MB / 200,000 keys refused from the size at once; 1 MiB parses in linear time; deep nesting refused', () => {
  const big = write('big.yaml', manyKeys(200_000));
  assert.ok(fs.statSync(big).size > 2_900_000);
  refused(() => readConfigFile(big), big, /\d+ bytes: more than a config file may have \(1 MiB\)/, 2);
  // the same 200,000 keys, allowed: linear (the quadratic check took ~555 s)
  const t0 = Date.now();
  const all = parseYamlText(fs.readFileSync(big, 'utf8'), big) as Record<string, number>;
  assert.equal(Object.keys(all).length, 200_000);
  assert.equal(all.k199999, 199_999);
  assert.ok(Date.now() - t0 < 120_000, `${Date.now() - t0} ms`);
  // just under the limit: read
  const n = Math.floor(MAX_CONFIG_BYTES / 16);
  const edge = write('edge.yaml', manyKeys(n).slice(0, MAX_CONFIG_BYTES - 20));
  assert.ok(Object.keys(readConfigFile(edge)).length > 60_000);

  refused(() => readConfigFile(write('flow.yaml', `A: ${deepList(200_000)}\n`)), 'flow.yaml', /nested too deeply|nested more than 64 levels/);
  const block = Array.from({ length: 1200 }, (_, i) => `${' '.repeat(i)}a${i}:`).join('\n') + ' 1\n';
  refused(() => readConfigFile(write('block.yaml', block)), 'block.yaml', /nested too deeply|nested more than 64 levels/);
  refused(() => readConfigFile(write('sixty-five.yaml', `A: ${deepList(MAX_DEPTH)}\n`)), 'sixty-five.yaml', new RegExp(`nested more than ${MAX_DEPTH} levels deep`));
  assert.deepEqual(Object.keys(readConfigFile(write('sixty-four.yaml', `A: ${deepList(MAX_DEPTH - 1)}\n`))), ['A']);
  refused(() => readConfigFile(write('twice.yaml', 'OPTIM:\n  LR: 0.1\n  MAX_EPOCH: 5\n  LR: 0.2\n')), 'twice.yaml', /line 4: the key 'LR' is given twice; keep one/);
  const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 9 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)].join('\n');
  refused(() => readConfigFile(write('laughs.yaml', laughs)), 'laughs.yaml', /not valid YAML \(.*alias/i);
});

test('JSON config files and sweep files: large and deep', () => {
  const big = write('big.json', JSON.stringify(Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i}`, i]))));
  refused(() => readConfigFile(big), big, /more than a config file may have \(1 MiB\)/, 2);
  refused(() => readConfigFile(write('deep.json', deepJson(100_000))), 'deep.json', /nested more than 64 levels deep/);
  refused(() => readSweepFile(write('sweep/big.yaml', manyKeys(200_000))), 'big.yaml', /more than a sweep file may have \(1 MiB\)/, 2);
  refused(() => readSweepFile(write('sweep/deep.json', deepJson(100_000))), 'deep.json', /nested more than 64 levels deep/);
  refused(() => readSweepFile(write('sweep/deep.yaml', `out: ${deepList(100_000)}\n`)), 'deep.yaml', /nested too deeply|nested more than 64/);
  refused(() => readSweepFile(write('sweep/twice.yaml', 'out: a\nout: b\n')), 'twice.yaml', /line 2: the key 'out' is given twice/);
});

test('split files: 10 MB read in linear time; deep nesting refused; few-shot caches the same', () => {
  // 160,000 train entries over 1,000 classes, plus val and test: about 10 MB
  const entries = (n: number, off: number) => Array.from({ length: n }, (_, i) => [`class_${(i + off) % 1000}/img_${i + off}.jpg`, (i + off) % 1000, `class ${(i + off) % 1000}`]);
  const big = write('split_big.json', JSON.stringify({ train: entries(160_000, 0), val: entries(20_000, 7), test: entries(40_000, 3) }));
  assert.ok(fs.statSync(big).size > 9_500_000, `${fs.statSync(big).size}`);
  const t0 = Date.now();
  const s = readSplitFile(big);
  assert.equal(s.train.length + s.val.length + s.test.length, 220_000);
  assert.ok(Date.now() - t0 < 60_000, `${Date.now() - t0} ms`);
  refused(() => readSplitFile(write('split_deep.json', `{"train": ${deepList(100_000)}}`)), 'split_deep.json', /nested more than 64 levels deep/);
  const cache = write('fewshot/shot_16-seed_1.json', `{"format": "mpl-fewshot-v1", "train": ${deepList(100_000)}}`);
  refused(() => readFewshotCache(cache), cache, /cannot read the few-shot cache \(nested more than 64 levels deep.*\); delete it/);
});

test('result files, search files and sweep state files: deep nesting is a one-line error', () => {
  const result = write('run/result.json', `{"schema": "mpl-result/1", "config": ${deepJson(100_000)}}`);
  refused(() => readResultFile(result), result, /nested more than 64 levels deep/);
  const search = write('search/search.json', deepJson(100_000));
  refused(() => readSearchFile(path.dirname(search)), search, /cannot read it \(nested more than 64 levels deep.*\); delete it/);
  const local = write('sweeps/runs/.sweeps/s/local.json', `{"runs": ${deepJson(100_000)}}`);
  refused(() => readLocalRecords({ out: path.join(work, 'sweeps', 'runs'), name: 's' }), local, /nested more than 64 levels deep.*delete it to forget/);
});
