/**
 * The README's library example, run verbatim: the ```ts block under "As a library" is written to a file and
 * run by node in a folder holding the tiny CLIP as `clip.safetensors`, an image folder `my_images/` and the
 * package under node_modules/. It must finish and exit by itself (no loader thread keeps it alive), with the
 * model's 32-pixel images (not 224).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { goldenDir, repoRoot, tmpDir } from '../helpers.js';
import { makeImageFolder } from '../data/fixtures.js';

function readmeExample(): string {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const at = readme.indexOf('As a library');
  assert.ok(at >= 0, 'README has no "As a library" section');
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(m, 'no ```ts block after "As a library"');
  return m[1];
}

test('the README library example runs verbatim on a tiny CLIP and the process exits by itself', async () => {
  const dir = tmpDir('mpl-readme-');
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(repoRoot, path.join(dir, 'node_modules', 'modular-prompt-learning'), 'dir');
  fs.copyFileSync(path.join(goldenDir, 'tiny_clip.safetensors'), path.join(dir, 'clip.safetensors'));
  await makeImageFolder(path.join(dir, 'my_images'), ['cat', 'dog', 'red_car', 'sky'], 8);
  fs.writeFileSync(path.join(dir, 'example.mjs'), readmeExample());
  const r = spawnSync(process.execPath, ['example.mjs'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, MPL_NUM_THREADS: '1' },
    timeout: 180_000,
  });
  assert.equal(r.signal, null, `the example did not exit by itself (killed by ${r.signal}); stderr: ${r.stderr}`);
  assert.equal(r.status, 0, `the example failed: ${r.stderr}`);
  assert.match(r.stdout, /\d+ trainable parameters/);
  const acc = /accuracy (\d+\.\d\d) %/.exec(r.stdout);
  assert.ok(acc, r.stdout);
  assert.ok(Number(acc[1]) >= 0 && Number(acc[1]) <= 100);
  assert.ok(fs.existsSync(path.join(dir, 'out', 'prompts.safetensors')));
  assert.ok(fs.existsSync(path.join(dir, 'out', 'prompts.json')));
  // the single-image prediction: one probability per base class, summing to 1
  const line = r.stdout.split('\n').find((l) => l.includes('my_images'));
  assert.ok(line, r.stdout);
  const probs = [...line.matchAll(/: (\d\.\d+(?:e-\d+)?)/g)].map((x) => Number(x[1]));
  assert.equal(probs.length, 2, line);
  assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-4, line);
});
