import * as fs from 'node:fs';
import * as path from 'node:path';
import { extractArchive } from '../io/archive.js';
import { DownloadError, downloadFile, hashFile } from '../net/download.js';
import { UserError } from '../util/errors.js';
import { silentReporter, type Reporter } from '../util/reporter.js';
import { DATASETS, normalizeDatasetName } from './datasets/index.js';
import type { DatasetDownload, DatasetFile, Take } from './datasets/sources.js';

/**
 * `mpl data download`: fetches the benchmark datasets that have stable public archives, checks them
 * (md5 from the publishers / torchvision, sha256 for the split files) and lays them out as CoOp's
 * DATASETS.md does (spec §3.1), so the dataset readers and the official PyTorch code find them under
 * the same `--root`. Datasets without a stable archive (ImageNet and its variants, StanfordCars, SUN397,
 * UCF101) get the exact manual steps instead.
 *
 * What to fetch is data each dataset's definition holds (src/data/datasets/, `download`); tests pass their
 * own entries pointing at a local server.
 */

export type { DatasetDownload, DatasetFile, ManualStep, Take } from './datasets/sources.js';

/** What the downloader needs of a dataset: its names, its folder under `--root` and its download spec. */
export interface DatasetEntry extends DatasetDownload {
  /** CoOp's DATASET.NAME (`EuroSAT`, `DescribableTextures`, …). */
  name: string;
  /** Other names accepted on the command line (matched ignoring case and punctuation). */
  aliases: string[];
  /** Folder under `--root`, as in spec §3.1. */
  dir: string;
}

/** The default catalogue: every registered dataset that has a download spec (src/data/datasets/). */
export const CATALOGUE: readonly DatasetEntry[] = DATASETS.flatMap((d) =>
  d.download && d.dirName ? [{ name: d.displayName, aliases: [d.name, ...d.aliases], dir: d.dirName, ...d.download }] : [],
);

export function findDataset(name: string, catalogue: readonly DatasetEntry[] = CATALOGUE): DatasetEntry {
  const k = normalizeDatasetName(name);
  const entry = catalogue.find((d) => [d.name, d.dir, ...d.aliases].some((a) => normalizeDatasetName(a) === k));
  if (!entry) {
    throw new UserError(`unknown dataset '${name}': run 'mpl data download --list' for the supported names`);
  }
  return entry;
}

export type DownloadMode = 'automatic' | 'partly manual' | 'manual';

export interface DatasetListing {
  name: string;
  dir: string;
  mode: DownloadMode;
  homepage: string;
}

/** What `--list` shows: every dataset and whether it downloads by itself. */
export function listDatasets(catalogue: readonly DatasetEntry[] = CATALOGUE): DatasetListing[] {
  return catalogue.map((d) => ({
    name: d.name,
    dir: d.dir,
    mode: d.files.length === 0 ? 'manual' : d.manual?.length ? 'partly manual' : 'automatic',
    homepage: d.homepage,
  }));
}

export interface DataDownloadOptions {
  /** `--root`: the folder holding one folder per dataset ($DATA in CoOp's docs). */
  root: string;
  reporter?: Reporter;
  catalogue?: readonly DatasetEntry[];
  /** Keep the downloaded archives (in `<root>/.mpl-downloads/`) after extraction. */
  keepArchives?: boolean;
  /** Passed to the downloader. */
  retries?: number;
  retryDelayMs?: number;
  timeoutMs?: number;
}

export interface DataDownloadResult {
  name: string;
  /** The dataset folder. */
  dir: string;
  /** Every expected path is there. */
  complete: boolean;
  /** Files fetched (and extracted) by this call. */
  downloaded: string[];
  /** Files already in place, left alone. */
  skipped: string[];
  /** Manual steps still to do, one string per line. Empty when complete. */
  manual: string[];
}

/**
 * Downloads one dataset into `<root>/<dir>`. Idempotent: what is already in place is skipped. Archives
 * are extracted into a temporary folder under the root and then moved into place, so a dataset folder
 * never holds half an archive; the downloads themselves resume (see downloadFile).
 */
