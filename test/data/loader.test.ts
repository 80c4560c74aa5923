import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot, tmpDir } from '../helpers.js';
import { UserError } from '../../src/util/errors.js';
import { DataLoader, maxNumWorkers, type Batch, type LoaderItem } from '../../src/data/loader.js';
import { writeImages } from './fixtures.js';

const S = 16;
let items: LoaderItem[] = [];
let dir = '';

test.before(async () => {
  dir = tmpDir();
  const files = Array.from({ length: 10 }, (_, i) => path.join(dir, `c${i % 3}`, `${i}.${i % 2 ? 'png' : 'jpg'}`));
  await writeImages(files, 30, 20);
  items = files.map((impath, i) => ({ impath, label: i % 3 }));
});

async function collect(loader: DataLoader, epoch = 0): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.batches(epoch)) out.push(b);
  return out;
}

test('training batches are identical for a seed whatever the number of workers', async () => {
  const runs: Batch[][] = [];
  for (const numWorkers of [0, 1, 3]) {
    const loader = new DataLoader(items, { mode: 'train', batchSize: 3, imageSize: S, seed: 7, numWorkers });
    runs.push(await collect(loader, 2));
    await loader.close();
  }
  assert.equal(runs[0].length, 3); // 10 items, batch 3, drop_last → 3 batches
  for (const r of runs.slice(1)) assert.deepEqual(r, runs[0]);
  const b = runs[0][0];
  assert.equal(b.images.length, 3 * 3 * S * S);
  assert.deepEqual([...b.labels], [...b.indices].map((i) => items[i].label));
});

test('augment: false trains on the evaluation transform, shuffled and batched as training', async () => {
  const plain = new DataLoader(items, { mode: 'train', augment: false, batchSize: 3, imageSize: S, seed: 7, numWorkers: 1 });
  const augmented = new DataLoader(items, { mode: 'train', batchSize: 3, imageSize: S, seed: 7, numWorkers: 1 });
  const ev = new DataLoader(items, { mode: 'eval', batchSize: 1, imageSize: S, numWorkers: 1 });
  const [p, a, e] = [await collect(plain, 2), await collect(augmented, 2), await collect(ev)];
  await Promise.all([plain.close(), augmented.close(), ev.close()]);
  // same order and drop_last as training
  assert.deepEqual(p.map((b) => [...b.indices]), a.map((b) => [...b.indices]));
  assert.equal(p.length, 3);
  // each image exactly as evaluation makes it, unlike the augmented batch
  const n = 3 * S * S;
  for (const b of p) {
    b.indices.forEach((idx, k) => assert.deepEqual(b.images.subarray(k * n, (k + 1) * n), e[idx].images, `item ${idx}`));
  }
  assert.notDeepEqual(p[0].images, a[0].images);
});

test('epoch order: a seeded permutation per epoch, different across epochs and seeds', () => {
  const a = new DataLoader(items, { mode: 'train', seed: 1, numWorkers: 0 });
  const o0 = a.epochOrder(0);
  assert.deepEqual([...o0].sort((x, y) => x - y), items.map((_, i) => i));
  assert.deepEqual(a.epochOrder(0), o0);
  assert.notDeepEqual(a.epochOrder(1), o0);
  assert.notDeepEqual(new DataLoader(items, { mode: 'train', seed: 2, numWorkers: 0 }).epochOrder(0), o0);
});

