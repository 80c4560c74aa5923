/**
 * Failing early (issue 12, item 4): every dataset and image a protocol will read is checked before training,
 * all problems listed at once; a target can live in its own folder; the user's dataset folder is never
 * written into; `fewshot --shots K` trains K shots and records them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { goldenDir, repoRoot, tmpDir } from '../helpers.js';
import { makeSplitTree, writeImages } from '../data/fixtures.js';

const weights = path.join(goldenDir, 'tiny_clip.safetensors');
const work = tmpDir('mpl-preflight-');
const root = path.join(work, 'images');
const classes = ['red', 'green', 'blue', 'yellow'];

function mpl(args: string[]) {
  return spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'mpl.js'), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, MPL_NUM_THREADS: '1', MPL_CACHE: path.join(work, 'cache') },
    timeout: 120_000,
  });
}

const common = (out: string) => ['--weights', weights, '--method', 'mpl', '--depth', '3', '--epochs', '1', '--seeds', '1', '--out', out, '--workers', '1', '--quiet', '--device', 'cpu', '--precision', 'fp32'];

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

test.before(async () => {
  const files: string[] = [];
  for (const split of ['train', 'test']) for (const c of classes) for (let i = 0; i < (split === 'train' ? 6 : 3); i++) files.push(path.join(root, split, c, `${i}.png`));
  await writeImages(files, 24, 24);
});

test('base2new: a corrupt image among the new classes stops the run before training, naming it; --skip-bad-images goes on', () => {
  const bad = path.join(work, 'with-bad');
  fs.cpSync(root, bad, { recursive: true });
  fs.writeFileSync(path.join(bad, 'test', 'yellow', 'truncated.png'), '<html>not found</html>');
  const out = path.join(work, 'b2n-bad');
  const r = mpl(['base2new', '--dataset', 'imagefolder', '--root', bad, ...common(out)]);
  assert.notEqual(r.status, 0);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^mpl: 1 unreadable image: .*truncated\.png \(not an image \(unknown header\)\); fix or remove it, or pass --skip-bad-images/);
  assert.deepEqual(filesUnder(out).filter((f) => /checkpoint|log\.txt|result\.json/.test(f)), [], 'nothing was trained');
  const ok = mpl(['base2new', '--dataset', 'imagefolder', '--root', bad, ...common(out), '--skip-bad-images']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stderr, /1 image looks unreadable and will be skipped/);
  assert.deepEqual(filesUnder(bad).filter((f) => f.includes('split_fewshot')), [], 'the dataset folder is not written into');
});

test('xd: every missing target is reported at once, before training; --target NAME=FOLDER finds one elsewhere', async () => {
  const out = path.join(work, 'xd');
  const missing = mpl(['xd', '--dataset', 'imagefolder', '--root', root, '--targets', 'eurosat,dtd', ...common(out)]);
  assert.notEqual(missing.status, 0);
  // one problem per line, each once (issue 21), under one `mpl:` line that counts them
  const lines = missing.stderr.trim().split('\n');
  assert.equal(lines.length, 3, missing.stderr);
  assert.match(lines[0], /^mpl: 2 problems, found before training \(nothing was run or written\):$/);
  assert.match(lines[1], /^ {2}- .*eurosat/i);
  assert.match(lines[2], /^ {2}- .*dtd/i);
  assert.deepEqual(filesUnder(out).filter((f) => /checkpoint|log\.txt/.test(f)), [], 'nothing was trained');

  // EuroSAT in CoOp's layout, in a folder of its own
  const elsewhere = path.join(work, 'other-disk');
  await makeSplitTree(path.join(elsewhere, 'eurosat'), '2750', 'split_zhou_EuroSAT.json', [
    { prefix: 'Forest/Forest_', label: 0, name: 'Forest' },
    { prefix: 'River/River_', label: 1, name: 'River' },
  ]);
  const r = mpl(['xd', '--dataset', 'imagefolder', '--root', root, '--targets', 'eurosat', '--target', `eurosat=${elsewhere}`, ...common(out)]);
  assert.equal(r.status, 0, r.stderr);
  const [resultFile] = filesUnder(out).filter((f) => f.endsWith('result.json'));
  const result = JSON.parse(fs.readFileSync(resultFile, 'utf8'));
  assert.ok(Number.isFinite(result.accuracy.eurosat), JSON.stringify(result.accuracy));
  const bad = mpl(['xd', '--dataset', 'imagefolder', '--root', root, '--target', 'eurosat', ...common(out)]);
  assert.match(bad.stderr, /^mpl: --target must be NAME=FOLDER/);
});

test('fewshot --shots K trains K shots and records them; --shots and --k that disagree are an error', () => {
  const out = path.join(work, 'fewshot');
  const r = mpl(['fewshot', '--dataset', 'imagefolder', '--root', root, '--shots', '2', ...common(out)]);
  assert.equal(r.status, 0, r.stderr);
  const results = filesUnder(out).filter((f) => f.endsWith('result.json'));
  assert.equal(results.length, 1);
  assert.match(results[0], /shots_2/);
  const result = JSON.parse(fs.readFileSync(results[0], 'utf8'));
  assert.equal(result.shots, 2);
  assert.equal(result.config.shots, 2);
  const clash = mpl(['fewshot', '--dataset', 'imagefolder', '--root', root, '--shots', '2', '--k', '4', ...common(out)]);
  assert.notEqual(clash.status, 0);
  assert.match(clash.stderr, /^mpl: --shots 2 and --k 4 disagree: give one of them/);
});
