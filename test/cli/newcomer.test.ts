/**
 * The small things a newcomer tripped on: help examples that work with the defaults, `mpl plan` with a legend
 * and the removed tokens, an actionable depth error, --top in zeroshot JSON, `data download imagenet` failing
 * when nothing was downloaded, snake_case keys in the files the tool writes, a closed pipe.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { goldenDir, repoRoot, runMpl, tmpDir } from '../helpers.js';
import { makeImageFolder, writeImage } from '../data/fixtures.js';

const weights = path.join(goldenDir, 'tiny_clip.safetensors');

const mpl = (args: string[]) => runMpl(args);

test('every --schedule example in the help texts is a valid plan with the defaults', () => {
  const help = ['plan', 'base2new', 'predict'].map((c) => mpl([c, '--help']).stdout).join('\n');
  // the option's own description (wrapped by commander) and the examples
  const examples = [...help.matchAll(/--schedule "([^"]+)"/g), ...help.matchAll(/e\.g\.\s+"(\d[^"]*)"/g)].map((m) => m[1]);
  assert.ok(examples.length >= 2, help);
  for (const s of new Set(examples)) {
    const r = mpl(['plan', '--method', 'mpl', '--arch', 'ViT-B/16', '--schedule', s]);
    assert.equal(r.status, 0, `--schedule "${s}": ${r.stderr}`);
  }
});

test('mpl plan shows the removed tokens and has a legend; a too deep plan says which flag to lower', () => {
  const r = mpl(['plan', '--method', 'mpl', '--arch', 'ViT-B/16']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /block {2}1 {2}len {2}199 .* \(removed×1 before it\)/);
  assert.match(r.stdout, /^legend: CLS = class token/m);
  const json = JSON.parse(mpl(['plan', '--method', 'mpl', '--arch', 'ViT-B/16', '--json']).stdout);
  assert.equal(json.layout.vision[1].removed, 1);
  assert.equal(json.layout.vision[0].removed, undefined);
  const deep = mpl(['plan', '--method', 'mpl', '--weights', weights]);
  assert.equal(deep.status, 1);
  assert.match(deep.stderr, /^mpl: method mpl: prompt depth 9 is beyond the model's 4 layers: give --depth 4 or less/);
  const vpt = mpl(['plan', '--method', 'vpt', '--weights', weights]);
  assert.match(vpt.stderr, /give --depth-vision 4 or less/);
});

test('zeroshot --json honours --top', async () => {
  const img = path.join(tmpDir('mpl-top-'), 'a.png');
  await writeImage(img, 40, 40, 3);
  const r = mpl(['zeroshot', '--weights', weights, '--classes', 'cat,dog,car,sky', '--top', '2', '--json', '--device', 'cpu', '--precision', 'fp32', img]);
  assert.equal(r.status, 0, r.stderr);
  const [x] = JSON.parse(r.stdout);
  assert.equal(Object.keys(x.probabilities).length, 4);
  assert.equal(x.top.length, 2);
  const sorted = Object.entries(x.probabilities as Record<string, number>).sort((a, b) => b[1] - a[1]);
  assert.deepEqual(x.top.map((t: { class: string }) => t.class), sorted.slice(0, 2).map(([c]) => c));
});

test('mpl data download imagenet prints the manual steps and exits non-zero', () => {
  const root = tmpDir('mpl-imagenet-');
  const r = mpl(['data', 'download', 'imagenet', '--root', root]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /ImageNet needs manual steps/);
  assert.match(r.stderr, /^mpl: ImageNet is not ready in .*imagenet: do the manual steps above/);
});

test('the files a run writes use snake_case keys', async () => {
  const work = tmpDir('mpl-keys-');
  await makeImageFolder(path.join(work, 'images'), ['cat', 'dog'], 6);
  const out = path.join(work, 'runs');
  const r = mpl(['base2new', '--weights', weights, '--dataset', 'imagefolder', '--root', path.join(work, 'images'), '--method', 'mpl', '--depth', '2', '--n-add', '2', '--epochs', '1', '--seeds', '1', '--precision', 'fp32', '--workers', '1', '--out', out, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const files = (fs.readdirSync(out, { recursive: true }) as string[]).map((f) => path.join(out, f)).filter((f) => f.endsWith('.json'));
  assert.ok(files.some((f) => f.endsWith('result.json')) && files.some((f) => f.endsWith('prompts.json')));
  // keys that name fields (not data such as class names under per_class) are snake_case
  const check = (v: unknown, where: string): void => {
    if (Array.isArray(v)) return v.forEach((x) => check(x, where));
    if (typeof v !== 'object' || v === null) return;
    for (const [k, x] of Object.entries(v)) {
      assert.match(k, /^[a-z0-9_]+$/, `${where}: key "${k}"`);
      if (k !== 'per_class') check(x, `${where}.${k}`);
    }
  };
  for (const f of files) check(JSON.parse(fs.readFileSync(f, 'utf8')), path.basename(f));
  const result = JSON.parse(fs.readFileSync(files.find((f) => f.endsWith('result.json'))!, 'utf8'));
  assert.equal(result.config.method_options.n_add, 2);
});

test('a reader that closes the pipe early ends the output quietly', () => {
  // `mpl --help | true`: the reader is gone before the help is written
  const r = spawnSync('bash', ['-c', `"${process.execPath}" "${path.join(repoRoot, 'bin', 'mpl.js')}" --help | true; echo "status \${PIPESTATUS[0]}"`], { encoding: 'utf8' });
  assert.match(r.stdout, /status 0/);
  assert.doesNotMatch(r.stderr, /EPIPE|Error/);
});

test('usage errors from the flag parser have the same one-line `mpl:` prefix as every other error', () => {
  for (const args of [['base2new', '--bogus'], ['nonsense'], ['base2new', '--lr']]) {
    const r = mpl(args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, /^mpl: /, r.stderr);
    assert.doesNotMatch(r.stderr, /^error:/m, r.stderr);
    assert.match(r.stderr, /--help/, 'says where the options are listed');
  }
});

test('a method flag the chosen method does not take is refused, naming what it takes', () => {
  const r = mpl(['plan', '--arch', 'ViT-B/16', '--method', 'vpt', '--depth', '3']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^mpl: --depth does not apply to --method vpt \(it takes --depth-vision, --n-ctx-vision/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  const two = mpl(['plan', '--arch', 'ViT-B/16', '--method', 'coop', '--n-add', '3', '--n-rm', '1']);
  assert.match(two.stderr, /^mpl: --n-add, --n-rm do not apply to --method coop/);
  // the same flags with a method that takes them
  assert.equal(mpl(['plan', '--arch', 'ViT-B/16', '--method', 'mpl', '--depth', '3', '--n-add', '3', '--n-rm', '1']).status, 0);
});
