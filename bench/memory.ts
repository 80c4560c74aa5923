/**
 * Memory for the benchmarks: each side's peak resident memory, and a hard cap on both, so a baseline that
 * needs more memory than the machine has (the official code at 1,000 classes needs about 30 GiB) is reported
 * as "did not fit in N GiB" instead of taking the machine's memory from every other process.
 *
 * The cap is an address-space limit (RLIMIT_AS) set to the process's address space now plus the resident
 * memory it may still add: an allocation past it fails (libtorch: "can't allocate memory"), which each side
 * turns into a did-not-fit report. Reserved-but-untouched address space counts against it, so the cap is
 * conservative (a side may be refused a little before its resident memory reaches the limit, never after).
 * A watchdog also reads the baseline's resident memory every 100 ms and ends it past the limit (GPU runs,
 * where an address-space limit would break CUDA, rely on it alone). Both sides also set their OOM-killer score
 * to the maximum, so that if the machine runs out of memory regardless, the kernel ends the benchmark first. Linux only (/proc); elsewhere the peaks
 * come from the kernel's maxrss and no cap is set.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const GiB = 2 ** 30;

/** Fields of /proc/<pid>/status in bytes (VmSize, VmRSS, VmHWM), or null where there is no /proc. */
export function procStatus(pid: number | 'self' = 'self'): { size: number; rss: number; hwm: number } | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
      return m ? Number(m[1]) * 1024 : NaN;
    };
    const s = { size: kb('VmSize'), rss: kb('VmRSS'), hwm: kb('VmHWM') };
    return Number.isFinite(s.rss) ? s : null;
  } catch {
    return null;
  }
}

/** This process's resident high-water mark in bytes (since the last resetPeakRss). */
export function peakRss(): number {
  return procStatus()?.hwm ?? process.resourceUsage().maxRSS * 1024;
}

/** Resets the resident high-water mark to the current resident size (Linux clear_refs 5); false where it cannot. */
export function resetPeakRss(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** The memory the kernel says can be given to new work now (MemAvailable), or the free memory. */
export function availableMemory(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return os.freemem();
}

/** The default cap: 80% of the memory available when the benchmark starts (each side runs on its own). */
export function defaultMemoryLimit(): number {
  return Math.floor(0.8 * availableMemory());
}

/** "12.0 GiB" */
export function gib(bytes: number): string {
  return `${(bytes / GiB).toFixed(1)} GiB`;
}

/**
 * Caps this process's resident growth at `limitBytes` in all: the soft address-space limit becomes the
 * address space now plus (limit - resident now). Only the soft limit: a child (the Python baseline) sets its
 * own. Returns false where no cap could be set (no /proc or no prlimit).
 */
export function capSelf(limitBytes: number): boolean {
  // should the machine run out anyway, the kernel's OOM killer ends the benchmark first, not someone else's work
  try {
    fs.writeFileSync('/proc/self/oom_score_adj', '1000');
  } catch {
    // not Linux, or not allowed: the cap still holds
  }
  const s = procStatus();
  if (!s || !Number.isFinite(s.size)) return false;
  const soft = Math.floor(s.size + Math.max(0, limitBytes - s.rss));
  const r = spawnSync('prlimit', ['--pid', String(process.pid), `--as=${soft}:`], { stdio: 'ignore' });
  return r.status === 0;
}

/** Lifts this process's soft address-space limit again (to its hard limit). */
export function uncapSelf(): void {
  spawnSync('prlimit', ['--pid', String(process.pid), '--as=unlimited:'], { stdio: 'ignore' });
}

/** Whether an error is an allocation refused by the cap (libtorch's CPU or CUDA allocator, or V8's). */
export function isOutOfMemory(e: unknown): boolean {
  const m = e instanceof Error ? e.message : String(e);
  return /can't allocate memory|not enough memory|out of memory|std::bad_alloc|Cannot allocate memory|Array buffer allocation failed/i.test(m);
}

export interface CappedRun {
  /** the last JSON line the script printed (it prints one even when a phase did not fit) */
  json: Record<string, unknown> | null;
  /** the watchdog ended it past the limit */
  killedOverLimit: boolean;
  /** the highest resident size the watchdog saw */
  peakSeen: number;
  status: number | null;
  stderr: string;
}

/**
 * Runs `python script args` with the memory cap: MPL_BENCH_MEMORY_LIMIT tells the script its limit (it sets
 * its own address-space limit after importing torch), and a watchdog ends it if its resident size passes
 * `limitBytes` anyway. Never throws for a failing script: the caller reads `status` and `json`.
 */
export function runPythonCapped(python: string, script: string, args: string[], limitBytes: number, timeoutMs: number): Promise<CappedRun> {
  return new Promise((resolve) => {
    const child = spawn(python, [script, ...args], {
      env: { ...process.env, MPL_BENCH_MEMORY_LIMIT: String(limitBytes) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killedOverLimit = false;
    let peakSeen = 0;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
    const watch = setInterval(() => {
      const s = child.pid ? procStatus(child.pid) : null;
      if (!s) return;
      peakSeen = Math.max(peakSeen, s.rss);
      if (s.rss > limitBytes) {
        killedOverLimit = true;
        child.kill('SIGKILL');
      }
    }, 100);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (status) => {
      clearInterval(watch);
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop() ?? '';
      let json: Record<string, unknown> | null = null;
      try {
        json = line ? (JSON.parse(line) as Record<string, unknown>) : null;
      } catch {
        json = null;
      }
      resolve({ json, killedOverLimit, peakSeen, status, stderr });
    });
  });
}

/** bench/python/<name> */
export function pythonScript(benchDir: string, name: string): string {
  return path.join(benchDir, 'python', name);
}
