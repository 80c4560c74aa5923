import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The repository root (tests run from dist/test/**). */
export const repoRoot = findRoot(__dirname);
/** ../shared beside the checkout (or $MPL_SHARED_DIR): golden vectors, real split files (read-only). */
export const sharedDir = process.env.MPL_SHARED_DIR ? path.resolve(process.env.MPL_SHARED_DIR) : path.resolve(repoRoot, '..', 'shared');
export const goldenDir = path.join(sharedDir, 'golden');
export const fixturesDir = path.join(repoRoot, 'test', 'fixtures');

function findRoot(start: string): string {
  let dir = start;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + start);
    dir = up;
  }
  return dir;
}

/** A fresh temporary folder, removed when the process exits. */
export function tmpDir(prefix = 'mpl-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