test("drop_last follows Dassl's rule; evaluation is sequential with batch 100 by default", async () => {
  assert.equal(new DataLoader(items, { mode: 'train', batchSize: 4, numWorkers: 0 }).length, 2);
  const small = new DataLoader(items, { mode: 'train', batchSize: 16, numWorkers: 0, imageSize: S });
  assert.equal(small.dropLast, false); // fewer items than the batch size: keep the partial batch
  assert.equal((await collect(small))[0].size, 10);
  const ev = new DataLoader(items, { mode: 'eval', imageSize: S, numWorkers: 2 });
  assert.equal(ev.batchSize, 100);
  const e4 = new DataLoader(items, { mode: 'eval', batchSize: 4, imageSize: S, numWorkers: 2 });
  const batches = await collect(e4);
  assert.deepEqual(batches.map((b) => [...b.indices]), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  // evaluation output does not depend on the seed or epoch
  assert.deepEqual(await collect(e4, 5), batches);
  await Promise.all([ev.close(), e4.close()]);
});

test('a bad image stops the loader with a UserError naming it, or is skipped and counted', async () => {
  const bad = path.join(dir, 'broken.jpg');
  fs.writeFileSync(bad, fs.readFileSync(items[0].impath).subarray(0, 100));
  const withBad = [...items.slice(0, 5), { impath: bad, label: 0 }, { impath: path.join(dir, 'gone.jpg'), label: 1 }];
  const strict = new DataLoader(withBad, { mode: 'eval', batchSize: 4, imageSize: S, numWorkers: 2 });
  await assert.rejects(collect(strict), (e: unknown) => e instanceof UserError && e.message.startsWith(bad));
  await strict.close();
  const warnings: string[] = [];
  const lenient = new DataLoader(withBad, {
    mode: 'eval',
    batchSize: 4,
    imageSize: S,
    numWorkers: 2,
    skipBadImages: true,
    reporter: { info() {}, warn: (m) => void warnings.push(m), progress: () => ({ update() {}, stop() {} }) },
  });
  const batches = await collect(lenient);
  assert.deepEqual(batches.map((b) => b.size), [4, 1]);
  assert.deepEqual(batches[1].skipped.map((s) => s.index), [5, 6]);
  assert.equal(batches[1].images.length, 3 * S * S);
  assert.equal(lenient.skippedCount, 2);
  assert.equal(warnings.length, 2);
  assert.match(warnings[1], /gone\.jpg: image file not found/);
  // later epochs read the bad images again: still counted (and reported) once each
  for (const epoch of [1, 2]) for await (const b of lenient.batches(epoch)) void b;
  assert.equal(lenient.skippedCount, 2);
  assert.equal(warnings.length, 2);
  await lenient.close();
});

test('breaking out of an epoch drops prefetched batches; the next epoch still works; close() ends the loader', async () => {
  const loader = new DataLoader(items, { mode: 'train', batchSize: 2, imageSize: S, seed: 3, numWorkers: 2, prefetch: 4 });
  for await (const b of loader.batches(0)) {
    assert.equal(b.size, 2);
    break;
  }
  assert.equal((await collect(loader, 1)).length, 5);
  await loader.close();
  await assert.rejects(collect(loader), /closed/);
});

test('worker threads never keep the process alive (no close() needed to exit), close() terminates them', () => {
  const script = `
    const { DataLoader } = require(${JSON.stringify(path.join(repoRoot, 'dist', 'src', 'data', 'loader.js'))});
    const items = ${JSON.stringify(items.slice(0, 4))};
    (async () => {
      const a = new DataLoader(items, { mode: 'train', batchSize: 2, imageSize: 8, numWorkers: 2 });
      for await (const b of a.batches(0)) { process.stdout.write('b' + b.size + ' '); break; }
      const c = new DataLoader(items, { mode: 'eval', batchSize: 2, imageSize: 8, numWorkers: 2 });
      for await (const b of c.batches(0)) process.stdout.write('e' + b.size + ' ');
      await c.close();
      process.stdout.write('done');
    })();`;
  const r = spawnSync(process.execPath, ['-e', script], { timeout: 20000, encoding: 'utf8' });
  assert.equal(r.signal, null, 'the process hung and was killed');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'b2 e2 e2 done');
});

test('invalid options are UserErrors', () => {
  assert.throws(() => new DataLoader(items, { mode: 'train', batchSize: 0 }), UserError);
  assert.throws(() => new DataLoader(items, { mode: 'train', seed: -1 }), UserError);
});

test('--workers 300 on a 10-image dataset starts no more workers than batches (and 2 per core at most)', async () => {
  const ten = items.slice(0, 10);
  const infos: string[] = [];
  const reporter = { info: (m: string) => infos.push(m), warn() {}, progress: () => ({ update() {}, stop() {} }) };
  const loader = new DataLoader(ten, { mode: 'eval', batchSize: 4, imageSize: S, numWorkers: 300, reporter });
  assert.equal(loader.numWorkers, Math.min(3, maxNumWorkers()));
  assert.match(infos[0]!, /using \d data-loader workers? instead of 300 \(at most 2 per CPU core and one per batch: 3 per epoch\)/);
  let n = 0;
  for await (const b of loader.batches(0)) n += b.size;
  assert.equal(n, 10);
  await loader.close();
  assert.equal(new DataLoader(ten, { mode: 'eval', batchSize: 4, imageSize: S, numWorkers: 2 }).numWorkers, 2);
});
