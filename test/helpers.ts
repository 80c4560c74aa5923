import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { materializeShared } from './shared-fixtures.js';

/** The repository root (tests run from dist/test/**). */
export const repoRoot = findRoot(__dirname);
export const fixturesDir = path.join(repoRoot, 'test', 'fixtures');
/**
 * The reference files (golden vectors, real split files, official few-shot subsets and configs), laid out as
 * the project's ../shared folder: made from the repository's test/fixtures/shared (test/shared-fixtures.ts)
 * under .cache/test-fixtures/, so the tests need nothing beside the checkout. $MPL_SHARED_DIR points them at
 * another folder of that layout instead (read-only), e.g. the original ../shared.
 */
export const sharedDir = process.env.MPL_SHARED_DIR
  ? path.resolve(process.env.MPL_SHARED_DIR)
  : materializeShared(path.join(fixturesDir, 'shared'), path.join(repoRoot, '.cache', 'test-fixtures'));
export const goldenDir = path.join(sharedDir, 'golden');

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

/**
 * A tmpfs of `size` (e.g. '64k') mounted at a fresh folder, for full-disk tests; needs root (CI runs the tests
 * as root). Unmounted by `unmount()` or, failing that, when the process exits.
 */
export function mountTmpfs(size: string): { dir: string; remount(size: string): void; unmount(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpl-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  let mounted = true;
  const unmount = () => {
    if (mounted) execFileSync('umount', [dir]);
    mounted = false;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', () => {
    try {
      unmount();
    } catch {
      // best effort: the test has already failed
    }
  });
  return { dir, remount: (s) => execFileSync('mount', ['-o', `remount,size=${s}`, dir]), unmount };
}

/** Runs the `mpl` binary (one intra-op thread, 3 minutes at most); stdout and stderr as text. */
export function runMpl(args: string[], options: { cwd?: string; env?: Record<string, string>; input?: string } = {}) {
  return spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'mpl.js'), ...args], {
    cwd: options.cwd ?? repoRoot,
    encoding: 'utf8',
    env: { ...process.env, MPL_NUM_THREADS: '1', ...options.env },
    input: options.input,
    timeout: 180_000,
  });
}

/** Asserts a run of `mpl` succeeded (naming it, with its stderr); returns its stdout. */
export function mplOk(r: ReturnType<typeof runMpl>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (${r.status}, ${r.signal}): ${r.stderr}`);
  return r.stdout;
}
