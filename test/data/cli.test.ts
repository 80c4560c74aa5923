import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { goldenDir, repoRoot, tmpDir } from '../helpers.js';
import { makeSplitTree, officialFewshotDir, splitsDir, writeImages } from './fixtures.js';

function mpl(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'mpl.js'), ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 30000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('mpl data fewshot --json prints the official subsets (paths as in the split file, no images needed)', () => {
  for (const [ds, name, prefix, shots, seed] of [
    ['eurosat', 'EuroSAT', './data/eurosat/2750/', 16, 1],
    ['oxford_pets', 'OxfordPets', './data/oxford_pets/images/', 4, 3],
  ] as const) {
    const r = mpl('data', 'fewshot', '--split', path.join(splitsDir, `split_zhou_${name}.json`), '--shots', String(shots), '--seed', String(seed), '--json');
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout);
    const expected = JSON.parse(fs.readFileSync(path.join(officialFewshotDir, ds, `shot_${shots}-seed_${seed}.json`), 'utf8'));
    const strip = (d: { impath: string }) => (assert.ok(d.impath.startsWith(prefix)), d.impath.slice(prefix.length));
    assert.deepEqual(got, { train: expected.train.data.map(strip), val: expected.val.data.map(strip) });
  }
  const golden = JSON.parse(fs.readFileSync(path.join(goldenDir, 'fewshot.json'), 'utf8')).cases[7];
  const r = mpl('data', 'fewshot', '--split', path.join(goldenDir, 'fewshot_split.json'), '--shots', String(golden.shots), '--seed', String(golden.seed), '--json');
  assert.deepEqual(JSON.parse(r.stdout), { train: golden.train, val: golden.val });
});

test('mpl data fewshot: bad input is one "mpl: ..." line and exit status 1', () => {
  const missing = path.join(tmpDir(), 'split_zhou_X.json');
  let r = mpl('data', 'fewshot', '--split', missing, '--shots', '4', '--seed', '1', '--json');
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `mpl: ${missing}: split file not found\n`);
  r = mpl('data', 'fewshot', '--split', missing, '--shots', 'four', '--seed', '1');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--shots must be an integer >= 0 and <= 100000 \(0 = all images\)/);
  r = mpl('data', 'info', 'cifar', '--root', '.');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^mpl: unknown dataset "cifar"; valid names: imagenet, /);
});

test('mpl data info / split --generate / list on a CoOp-layout tree', async () => {
  const root = tmpDir();
  await makeSplitTree(path.join(root, 'eurosat'), '2750', 'split_zhou_EuroSAT.json', [
    { prefix: 'AnnualCrop/A_', label: 0, name: 'Annual Crop Land' },
    { prefix: 'Forest/F_', label: 1, name: 'Forest' },
    { prefix: 'SeaLake/S_', label: 2, name: 'Sea or Lake' },
  ]);
  let r = mpl('data', 'info', 'EuroSAT', '--root', root, '--shots', '2', '--seed', '1', '--json');
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.deepEqual(info.base_classes, ['Annual Crop Land', 'Forest']); // snake_case keys, as every JSON the tool writes
  assert.deepEqual(info.counts, { train: 9, val: 6, test: 6 });
  assert.equal(info.fewshot.train.length, 6);
  r = mpl('data', 'info', 'eurosat', '--root', root);
  assert.match(r.stdout, /classes: +3 \(base 2 \/ new 1\)/);

  const files: string[] = [];
  for (const c of ['banded', 'blotchy']) for (let i = 0; i < 5; i++) files.push(path.join(root, 'dtd', 'images', c, `${c}_${i}.jpg`));
  await writeImages(files);
  r = mpl('data', 'info', 'dtd', '--root', root);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /split_zhou_DescribableTextures\.json: split file not found.*mpl data split dtd --root/);
  r = mpl('data', 'split', 'dtd', '--root', root, '--generate');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /split_mpl_generated_DescribableTextures\.json: 2 classes, train 4, val 2, test 4/);
  r = mpl('data', 'info', 'dtd', '--root', root, '--allow-generated-split');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /GENERATED, not the official split/);

  r = mpl('data', 'list', '--json');
  assert.equal(JSON.parse(r.stdout).length, 18);
});

/** The same as mpl(), asynchronously, so several can run at once. */
function mplAsync(...args: string[]): Promise<{ status: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'mpl.js'), ...args], { cwd: repoRoot });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.on('close', (status) => resolve({ status, stdout }));
  });
}

test('every data subcommand has --help with examples', async () => {
  const subs = [[], ['list'], ['info'], ['fewshot'], ['split'], ['check'], ['synth']];
  const results = await Promise.all(subs.map((sub) => mplAsync('data', ...sub, '--help')));
  results.forEach((r, i) => {
    assert.equal(r.status, 0, subs[i].join());
    assert.match(r.stdout, /Example/, subs[i].join());
  });
});

test('mpl data check reports unreadable images and exits 1', async () => {
  const root = tmpDir();
  await writeImages(['a', 'b'].flatMap((c) => [0, 1, 2, 3].map((i) => path.join(root, c, `${i}.jpg`))));
  let r = mpl('data', 'check', 'imagefolder', '--root', root, '--workers', '1');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /8 images checked, 0 unreadable/);
  fs.writeFileSync(path.join(root, 'b', '2.jpg'), 'garbage');
  r = mpl('data', 'check', 'imagefolder', '--root', root, '--workers', '1');
  assert.equal(r.status, 1);
  assert.match(r.stdout, /1 unreadable\n .*b\/2\.jpg: cannot decode image/);
});
