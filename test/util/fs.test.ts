/**
 * The atomic writer under a full disk: a short write is continued, a failing write keeps the previous file
 * and leaves no temporary file, and the error is one line naming the path and the bytes needed. First with an
 * injected writeSync (no privileges needed), then on a real 64 KiB tmpfs (tests run as root in CI).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../src/util/errors.js';
import { ensureDir, writeFileAtomic, writeJsonAtomic, type WriteIo } from '../../src/util/fs.js';
import { mountTmpfs, tmpDir } from '../helpers.js';

const work = tmpDir('mpl-fs-');
const bytes = (n: number, v: number) => new Uint8Array(n).fill(v);

/** writeSync that accepts at most `chunk` bytes per call and fails with `code` after `limit` bytes in total. */
function shortWrites(chunk: number, limit = Infinity, code = 'ENOSPC'): WriteIo & { calls: number } {
  let total = 0;
  const io = {
    calls: 0,
    writeSync(fd: number, buffer: Uint8Array, offset: number, length: number): number {
      io.calls++;
      if (total >= limit) throw Object.assign(new Error(`${code}: simulated`), { code });
      const n = Math.min(chunk, length, limit - total);
      total += n;
      return fs.writeSync(fd, buffer, offset, n);
    },
  };
  return io;
}

const leftovers = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

test('a short write is continued until every byte is on disk', () => {
  const f = path.join(work, 'short.bin');
  const io = shortWrites(7);
  writeFileAtomic(f, bytes(1000, 3), io);
  assert.equal(fs.statSync(f).size, 1000);
  assert.ok(fs.readFileSync(f).every((b) => b === 3));
  assert.equal(io.calls, Math.ceil(1000 / 7));
});

for (const code of ['ENOSPC', 'EIO']) {
  test(`${code} half-way keeps the previous file, removes the temporary one and names path and size`, () => {
    const dir = path.join(work, code);
    const f = path.join(dir, 'checkpoint.safetensors');
    writeFileAtomic(f, bytes(500, 1));
    assert.throws(
      () => writeFileAtomic(f, bytes(2000, 2), shortWrites(300, 900, code)),
      (e: Error) => {
        assert.ok(e instanceof UserError, String(e));
        assert.equal(e.message.split('\n').length, 1);
        assert.ok(e.message.startsWith(f), e.message);
        assert.match(e.message, new RegExp(`${code}.*needs 2000 bytes.*900 were written.*previous file is kept`));
        return true;
      },
    );
    assert.deepEqual([...fs.readFileSync(f)], [...bytes(500, 1)]);
    assert.deepEqual(leftovers(dir), []);
  });
}

test('a write that makes no progress is a full disk, not an endless loop', () => {
  const f = path.join(work, 'zero.bin');
  assert.throws(() => writeFileAtomic(f, bytes(10, 1), { writeSync: () => 0 }), /ENOSPC.*needs 10 bytes/);
  assert.ok(!fs.existsSync(f));
  assert.deepEqual(leftovers(work), []);
});

test('JSON with NaN or Infinity is refused, not written as null', () => {
  const f = path.join(work, 'result.json');
  writeJsonAtomic(f, { hm: 50 });
  assert.throws(() => writeJsonAtomic(f, { hm: NaN }), /non-finite number NaN \(field "hm"\); nothing was written/);
  assert.throws(() => writeJsonAtomic(f, { a: [1, -Infinity] }), /non-finite number -Infinity/);
  assert.deepEqual(JSON.parse(fs.readFileSync(f, 'utf8')), { hm: 50 });
});

test('folders: a file in the way, or an impossible place, is a one-line error (and /proc does not hang)', () => {
  const file = path.join(work, 'plain-file');
  fs.writeFileSync(file, 'x');
  assert.throws(() => ensureDir(path.join(file, 'sub')), (e: Error) => e instanceof UserError && /plain-file: is a file, not a folder/.test(e.message));
  assert.throws(() => writeFileAtomic(path.join(file, 'a.json'), '{}'), /is a file, not a folder/);
  // Node's own recursive mkdirSync never returns here
  assert.throws(() => ensureDir('/proc/mpl-no-such/a'), (e: Error) => e instanceof UserError && /^\/proc\/mpl-no-such: cannot create this folder/.test(e.message));
  ensureDir(path.join(work, 'a', 'b', 'c'));
  assert.ok(fs.statSync(path.join(work, 'a', 'b', 'c')).isDirectory());
});

test('on a real 64 KiB tmpfs: the second copy does not fit, the first survives intact', (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('mounting a tmpfs needs root (CI runs the tests as root)');
    return;
  }
  const fsys = mountTmpfs('64k');
  try {
    const f = path.join(fsys.dir, 'prompts.safetensors');
    writeFileAtomic(f, bytes(40_000, 7));
    assert.throws(() => writeFileAtomic(f, bytes(40_000, 8)), (e: Error) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match(e.message, /prompts\.safetensors: cannot write \(no space left on the device, ENOSPC\): it needs 40000 bytes, \d+ are free/);
      return true;
    });
    assert.ok(fs.readFileSync(f).every((b) => b === 7));
    assert.equal(fs.statSync(f).size, 40_000);
    assert.deepEqual(fs.readdirSync(fsys.dir), ['prompts.safetensors']);
    fsys.remount('256k');
    writeFileAtomic(f, bytes(40_000, 8));
    assert.ok(fs.readFileSync(f).every((b) => b === 8));
  } finally {
    fsys.unmount();
  }
});
