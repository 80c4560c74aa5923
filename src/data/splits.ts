import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError, fileError } from '../util/errors.js';
import { writeJsonAtomic } from '../util/fs.js';
import type { Datum, SplitEntry, SplitLists } from './types.js';
import { readJsonFile } from '../util/parse.js';

/** The top-level key that marks a split we generated (never an official CoOp split). */
export const GENERATED_MARKER_KEY = 'mpl_generated_split';

export interface GeneratedMarker {
  /** Always the same sentence, so that anyone opening the file sees it. */
  note: string;
  dataset: string;
  seed: number;
  rule: string;
  created: string;
}

export interface SplitFile extends SplitLists<SplitEntry> {
  /** The file it was read from. */
  file: string;
  /** Present when the file is one of ours, not an official split. */
  generated?: GeneratedMarker;
}

export interface ReadSplitOptions {
  /** Accept a file without "val" (custom lists); official split files always have it. */
  allowMissingVal?: boolean;
  /** Require every val/test label to occur in train (default true; off for few-shot caches). */
  requireLabelsInTrain?: boolean;
}

const SETS = ['train', 'val', 'test'] as const;

function describe(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}

/**
 * Reads a split file in CoOp's `split_zhou_*.json` format:
 * `{"train": [[relpath, label, classname], ...], "val": [...], "test": [...]}`.
 *
 * Checked, each with an error that names the file and the entry: valid JSON; each list present and an
 * array; each entry a [non-empty string, non-negative integer, string] triple; one class name per label
 * across all lists; every val/test label also present in train (the class list comes from train); train
 * not empty. Image files are not checked here (see `checkImageFiles`).
 */
export function readSplitFile(file: string, options: ReadSplitOptions = {}): SplitFile {
  // linear in its size; at most 256 MiB and 64 levels (src/util/parse.ts)
  return parseSplit(readJsonFile(file, 'split file'), file, options);
}

/** Validates an already-parsed split object (see `readSplitFile`); `file` is used in messages. */
export function parseSplit(json: unknown, file: string, options: ReadSplitOptions = {}): SplitFile {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw fileError(file, 'expected a JSON object {"train": [...], "val": [...], "test": [...]}');
  }
  const obj = json as Record<string, unknown>;
  const lists: Partial<SplitLists<SplitEntry>> = {};
  for (const set of SETS) {
    const raw = obj[set];
    if (raw === undefined) {
      if (set === 'val' && options.allowMissingVal) {
        lists.val = [];
        continue;
      }
      throw fileError(file, `missing the "${set}" list (expected {"train": [...], "val": [...], "test": [...]})`);
    }
    if (!Array.isArray(raw)) throw fileError(file, `"${set}" must be a list of [relative_path, label, classname]`);
    const out: SplitEntry[] = new Array(raw.length);
    for (let i = 0; i < raw.length; i++) {
      const e = raw[i];
      if (
        !Array.isArray(e) ||
        e.length !== 3 ||
        typeof e[0] !== 'string' ||
        e[0].length === 0 ||
        typeof e[1] !== 'number' ||
        !Number.isInteger(e[1]) ||
        e[1] < 0 ||
        typeof e[2] !== 'string'
      ) {
        throw fileError(
          file,
          `${set}[${i}] must be [relative_path, label, classname] with a non-negative integer label; got ${describe(e)}`,
        );
      }
      out[i] = { relpath: e[0], label: e[1], classname: e[2] };
    }
    lists[set] = out;
  }
  const split = lists as SplitLists<SplitEntry>;
  if (split.train.length === 0) throw fileError(file, '"train" is empty');

  // One class name per label, everywhere in the file.
  const names = new Map<number, { name: string; where: string }>();
  for (const set of SETS) {
    split[set].forEach((e, i) => {
      const seen = names.get(e.label);
      if (seen === undefined) {
        if (set !== 'train' && options.requireLabelsInTrain !== false) {
          throw fileError(file, `${set}[${i}] has label ${e.label} ("${e.classname}"), which does not occur in "train"`);
        }
        names.set(e.label, { name: e.classname, where: `${set}[${i}]` });
      } else if (seen.name !== e.classname) {
        throw fileError(
          file,
          `label ${e.label} has two class names: "${seen.name}" (${seen.where}) and "${e.classname}" (${set}[${i}])`,
        );
      }
    });
  }
  const result: SplitFile = { file, ...split };
  const marker = obj[GENERATED_MARKER_KEY];
  if (marker && typeof marker === 'object') result.generated = marker as GeneratedMarker;
  return result;
}

