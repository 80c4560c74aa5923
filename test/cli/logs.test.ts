/**
 * Run logs as Dassl writes them: log.txt starts with the configuration, the environment and the dataset
 * sizes; when the output is not a terminal a progress line (loss, accuracy, lr, ETA) comes every
 * --print-freq batches; metrics.csv holds one row per epoch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { goldenDir, repoRoot, tmpDir } from '../helpers.js';
import { makeImageFolder } from '../data/fixtures.js';

test('log.txt head, progress lines every N batches on a pipe, metrics.csv per epoch', async () => {
  const work = tmpDir('mpl-logs-');
  const root = path.join(work, 'images');
  await makeImageFolder(root, ['cat', 'dog', 'red_car', 'blue_sky'], 12);
  const out = path.join(work, 'runs');
  const r = spawnSync(process.execPath, [
    path.join(repoRoot, 'bin', 'mpl.js'), 'base2new', '--weights', path.join(goldenDir, 'tiny_clip.safetensors'), '--dataset', 'imagefolder', '--root', root,
    '--method', 'coop', '--epochs', '3', '--batch-size', '2', '--seeds', '1', '--precision', 'fp32', '--workers', '1', '--print-freq', '2', '--out', out,
  ], { encoding: 'utf8', env: { ...process.env, MPL_NUM_THREADS: '1' }, timeout: 180_000 });
  assert.equal(r.status, 0, r.stderr);
  // stderr is a pipe here: Dassl-style lines every 2 batches (6 training images per class pair -> 6 batches of 2)
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('epoch ['));
  assert.ok(lines.length >= 9, r.stderr);
  for (const l of lines) assert.match(l, /^epoch \[\d\/3\] batch \[\d+\/\d+\] loss \d+\.\d{4} acc \d+\.\d\d lr \d\.\d{4}e[-+]\d+ img\/s [\d.]+ eta \d+:\d\d:\d\d$/);
  assert.match(lines[0], /^epoch \[1\/3\] batch \[2\/6\]/);
  assert.match(lines[lines.length - 1], / eta 0:00:00$/);

  const dir = path.dirname(fs.readdirSync(out, { recursive: true }).map((f) => path.join(out, String(f))).find((f) => f.endsWith('result.json'))!);
  const log = fs.readFileSync(path.join(dir, 'log.txt'), 'utf8');
  assert.match(log, /^==== base2new imagefolder coop seed 1 — started \d{4}-\d\d-\d\dT/);
  const config = JSON.parse(/---- configuration\n([\s\S]*?)\n---- environment/.exec(log)![1]);
  assert.equal(config.epochs, 3);
  assert.equal(config.batch_size, 2);
  assert.equal(config.method, 'coop');
  const env = /---- environment\n([\s\S]*?)\n---- data/.exec(log)![1];
  assert.match(env, /^mpl \d+\.\d+\.\d+ on Node\.js v\d+/m);
  assert.match(env, /^libtorch \d+\.\d+/m);
  assert.match(env, /^cpu: .+, \d+ cores, \d+ threads/m);
  assert.match(env, /^blas: /m);
  assert.match(env, /^device cpu \(.*\), precision fp32, 1 intra-op threads$/m);
  assert.match(log, /---- data\nbase: ImageFolder \(base classes\) 2 classes, train 12, val 4, test 8 images/);
  assert.match(log, /\nnew: ImageFolder \(new classes\) 2 classes/);
  // the training lines follow the head, in the log too
  assert.equal((log.match(/ epoch \[\d\/3\] batch /g) ?? []).length, lines.length);

  const csv = fs.readFileSync(path.join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'epoch,lr,loss,accuracy,images,seconds,images_per_s');
  assert.equal(csv.length, 4);
  csv.slice(1).forEach((row, i) => {
    const [epoch, lr, loss, acc, images] = row.split(',').map(Number);
    assert.equal(epoch, i + 1);
    assert.equal(lr, i === 0 ? 1e-5 : lr);
    assert.ok(Number.isFinite(loss) && loss > 0);
    assert.ok(acc >= 0 && acc <= 100);
    assert.equal(images, 12);
  });
});