export async function downloadDataset(name: string, options: DataDownloadOptions): Promise<DataDownloadResult> {
  const reporter = options.reporter ?? silentReporter;
  const entry = findDataset(name, options.catalogue);
  const root = path.resolve(options.root);
  const dir = path.join(root, entry.dir);
  const result: DataDownloadResult = { name: entry.name, dir, complete: false, downloaded: [], skipped: [], manual: [] };

  if (isComplete(entry, dir)) {
    reporter.info(`${entry.name}: already present in ${dir}; nothing to download`);
    result.complete = true;
    result.skipped = entry.files.map((f) => f.file);
    return result;
  }

  const downloads = path.join(root, '.mpl-downloads', entry.dir);
  try {
    for (const file of entry.files) {
      if (isFilePresent(file, dir)) {
        reporter.info(`${entry.name}: ${file.file} already in place; skipped`);
        result.skipped.push(file.file);
        continue;
      }
      const local = path.join(downloads, file.file);
      if (fs.existsSync(local)) {
        // A download of ours is renamed there only after verification, but the offline message also tells
        // users to put the file there by hand: check it against the published digest before extracting.
        await verifyPlaced(entry, file, local, reporter);
        reporter.info(`${entry.name}: using ${local} (checked against its published digest)`);
      } else {
        await fetchWithMirrors(entry, file, local, path.join(dir, file.to ?? file.file), reporter, options);
      }
      if (file.kind === 'file') {
        moveInto(local, path.join(dir, file.to ?? file.file));
      } else {
        await extractAndPlace(entry, file, local, root, dir, reporter);
        if (!options.keepArchives) fs.rmSync(local, { force: true });
      }
      result.downloaded.push(file.file);
    }
  } finally {
    // Leave no empty bookkeeping folders behind (a .part file of an interrupted download stays).
    removeIfEmpty(downloads);
    removeIfEmpty(path.dirname(downloads));
  }

  for (const step of entry.manual ?? []) {
    if (step.path === undefined ? !isComplete(entry, dir) : !fs.existsSync(path.join(dir, step.path))) {
      result.manual.push(...step.steps(dir, root));
    }
  }
  result.complete = isComplete(entry, dir);
  if (result.complete) reporter.info(`${entry.name}: ready in ${dir}`);
  return result;
}

/** The manual steps for a dataset, whatever is present (for docs and --list details). */
export function manualSteps(entry: DatasetEntry, root: string): string[] {
  const dir = path.join(path.resolve(root), entry.dir);
  return (entry.manual ?? []).flatMap((s) => s.steps(dir, path.resolve(root)));
}

function isComplete(entry: DatasetEntry, dir: string): boolean {
  return entry.expect.every((p) => fs.existsSync(path.join(dir, p)));
}

/** A file counts as present when everything it would put in place is there. */
function isFilePresent(file: DatasetFile, dir: string): boolean {
  if (file.kind === 'file') return fs.existsSync(path.join(dir, file.to ?? file.file));
  const targets = requiredTargets(file.take ?? []);
  return targets.length > 0 && targets.every((t) => fs.existsSync(path.join(dir, t)));
}

function requiredTargets(takes: Take[]): string[] {
  return takes.flatMap((t) => {
    if (t.optional) return [];
    if (t.extract) return requiredTargets(t.extract.take);
    // A merge into the dataset folder cannot be checked by name; the dataset's `expect` covers it.
    return t.to && t.to !== '.' ? [t.to] : [];
  });
}

async function fetchWithMirrors(
  entry: DatasetEntry,
  file: DatasetFile,
  local: string,
  placed: string,
  reporter: Reporter,
  options: DataDownloadOptions,
): Promise<void> {
  const failures: string[] = [];
  for (const url of file.urls) {
    reporter.info(`${entry.name}: downloading ${url}`);
    try {
      await downloadFile({
        url,
        dest: local,
        md5: file.md5,
        sha256: file.sha256,
        expectedSize: file.size,
        reporter,
        label: `${entry.name} ${file.file}`,
        retries: options.retries,
        retryDelayMs: options.retryDelayMs,
        timeoutMs: options.timeoutMs,
      });
      return;
    } catch (err) {
      // A checksum or size mismatch is not a reason to try the next mirror silently: it is reported.
      if (!(err instanceof DownloadError) || err.kind === 'checksum' || err.kind === 'size') throw err;
      failures.push(err.message);
      if (file.urls.length > 1) reporter.warn(err.message);
    }
  }
  const lines = failures.length > 1 ? ` Tried ${failures.length} mirrors: ${failures.join(' | ')}` : ` ${failures[0]}`;
  // A plain file goes straight to its final place; an archive where this command looks for it before extracting.
  const where = file.kind === 'file' ? placed : local;
  const digest = file.sha256 ? `sha256 ${file.sha256}` : file.md5 ? `md5 ${file.md5}` : undefined;
  throw new UserError(
    `${entry.name}: could not download ${file.file}.${lines} You can fetch it yourself from ${file.urls[0]}${digest ? ` (${digest})` : ''}, put it at ${where} and run the command again.`,
  );
}

