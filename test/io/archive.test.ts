/**
 * Archive extraction has explicit limits (issue 22, item 5): a checksum that matches proves an archive is the
 * published one, not that it is safe. A 1 MB zip or tar.gz holding 1 GiB of zeros is refused with one line
 * before anything of it is written; too many entries are refused; on a small disk the free space is the limit;
 * archives within the limits extract as before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXPANSION, extractArchive, extractLimits, SLACK } from '../../src/io/archive.js';
import { UserError } from '../../src/util/errors.js';
import { silentReporter } from '../../src/util/reporter.js';
import { mountTmpfs, tmpDir } from '../helpers.js';
import { tarGzOfZeros, zipOfZeros } from '../data/bomb.js';
import { makeTar, makeZip } from '../net/helpers.js';

const work = tmpDir('mpl-archive-');
const GiB = 1 << 30;

/** Bytes of the files under `dir`. */
function written(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n += fs.statSync(path.join(e.parentPath, e.name)).size;
  return n;
}

async function refusedOneLine(p: Promise<void>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: Error) => {
    assert.ok(e instanceof UserError, `${e.name}: ${e.message}`);
    assert.ok(!e.message.includes('\n'), e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

for (const kind of ['zip', 'tar'] as const) {
  test(`a 1 MB ${kind === 'zip' ? 'zip' : 'tar.gz'} holding 1 GiB of zeros is refused before a byte of it is written`, async () => {
    const bomb = path.join(work, kind === 'zip' ? 'bomb.zip' : 'bomb.tar.gz');
    await (kind === 'zip' ? zipOfZeros(bomb, GiB) : tarGzOfZeros(bomb, GiB));
    const size = fs.statSync(bomb).size;
    assert.ok(size < 1.5e6, `${size} bytes`);
    const dest = path.join(work, `out-${kind}`);
    const limits = extractLimits(bomb, work);
    assert.ok(limits.maxBytes <= EXPANSION * size + SLACK && limits.maxEntries === 1_000_000, 'at most 8 x the archive + 256 MiB');
    await refusedOneLine(
      extractArchive(bomb, kind, dest, silentReporter, 'bomb'),
      new RegExp(`^${bomb.replace(/[.]/g, '\\.')}: extracting it would write more than \\d+ bytes \\(8 × its 1\\.0 MiB \\+ 256\\.0 MiB: not a dataset archive \\(a decompression bomb\\?\\)\\); refused before extracting more\\. Nothing from it was placed`),
    );
    assert.equal(written(dest), 0, 'nothing of it on disk');
  });
}

test('more entries than the limit are refused (zip: from its directory, before extracting; tar: at the entry)', async () => {
  const files = Array.from({ length: 150 }, (_, i) => ({ name: `d/f${i}.txt`, data: Buffer.from(`${i}`) }));
  const zip = path.join(work, 'many.zip');
  fs.writeFileSync(zip, makeZip(files));
  const tgz = path.join(work, 'many.tar.gz');
  fs.writeFileSync(tgz, makeTar(files));
  const limits = { maxBytes: 1 << 30, maxEntries: 100 };
  await refusedOneLine(extractArchive(zip, 'zip', path.join(work, 'many-zip'), silentReporter, 'many', limits), /many\.zip: it holds 150 entries, more than 100; refused/);
  assert.equal(written(path.join(work, 'many-zip')), 0);
  await refusedOneLine(extractArchive(tgz, 'tar', path.join(work, 'many-tar'), silentReporter, 'many', limits), /many\.tar\.gz: it holds more than 100 entries; refused/);
  const some = path.join(work, 'many-tar', 'd');
  assert.ok(!fs.existsSync(some) || fs.readdirSync(some).length <= 100, 'stopped at the limit');
  // within the limits: everything, byte for byte
  await extractArchive(zip, 'zip', path.join(work, 'ok-zip'), silentReporter, 'ok', { maxBytes: 1000, maxEntries: 150 });
  await extractArchive(tgz, 'tar', path.join(work, 'ok-tar'), silentReporter, 'ok', { maxBytes: 1000, maxEntries: 150 });
  for (const d of ['ok-zip', 'ok-tar']) {
    assert.equal(fs.readdirSync(path.join(work, d, 'd')).length, 150);
    assert.equal(fs.readFileSync(path.join(work, d, 'd', 'f149.txt'), 'utf8'), '149');
  }
});

test('on a small disk the free space is the limit: refused, saying how much is free', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('mounting a tmpfs needs root (CI runs the tests as root)');
  const disk = mountTmpfs('100m');
  try {
    const zip = path.join(work, 'fifty.zip');
    await zipOfZeros(zip, 50 << 20); // 50 MiB: within 8 x + 256 MiB, not within 100 MiB less the 64 MiB reserve
    const dest = path.join(disk.dir, 'out');
    await refusedOneLine(extractArchive(zip, 'zip', dest, silentReporter, 'fifty'), new RegExp(`fifty\\.zip: extracting it would write more than \\d+ bytes \\(the \\d+\\.\\d MiB free on ${dest} .*free some space, then run again\\)`));
    assert.equal(written(dest), 0);
  } finally {
    disk.unmount();
  }
});
