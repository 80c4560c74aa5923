/**
 * Cheap checks of image files before any training starts: each file exists, is not empty and begins with
 * the signature of an image format the decoder reads. A full decode happens later, per batch; this only
 * catches, in seconds, what would otherwise stop a run hours in (a truncated copy, an HTML error page saved
 * as .jpg, a missing file).
 */
import * as fs from 'node:fs';
import { dataAccessWatched, reportDataAccess } from './access.js';
import type { Datum } from './types.js';

const SIGNATURES: Array<[string, (b: Buffer) => boolean]> = [
  ['JPEG', (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff],
  ['PNG', (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))],
  ['GIF', (b) => b.subarray(0, 4).toString('latin1') === 'GIF8'],
  ['WebP', (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP'],
  ['TIFF', (b) => (b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a)],
  ['BMP', (b) => b[0] === 0x42 && b[1] === 0x4d],
];

/** What is wrong with an image file at a glance, or null when its header looks like an image. */
export function imageHeaderProblem(file: string): string | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'no such file' : `cannot open (${code ?? (e as Error).message})`;
  }
  try {
    const head = Buffer.alloc(16);
    const n = fs.readSync(fd, head, 0, 16, 0);
    if (n === 0) return 'empty file';
    if (!SIGNATURES.some(([, is]) => is(head.subarray(0, n)))) return 'not an image (unknown header)';
    return null;
  } catch (e) {
    return `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  } finally {
    fs.closeSync(fd);
  }
}

export interface BadImage {
  file: string;
  problem: string;
}

/** The files of `items` whose header is not an image's (each file checked once per call). */
export function checkImageHeaders(items: readonly Datum[]): BadImage[] {
  const bad: BadImage[] = [];
  const seen = new Set<string>();
  if (dataAccessWatched()) reportDataAccess({ kind: 'images', paths: [...new Set(items.map((d) => d.impath))] });
  for (const d of items) {
    if (seen.has(d.impath)) continue;
    seen.add(d.impath);
    const problem = imageHeaderProblem(d.impath);
    if (problem) bad.push({ file: d.impath, problem });
  }
  return bad;
}