/** Checks a file found at the download location against the catalogue's size and digests. */
async function verifyPlaced(entry: DatasetEntry, file: DatasetFile, local: string, reporter: Reporter): Promise<void> {
  const size = fs.statSync(local).size;
  const bad = (what: string) =>
    new UserError(`${local}: ${what}, so it is not the published ${file.file} (placed by hand, or damaged since). Delete it and run the command again (or place the right file there).`);
  if (file.size !== undefined && size !== file.size) throw bad(`it has ${size} bytes, expected ${file.size}`);
  reporter.info(`${entry.name}: checking ${local}`);
  for (const algorithm of ['sha256', 'md5'] as const) {
    const want = file[algorithm];
    if (!want) continue;
    const got = await hashFile(local, algorithm);
    if (got !== want.toLowerCase()) throw bad(`its ${algorithm} is ${got}, expected ${want}`);
  }
}

/** Extracts into a temporary folder under the root, applies the takes, and always removes the temporary folder. */
async function extractAndPlace(
  entry: DatasetEntry,
  file: DatasetFile,
  archive: string,
  root: string,
  dir: string,
  reporter: Reporter,
): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(root, `.mpl-tmp-${entry.dir}-`));
  try {
    reporter.info(`${entry.name}: extracting ${file.file}`);
    await extractArchive(archive, file.kind as 'tar' | 'zip', tmp, reporter, `${entry.name} extract ${file.file}`);
    await applyTakes(file.take ?? [], tmp, dir, file.file, reporter, entry.name);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function applyTakes(takes: Take[], tree: string, dir: string, archiveName: string, reporter: Reporter, label: string): Promise<void> {
  for (const take of takes) {
    const src = locate(tree, take.from);
    if (!src) {
      if (take.optional) continue;
      throw new UserError(
        `${archiveName}: '${take.from}' is not inside the archive; the published archive may have changed layout. Please report this, with the archive's listing.`,
      );
    }
    if (take.extract) {
      const nested = take.extract;
      const name = path.basename(src);
      if (nested.md5 && (await hashFile(src, 'md5')) !== nested.md5) {
        throw new UserError(`${archiveName}: the nested archive ${name} has the wrong md5 (expected ${nested.md5}); the download was kept, delete it and run again`);
      }
      if (nested.sha256 && (await hashFile(src, 'sha256')) !== nested.sha256) {
        throw new UserError(`${archiveName}: the nested archive ${name} has the wrong sha256 (expected ${nested.sha256})`);
      }
      const inner = fs.mkdtempSync(path.join(tree, '.nested-'));
      reporter.info(`${label}: extracting ${name}`);
      await extractArchive(src, nested.kind, inner, reporter, `${label} extract ${name}`);
      await applyTakes(nested.take, inner, dir, name, reporter, label);
      continue;
    }
    const to = take.to ?? path.posix.basename(take.from);
    if (to === '.') {
      for (const child of fs.readdirSync(src)) moveInto(path.join(src, child), path.join(dir, child));
    } else {
      moveInto(src, path.join(dir, to));
    }
  }
}

/** `from` at that exact path, else the shallowest path ending in `/from` (up to 4 levels down). */
function locate(tree: string, from: string): string | undefined {
  const exact = path.join(tree, ...from.split('/'));
  if (fs.existsSync(exact)) return exact;
  let level = [tree];
  for (let depth = 0; depth < 4 && level.length; depth++) {
    const next: string[] = [];
    for (const d of level) {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (!e.isDirectory() || e.name === '__MACOSX') continue;
        const candidate = path.join(d, e.name, ...from.split('/'));
        if (fs.existsSync(candidate)) return candidate;
        next.push(path.join(d, e.name));
      }
    }
    level = next;
  }
  return undefined;
}

/** Moves a file or folder into place; an existing destination is kept (it is already there). */
function moveInto(src: string, dest: string): void {
  if (fs.existsSync(dest)) return;
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  try {
    fs.renameSync(src, dest);
  } catch (err) {
    // The dataset folder may be a symbolic link to another disk (CoOp suggests that): copy, then delete.
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    const tmp = `${dest}.mpl-partial`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.cpSync(src, tmp, { recursive: true });
    fs.renameSync(tmp, dest);
    fs.rmSync(src, { recursive: true, force: true });
  }
}

function removeIfEmpty(dir: string): void {
  try {
    if (fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
  } catch {
    // missing: nothing to do
  }
}
