import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileError, UserError } from './errors.js';

/** The file-system calls the atomic writer makes; tests replace `writeSync` to simulate a full disk. */
export interface WriteIo {
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number): number;
}

const realIo: WriteIo = { writeSync: (fd, buffer, offset, length) => fs.writeSync(fd, buffer, offset, length) };

/** errno codes that mean "the disk cannot take these bytes": the previous file is kept, the user frees space. */
const NO_SPACE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EIO']);

/** Opens a file for reading; a failure is a one-line error naming the file. */
export function openForReading(file: string): number {
  try {
    return fs.openSync(file, 'r');
  } catch (e) {
    throw fileError(file, `cannot open: ${(e as Error).message}`);
  }
}

/**
 * Writes a file atomically: the data goes to a temporary file in the same folder, written in full (a short
 * `write` is continued, as the kernel may accept fewer bytes than asked), flushed to disk, and only then
 * renamed over the target; the folder is flushed too, so the rename survives a crash. A reader (or a run
 * killed half-way) sees the old file or the new one, never a partial one. On a full disk or an I/O error the
 * previous file stays as it was, the temporary file is removed, and a one-line UserError names the path and
 * the bytes needed. Every checkpoint and result file in the project is written through this.
 */
export function writeFileAtomic(target: string, data: string | Uint8Array, io: WriteIo = realIo): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const dir = path.dirname(target);
  ensureDir(dir);
  const tmp = path.join(dir, `.${path.basename(target)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'w');
  } catch (e) {
    throw writeError(target, e, bytes.byteLength, 0);
  }
  let written = 0;
  try {
    while (written < bytes.byteLength) {
      const n = io.writeSync(fd, bytes, written, bytes.byteLength - written);
      // A write that makes no progress would loop forever; the only cause in practice is a full disk.
      if (!(n > 0)) throw Object.assign(new Error('write made no progress'), { code: 'ENOSPC' });
      written += n;
    }
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw writeError(target, e, bytes.byteLength, written);
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw writeError(target, e, bytes.byteLength, written);
  }
  syncDir(dir);
}

/** JSON with a trailing newline, written atomically. NaN and ±Infinity are refused (JSON would turn them into null). */
export function writeJsonAtomic(target: string, value: unknown): void {
  const text = JSON.stringify(
    value,
    (key, v) => {
      if (typeof v === 'number' && !Number.isFinite(v)) {
        throw new UserError(`${target}: refusing to write the non-finite number ${v}${key ? ` (field "${key}")` : ''}; nothing was written`);
      }
      return v;
    },
    2,
  );
  writeFileAtomic(target, text + '\n');
}

/**
 * mkdir -p with one-line errors naming the folder. Made one level at a time: Node's recursive mkdirSync
 * loops forever under /proc (it keeps retrying on ENOENT), and its errors name the deepest path only.
 */
export function ensureDir(dir: string): void {
  const abs = path.resolve(dir);
  const missing: string[] = [];
  let p = abs;
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOTDIR: a file further up the path; walking up finds it and names it
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new UserError(`${p}: cannot use this folder (${describeCode(code, e)})`);
    }
    if (st) {
      if (!st.isDirectory()) throw new UserError(`${p}: is a file, not a folder; choose another output folder`);
      break;
    }
    missing.push(p);
    const up = path.dirname(p);
    if (up === p) break;
    p = up;
  }
  for (const m of missing.reverse()) {
    try {
      fs.mkdirSync(m);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && fs.statSync(m).isDirectory()) continue; // made by a concurrent process
      throw new UserError(`${m}: cannot create this folder (${describeCode(code, e)})`);
    }
  }
}

/** Flushes a folder's entries (the rename) to disk. Not every file system supports it: then it is skipped. */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'ENOTSUP' && code !== 'EPERM') throw writeError(dir, e, 0, 0);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function freeBytes(dir: string): number | undefined {
  try {
    const s = fs.statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

function writeError(target: string, e: unknown, needed: number, written: number): Error {
  if (e instanceof UserError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code && NO_SPACE_CODES.has(code)) {
    const free = freeBytes(path.dirname(target));
    const what = code === 'EIO' ? 'an I/O error' : code === 'EDQUOT' ? 'the disk quota is exceeded' : 'no space left on the device';
    return new UserError(
      `${target}: cannot write (${what}, ${code}): it needs ${needed} bytes` +
        (free !== undefined ? `, ${free} are free` : '') +
        `, ${written} were written before it failed. The previous file is kept and nothing partial was left; free some space and run the command again (with --resume to continue a training run)`,
    );
  }
  if (code) return new UserError(`${target}: cannot write (${describeCode(code, e)})`);
  return e as Error;
}

function describeCode(code: string | undefined, e: unknown): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return `permission denied, ${code}`;
    case 'EROFS':
      return 'read-only file system, EROFS';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a folder, ENOTDIR';
    case 'ENOSPC':
      return 'no space left on the device, ENOSPC';
    default:
      return (e as Error).message;
  }
}

/** The temporary names of writeFileAtomic (`.<file>.<pid>.<ms>.tmp`) and of lock staging (`.<lock>.<pid>-<hex>.tmp`). */
const TEMP = /^\..+\.(\d+)[.-][0-9a-f]+\.tmp$/;

/**
 * Removes from `dir` the temporary files and folders whose writer is gone (`running(pid)` false): what a kill
 * -9 in the middle of an atomic write leaves (`.checkpoint.safetensors.<pid>.<ms>.tmp`, as large as a
 * checkpoint). Called by whoever has just locked the folder (nobody else writes there). Returns the names.
 */
export function removeOrphanTemps(dir: string, running: (pid: number) => boolean): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = TEMP.exec(name);
    if (!m || running(Number(m[1]))) continue;
    fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
