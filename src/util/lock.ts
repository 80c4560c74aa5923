/**
 * A lock file per run folder, so that two `mpl` processes never train into the same folder at once (their
 * logs would interleave and each would overwrite the other's checkpoints). The file holds the owner's pid,
 * host, start time and command line; it is created complete in one step (written to a temporary name, then
 * hard-linked into place, which fails if the lock exists). A lock whose process is gone (kill -9, a crash,
 * a reboot) is stale and is taken over; a live one makes the second run stop with a one-line error naming
 * the first. Released when the run ends, and on process exit (Ctrl-C) at the latest.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError } from './errors.js';

export const LOCK_FILE = 'mpl.lock';

interface LockInfo {
  pid: number;
  host: string;
  started: string;
  command: string;
}

export interface RunLock extends Disposable {
  readonly file: string;
  release(): void;
}

/** True when a process with this pid exists (EPERM: it exists but belongs to someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(file: string): LockInfo | null {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LockInfo>;
    return Number.isSafeInteger(v.pid) && (v.pid as number) > 0 && typeof v.host === 'string' ? (v as LockInfo) : null;
  } catch {
    return null;
  }
}

/** Takes the lock of `dir` (which must exist) or throws a UserError naming the run that holds it. */
export function lockRunFolder(dir: string): RunLock {
  const file = path.join(dir, LOCK_FILE);
  const info: LockInfo = { pid: process.pid, host: os.hostname(), started: new Date().toISOString(), command: process.argv.slice(1).join(' ') };
  const tmp = path.join(dir, `.${LOCK_FILE}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(info) + '\n');
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(tmp, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const other = readLock(file);
      // Another host's pid cannot be checked from here: its lock counts as live.
      const live = other !== null && (other.host !== info.host || (other.pid !== process.pid && alive(other.pid)));
      if (live || attempt > 0) {
        const who = other ? `pid ${other.pid} on ${other.host}, started ${other.started}: ${other.command}` : 'a process that just took it';
        throw new UserError(
          `${dir}: this run folder is in use by another mpl run (${who}). Wait for it to finish, or stop it; if it is not running any more, delete ${file}`,
        );
      }
      // Stale: its process is gone (or it is our own, left by a run that did not release it). Take it over.
      fs.rmSync(file, { force: true });
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    process.removeListener('exit', release);
    // Only our own lock: never delete one a later run took over.
    if (readLock(file)?.pid === process.pid) fs.rmSync(file, { force: true });
  };
  process.on('exit', release);
  return { file, release, [Symbol.dispose]: release };
}
