/** Shared helpers for the benchmarks: timing, and running the plain-PyTorch baselines in bench/python/. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Device, PrecisionName } from '../src/torch/index.js';

export { relativeL2 } from '../src/util/numeric.js';

/** Where a benchmark computes: a resolved device and precision (the CLI resolves --device / --precision). */
export interface BenchTarget {
  target?: { device: Device; precision: PrecisionName; deviceName: string };
}

/** The interpreter of the PyTorch baselines: $MPL_BENCH_PYTHON, else Debian's /usr/bin/python3 (python3-torch). */
export const PYTHON = process.env.MPL_BENCH_PYTHON ?? '/usr/bin/python3';

export function benchDir(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return path.join(dir, 'bench');
}

/** True when the baseline interpreter can import torch. */
export function torchAvailable(): boolean {
  if (!fs.existsSync(PYTHON)) return false;
  return spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

/** Runs bench/python/<script> with args and parses the last JSON line it prints. */
export function runPython(script: string, args: string[], timeoutMs = 30 * 60 * 1000): Record<string, number | string> {
  const r = spawnSync(PYTHON, [path.join(benchDir(), 'python', script), ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr || r.error}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as Record<string, number | string>;
}

/**
 * Milliseconds of the fastest of `reps` calls of fn, after `warmup` calls. On a shared machine the fastest
 * run is the estimate least disturbed by other load; the PyTorch baselines use the same statistic.
 */
export function timeMs(fn: () => void, reps: number, warmup = 2): number {
  for (let i = 0; i < warmup; i++) fn();
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return best;
}
