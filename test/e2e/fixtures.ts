/** What the end-to-end tests share: the `mpl` binary as a child process and a generated image folder. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { repoRoot } from '../helpers.js';

/** Runs `mpl ARGS` (bin/mpl.js of this checkout) with one thread; `env` adds variables. */
export function mplCli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'mpl.js'), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, MPL_NUM_THREADS: '1', ...env },
    timeout: 120_000,
  });
}

/**
 * The environment that makes an `mpl` child process (and the runs it starts) die like `kill -9` right after
 * epoch `epoch`'s checkpoint: a preloaded test seam (test/seams/kill-after-epoch.ts), nothing in the tool.
 */
export function killAfterEpoch(epoch: number): Record<string, string> {
  const seam = pathToFileURL(path.join(repoRoot, 'dist', 'test', 'seams', 'kill-after-epoch.js')).href;
  return { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${seam}`.trim(), MPL_TEST_KILL_AFTER_EPOCH: String(epoch) };
}

/**
 * The environment that makes `mpl search` die like `kill -9` inside the trial after the first `trials` ones,
 * right after its first epoch's checkpoint: a preloaded test seam (test/seams/kill-after-trials.ts).
 */
export function killAfterTrials(trials: number): Record<string, string> {
  const seam = pathToFileURL(path.join(repoRoot, 'dist', 'test', 'seams', 'kill-after-trials.js')).href;
  return { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${seam}`.trim(), MPL_TEST_KILL_AFTER_TRIALS: String(trials) };
}

/** The output of a command that must succeed (the assertion shows its stderr). */
export function ok(r: ReturnType<typeof mplCli>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (${r.status}, ${r.signal}): ${r.stderr}`);
  return r.stdout;
}

/** One sub-folder per class, 10 distinctly coloured 40x40 PNGs each (an imagefolder dataset). */
export async function makeImageFolder(root: string, classes: string[]): Promise<void> {
  const colours = [[200, 30, 30], [30, 200, 30], [30, 30, 200], [220, 220, 30]];
  for (let c = 0; c < classes.length; c++) {
    fs.mkdirSync(path.join(root, classes[c]), { recursive: true });
    for (let i = 0; i < 10; i++) {
      const px = Buffer.alloc(40 * 40 * 3);
      for (let p = 0; p < 1600; p++) {
        px[p * 3] = Math.min(255, colours[c % 4][0] + ((p * 7 + i * 13) % 40));
        px[p * 3 + 1] = Math.min(255, colours[c % 4][1] + ((p * 3 + i) % 30));
        px[p * 3 + 2] = colours[c % 4][2];
      }
      await sharp(px, { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(path.join(root, classes[c], `${i}.png`));
    }
  }
}
