/**
 * Extracting downloaded archives (tar, optionally gzip; zip) into a folder, refusing what a published dataset
 * archive never holds: absolute paths, `..`, links out of the tree, symbolic links in zips. Used by the
 * dataset downloader (src/data/download.ts); the zip *reader* for weights files is ./zip.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import * as yauzl from 'yauzl';
import { UserError } from '../util/errors.js';
import type { Reporter } from '../util/reporter.js';

/**
 * Why an archive entry name is unsafe, or undefined. Entries are rejected (not silently skipped) when
 * they are absolute or climb out with `..`: such an archive is broken or malicious.
 */
export function unsafeEntryReason(name: string): string | undefined {
  const n = name.replace(/\\/g, '/');
  if (n.startsWith('/') || /^[a-zA-Z]:/.test(n)) return 'absolute path';
  if (n.split('/').includes('..')) return "path climbs out of the archive folder ('..')";
  if (n.includes('\0')) return 'NUL byte in the name';
  return undefined;
}

/** Extracts a tar (optionally gzip) or zip archive into `dest`, rejecting unsafe entries. */
export async function extractArchive(archive: string, kind: 'tar' | 'zip', dest: string, reporter: Reporter, label: string): Promise<void> {
  fs.mkdirSync(dest, { recursive: true });
  if (kind === 'zip') return extractZip(archive, dest, reporter, label);
  return extractTar(archive, dest, reporter, label);
}

async function extractTar(archive: string, dest: string, reporter: Reporter, label: string): Promise<void> {
  const total = fs.statSync(archive).size;
  const progress = reporter.progress(label, total, 'bytes');
  const rejected: string[] = [];
  let read = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      read += chunk.length;
      progress.update(read);
      cb(null, chunk);
    },
  });
  const unpack = tar.x({
    cwd: dest,
    // Warnings (a truncated or corrupt archive, odd entry types) are errors: datasets are plain tars.
    strict: true,
    // Running as root would otherwise restore the archive's uid/gid.
    preserveOwner: false,
    filter: (entryPath, entry) => {
      const reason = unsafeEntryReason(entryPath);
      if (reason) {
        rejected.push(`'${entryPath}' (${reason})`);
        return false;
      }
      const e = entry as tar.ReadEntry;
      if ((e.type === 'SymbolicLink' || e.type === 'Link') && e.linkpath) {
        // A link may only point inside the archive's own tree.
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(entryPath), e.linkpath));
        if (e.linkpath.startsWith('/') || target.startsWith('../') || target === '..') {
          rejected.push(`'${entryPath}' (link to ${e.linkpath} outside the archive)`);
          return false;
        }
      }
      return true;
    },
  });
  try {
    // tar's Unpack is written to with pipe() (it is not a Node stream that pipeline() can wait on); it
    // emits 'close' once every entry is on disk.
    await new Promise<void>((resolve, reject) => {
      const input = fs.createReadStream(archive, { highWaterMark: 1 << 20 });
      input.on('error', reject);
      counter.on('error', reject);
      unpack.on('error', reject);
      unpack.on('close', () => resolve());
      input.pipe(counter).pipe(unpack);
    });
  } catch (err) {
    throw new UserError(`${archive}: cannot extract: ${(err as Error).message}. Delete the file and run again.`);
  } finally {
    progress.stop();
  }
  if (rejected.length) {
    throw new UserError(
      `${archive}: unsafe archive entries rejected: ${rejected.slice(0, 3).join(', ')}${rejected.length > 3 ? ` and ${rejected.length - 3} more` : ''}. Nothing from it was placed; the archive is not the published one.`,
    );
  }
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    // decodeStrings false: we check names ourselves and say which entry was bad and why.
    yauzl.open(file, { lazyEntries: true, decodeStrings: false, autoClose: true }, (err, zip) => (err || !zip ? reject(err) : resolve(zip))),
  );
}

async function extractZip(archive: string, dest: string, reporter: Reporter, label: string): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(archive);
  } catch (err) {
    throw new UserError(`${archive}: not a readable zip file (${(err as Error).message}). Delete it and run again.`);
  }
  const progress = reporter.progress(label, zip.entryCount, 'files');
  let done = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => {
        zip.close();
        reject(err);
      };
      zip.on('error', fail);
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        const raw = (entry as unknown as { fileNameRaw: Buffer }).fileNameRaw;
        // Bit 11: the name is UTF-8; otherwise CP437, which equals latin1 for the ASCII names datasets use.
        const name = raw.toString(entry.generalPurposeBitFlag & 0x800 ? 'utf8' : 'latin1');
        const reason = unsafeEntryReason(name);
        if (reason) {
          fail(new UserError(`${archive}: unsafe archive entry '${name}' rejected (${reason}). Nothing from it was placed; the archive is not the published one.`));
          return;
        }
        const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
        if (mode === 0o120000) {
          fail(new UserError(`${archive}: entry '${name}' is a symbolic link; refused. Nothing from it was placed.`));
          return;
        }
        const next = (): void => {
          progress.update(++done);
          zip.readEntry();
        };
        const rel = name.replace(/\\/g, '/');
        if (rel.startsWith('__MACOSX/')) return next(); // macOS resource forks: not data
        const target = path.join(dest, ...rel.split('/').filter(Boolean));
        if (rel.endsWith('/')) {
          fs.mkdirSync(target, { recursive: true });
          return next();
        }
        fs.mkdirSync(path.dirname(target), { recursive: true });
        zip.openReadStream(entry, (err, stream) => {
          if (err || !stream) return fail(err ?? new Error('no stream'));
          pipeline(stream, fs.createWriteStream(target)).then(next, fail);
        });
      });
      zip.readEntry();
    });
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${archive}: cannot extract: ${(err as Error).message}. Delete the file and run again.`);
  } finally {
    progress.stop();
  }
}
