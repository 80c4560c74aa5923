/**
 * Extracting downloaded archives (tar, optionally gzip; zip) into a folder, refusing what a published dataset
 * archive never holds: absolute paths, `..`, links out of the tree, symbolic links in zips, and more bytes or
 * files than its size allows (a checksum that matches proves the archive is the one published, not that it
 * is safe: a 1 MB zip can hold 1 GiB of zeros). Used by the dataset downloader (src/data/download.ts); the
 * zip *reader* for weights files is ./zip.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import * as yauzl from 'yauzl';
import { printable, UserError } from '../util/errors.js';
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

/** What an extraction may write at most; over either is a one-line error before the disk fills. */
export interface ExtractLimits {
  /** bytes of file content */
  maxBytes: number;
  /** entries (files, folders, links) */
  maxEntries: number;
}

/**
 * How much a dataset archive may expand: image datasets are JPEG/PNG files, which do not compress, so their
 * archives expand about 1×; annotations (text, .mat) a few times, and they are small. The default cap is
 * EXPANSION × the archive's size + SLACK bytes, and never more than the destination's free space (less a
 * reserve); at most MAX_ENTRIES entries (SUN397, the largest dataset downloaded, has 108,754 images).
 */
export const EXPANSION = 8;
export const SLACK = 256 << 20;
export const MAX_ENTRIES = 1_000_000;
const RESERVE = 64 << 20;

const mib = (n: number) => `${(n / (1 << 20)).toFixed(1)} MiB`;

/** The default limits for extracting `archive` into `dest`, and why the byte limit is what it is. */
export function extractLimits(archive: string, dest: string): ExtractLimits & { why: string } {
  const size = fs.statSync(archive).size;
  const byRatio = EXPANSION * size + SLACK;
  let free = Infinity;
  try {
    const st = fs.statfsSync(dest);
    free = Math.max(0, st.bavail * st.bsize - RESERVE);
  } catch {
    // a file system that cannot say: the ratio alone
  }
  return byRatio <= free
    ? { maxBytes: byRatio, maxEntries: MAX_ENTRIES, why: `${EXPANSION} × its ${mib(size)} + ${mib(SLACK)}: not a dataset archive (a decompression bomb?)` }
    : { maxBytes: free, maxEntries: MAX_ENTRIES, why: `the ${mib(free)} free on ${dest} (less a ${mib(RESERVE)} reserve): free some space, then run again` };
}

/** The error for an archive over a limit: nothing from it is kept (the caller removes the folder). */
function overLimit(archive: string, what: string, limits: ExtractLimits & { why?: string }): UserError {
  return new UserError(printable(`${archive}: ${what}; refused before extracting more. Nothing from it was placed; delete the file and run again`));
}

/**
 * Extracts a tar (optionally gzip) or zip archive into `dest`, rejecting unsafe entries and stopping at the
 * limits (default: `extractLimits`) with a one-line error.
 */
export async function extractArchive(archive: string, kind: 'tar' | 'zip', dest: string, reporter: Reporter, label: string, limits?: ExtractLimits): Promise<void> {
  fs.mkdirSync(dest, { recursive: true });
  const l = limits ? { ...limits, why: 'the limit given' } : extractLimits(archive, dest);
  if (kind === 'zip') return extractZip(archive, dest, reporter, label, l);
  return extractTar(archive, dest, reporter, label, l);
}

async function extractTar(archive: string, dest: string, reporter: Reporter, label: string, limits: ExtractLimits & { why: string }): Promise<void> {
  const total = fs.statSync(archive).size;
  const progress = reporter.progress(label, total, 'bytes');
  const rejected: string[] = [];
  let read = 0;
  let entries = 0;
  let bytes = 0;
  // set in the filter, which sees each entry's header (and size) before any of its bytes are written
  let stop: UserError | undefined;
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
      if (stop) return false;
      entries++;
      bytes += (entry as tar.ReadEntry).size ?? 0;
      if (entries > limits.maxEntries || bytes > limits.maxBytes) {
        stop = overLimit(
          archive,
          entries > limits.maxEntries ? `it holds more than ${limits.maxEntries} entries` : `extracting it would write more than ${limits.maxBytes} bytes (${limits.why})`,
          limits,
        );
        unpack.abort(stop);
        return false;
      }
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
    if (stop) throw stop;
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
    // decodeStrings false: we check names ourselves and say which entry was bad and why. autoClose false: the
    // entries are listed (and checked against the limits) first, then extracted.
    yauzl.open(file, { lazyEntries: true, decodeStrings: false, autoClose: false, validateEntrySizes: true }, (err, zip) => (err || !zip ? reject(err) : resolve(zip))),
  );
}

/** Every entry of the zip's central directory, with its decoded name; checked, nothing written. */
function listZip(zip: yauzl.ZipFile, archive: string, limits: ExtractLimits & { why: string }): Promise<Array<{ entry: yauzl.Entry; name: string }>> {
  return new Promise((resolve, reject) => {
    const all: Array<{ entry: yauzl.Entry; name: string }> = [];
    let bytes = 0;
    zip.on('error', reject);
    zip.on('end', () => resolve(all));
    zip.on('entry', (entry: yauzl.Entry) => {
      const raw = (entry as unknown as { fileNameRaw: Buffer }).fileNameRaw;
      // Bit 11: the name is UTF-8; otherwise CP437, which equals latin1 for the ASCII names datasets use.
      const name = raw.toString(entry.generalPurposeBitFlag & 0x800 ? 'utf8' : 'latin1');
      const reason = unsafeEntryReason(name);
      if (reason) return reject(new UserError(printable(`${archive}: unsafe archive entry '${name}' rejected (${reason}). Nothing from it was placed; the archive is not the published one.`)));
      const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
      if (mode === 0o120000) return reject(new UserError(printable(`${archive}: entry '${name}' is a symbolic link; refused. Nothing from it was placed.`)));
      bytes += entry.uncompressedSize;
      // the sizes are declared in the central directory; yauzl refuses an entry that inflates beyond its own
      if (bytes > limits.maxBytes) return reject(overLimit(archive, `extracting it would write more than ${limits.maxBytes} bytes (${limits.why})`, limits));
      all.push({ entry, name });
      zip.readEntry();
    });
    if (zip.entryCount > limits.maxEntries) return reject(overLimit(archive, `it holds ${zip.entryCount} entries, more than ${limits.maxEntries}`, limits));
    zip.readEntry();
  });
}

async function extractZip(archive: string, dest: string, reporter: Reporter, label: string, limits: ExtractLimits & { why: string }): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(archive);
  } catch (err) {
    throw new UserError(`${archive}: not a readable zip file (${(err as Error).message}). Delete it and run again.`);
  }
  const progress = reporter.progress(label, zip.entryCount, 'files');
  let done = 0;
  try {
    const entries = await listZip(zip, archive, limits);
    for (const { entry, name } of entries) {
      progress.update(++done);
      const rel = name.replace(/\\/g, '/');
      if (rel.startsWith('__MACOSX/')) continue; // macOS resource forks: not data
      const target = path.join(dest, ...rel.split('/').filter(Boolean));
      if (rel.endsWith('/')) {
        fs.mkdirSync(target, { recursive: true });
        continue;
      }
      fs.mkdirSync(path.dirname(target), { recursive: true });
      const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) => zip.openReadStream(entry, (err, s) => (err || !s ? reject(err ?? new Error('no stream')) : resolve(s))));
      await pipeline(stream, fs.createWriteStream(target));
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${archive}: cannot extract: ${(err as Error).message}. Delete the file and run again.`);
  } finally {
    zip.close();
    progress.stop();
  }
}