/**
 * Joins split entries to the image folder, giving Dassl `Datum`s with absolute paths (path.resolve's). A plain
 * relative path (no '.' or '..' segment, no empty one, not absolute) is joined by concatenation: the same
 * string, without path.resolve's per-call work, which took seconds for ImageNet's 1.28M entries.
 */
export function toData(entries: readonly SplitEntry[], imageDir: string): Datum[] {
  const base = path.resolve(imageDir);
  const prefix = base.endsWith(path.sep) ? base : base + path.sep;
  const plain = (rel: string) =>
    path.sep === '/' && rel.length > 0 && rel[0] !== '/' && rel[0] !== '.' && !rel.includes('/.') && !rel.includes('//') && !rel.endsWith('/');
  return entries.map((e) => ({ impath: plain(e.relpath) ? prefix + e.relpath : path.resolve(base, e.relpath), label: e.label, classname: e.classname }));
}

/**
 * Checks that every image of the split exists under `imageDir` (Dassl's `Datum` asserts the same).
 * The error names the split file, the first missing entry and how many are missing in all.
 */
export function checkImageFiles(split: SplitLists<SplitEntry>, imageDir: string, sourceName: string): void {
  let first: string | undefined;
  let missing = 0;
  for (const set of SETS) {
    split[set].forEach((e, i) => {
      const p = path.resolve(imageDir, e.relpath);
      if (!isFile(p)) {
        missing++;
        if (first === undefined) first = `${set}[${i}] "${e.relpath}" (looked for ${p})`;
      }
    });
  }
  if (missing > 0) {
    const total = split.train.length + split.val.length + split.test.length;
    throw fileError(
      sourceName,
      `image file not found for ${first}` +
        (missing > 1 ? `; ${missing} of ${total} images are missing` : '') +
        `. Is the image folder ${imageDir} complete?`,
    );
  }
}

export function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Writes a split in the official format, with the "generated" marker when given. */
export function writeSplitFile(file: string, split: SplitLists<SplitEntry>, marker?: GeneratedMarker): void {
  const enc = (list: SplitEntry[]) => list.map((e) => [e.relpath, e.label, e.classname]);
  const out: Record<string, unknown> = {};
  if (marker) out[GENERATED_MARKER_KEY] = marker;
  out.train = enc(split.train);
  out.val = enc(split.val);
  out.test = enc(split.test);
  writeJsonAtomic(file, out);
}

/**
 * A fingerprint of the train/val lists (paths, labels, names, in order). Few-shot caches record it so a
 * cache made from a different split (e.g. a generated one) is not silently reused.
 */
export function listsFingerprint(train: readonly SplitEntry[], val: readonly SplitEntry[]): string {
  const h = crypto.createHash('sha256');
  for (const [tag, list] of [['T', train], ['V', val]] as const) {
    // the same bytes as one update per entry, fed 4,096 entries at a time (1.28M updates took seconds)
    for (let i = 0; i < list.length; i += 4096) {
      let chunk = '';
      for (const e of list.slice(i, i + 4096)) chunk += `${tag}\u0000${e.relpath}\u0000${e.label}\u0000${e.classname}\n`;
      h.update(chunk);
    }
  }
  return h.digest('hex');
}

/** Throws a UserError if `names` (class names by label) has holes: labels must be 0..n-1. */
export function classnamesByLabel(entries: readonly { label: number; classname: string }[], source: string): string[] {
  const map = new Map<number, string>();
  for (const e of entries) map.set(e.label, e.classname);
  const labels = [...map.keys()].sort((a, b) => a - b);
  return labels.map((l, i) => {
    if (l !== i) throw new UserError(`${source}: labels must be 0..${labels.length - 1} without gaps; label ${i} is missing`);
    return map.get(l)!;
  });
}
