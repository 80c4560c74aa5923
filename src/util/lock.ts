/**
 * Locks between processes: a run folder's (two `mpl` processes never train into the same folder at once:
 * their logs would interleave and each would overwrite the other's checkpoints), and a sweep's (one
 * `mpl sweep submit` at a time). The owner's pid, host, start time and command line are recorded; a live
 * lock makes the second process stop with a one-line error naming the first. A lock whose process is gone
 * (kill -9, a crash, a reboot) is stale and is taken over, by exactly one of the processes that find it so.
 *
 * How exactly one wins: the lock is a FOLDER, `<name>` (e.g. `mpl.lock/`), holding one file,
 * `owner-<pid>-<random>.json`. It is taken by renaming a complete folder of one's own onto `<name>`, which
 * the kernel does atomically and only when `<name>` is absent or an EMPTY folder; a held lock is never
 * empty. A stale lock is taken over by deleting its owner file BY ITS UNIQUE NAME (deleting nothing when
 * someone else has meanwhile taken the lock: theirs has another name) and then renaming: of several processes
 * that found the same stale lock, one rename succeeds and the others fail (the folder is no longer empty)
 * and see the winner. A lock written by earlier versions (a plain `mpl.lock` file) is read the same way and
 * deleted when stale (`unlink` cannot delete the folder that may have replaced it). Node has no flock(2);
 * proper-lockfile reclaims stale locks with rmdir + mkdir, which lets two processes both win (its issue #121).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { printable, UserError } from './errors.js';
import { removeOrphanTemps } from './fs.js';

export const LOCK_FILE = 'mpl.lock';

/** What a lock records about its owner. */
export interface LockOwner {
  pid: number;
  host: string;
  /** ISO time the lock was taken */
  started: string;
  command: string;
  /** the owner's start time in clock ticks after boot (/proc/<pid>/stat, field 22): tells a reused pid apart */
  proc_start?: string;
}

export interface RunLock extends Disposable {
  readonly file: string;
  release(): void;
}

/** True when a process with this pid exists (EPERM: it exists but belongs to someone else). */
function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A process's start time in clock ticks after boot, from /proc (Linux); undefined elsewhere or when gone. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) is in parentheses and may hold spaces: count fields after its closing one
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * Whether the owner of a lock is still running: on another host it cannot be checked and counts as running;
 * here its pid must exist and, when the lock recorded it, have the same start time (a pid reused by another
 * process after a reboot or a long time does not keep a dead run's lock).
 */
export function ownerAlive(o: LockOwner): boolean {
  return o.host !== os.hostname() || processAlive(o.pid, o.proc_start);
}

/** Whether the process `pid` of this host exists and, when `start` is known, is the one that started then. */
export function processAlive(pid: number, start?: string): boolean {
  if (!pidExists(pid)) return false;
  const now = start === undefined ? undefined : processStart(pid);
  return now === undefined || now === start;
}

function parseOwner(text: string): LockOwner | null {
  try {
    const v = JSON.parse(text) as Partial<LockOwner>;
    if (!Number.isSafeInteger(v.pid) || (v.pid as number) <= 0 || typeof v.host !== 'string') return null;
    return { pid: v.pid!, host: v.host, started: String(v.started ?? '?'), command: String(v.command ?? '?'), proc_start: typeof v.proc_start === 'string' ? v.proc_start : undefined };
  } catch {
    return null;
  }
}

const OWNER = /^owner-[0-9]+-[0-9a-f]+\.json$/;

/** The lock as found: a folder with its owner file (`owner` null when unreadable), a file of an earlier version, or nothing. */
type Found = { kind: 'none' } | { kind: 'folder'; name: string | null; owner: LockOwner | null } | { kind: 'legacy'; owner: LockOwner | null };

function inspect(lock: string): Found {
  let names: string[];
  try {
    names = fs.readdirSync(lock);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'none' };
    if (code !== 'ENOTDIR') throw e;
    try {
      return { kind: 'legacy', owner: parseOwner(fs.readFileSync(lock, 'utf8')) };
    } catch (e2) {
      const code2 = (e2 as NodeJS.ErrnoException).code;
      if (code2 === 'ENOENT') return { kind: 'none' };
      if (code2 === 'EISDIR') return inspect(lock); // an earlier lock file was just taken over as a folder: read that
      throw e2;
    }
  }
  const name = names.find((n) => OWNER.test(n)) ?? null;
  if (name === null) return { kind: 'folder', name: names.length ? names[0] : null, owner: null };
  try {
    return { kind: 'folder', name, owner: parseOwner(fs.readFileSync(path.join(lock, name), 'utf8')) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'folder', name: null, owner: null }; // released meanwhile
    throw e;
  }
}

/** Who holds `lock` now, when a live process does (for status displays); null when it is free or stale. */
export function liveLockOwner(lock: string): LockOwner | null {
  let found: Found;
  try {
    found = inspect(lock);
  } catch {
    return null;
  }
  return found.kind !== 'none' && found.owner && ownerAlive(found.owner) ? found.owner : null;
}

/** "pid 123 on host, started 2025-...: mpl base2new ..." with control characters escaped. */
export function describeOwner(o: LockOwner): string {
  return printable(`pid ${o.pid} on ${o.host}, started ${o.started}: ${o.command}`);
}

/** Lock files this process holds (a second acquisition in the same process is a mistake, not a stale lock). */
const held = new Set<string>();

const RETRIES = 200;

/**
 * Takes the lock `lock` (a path whose folder exists) or throws `refuse(owner)` when a live process holds it.
 * Released by `release()`, by `using`, and on process exit at the latest.
 */
export function acquireLock(lock: string, refuse: (owner: LockOwner | null) => UserError): RunLock {
  const key = path.resolve(lock);
  if (held.has(key)) throw refuse({ pid: process.pid, host: os.hostname(), started: '(this process)', command: process.argv.slice(1).join(' ') });
  const nonce = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const ownerName = `owner-${nonce}.json`;
  const me: LockOwner = { pid: process.pid, host: os.hostname(), started: new Date().toISOString(), command: process.argv.slice(1).join(' '), proc_start: processStart(process.pid) };
  const staging = path.join(path.dirname(lock), `.${path.basename(lock)}.${nonce}.tmp`);
  fs.mkdirSync(staging);
  try {
    fs.writeFileSync(path.join(staging, ownerName), JSON.stringify(me) + '\n');
    for (let attempt = 0; ; attempt++) {
      try {
        fs.renameSync(staging, lock);
        break; // ours: the folder we renamed is the lock
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR' && code !== 'EISDIR') throw e;
      }
      // Someone's lock is there (or was, a moment ago).
      const found = inspect(lock);
      if (attempt >= RETRIES) throw refuse(found.kind === 'none' ? null : found.owner);
      if (found.kind === 'none') continue; // released meanwhile
      if (found.owner && ownerAlive(found.owner) && !(found.owner.pid === process.pid && found.owner.host === me.host)) throw refuse(found.owner);
      // Stale (its process is gone, or it is this process's own, left unreleased), unreadable or being released.
      if (found.kind === 'legacy') {
        try {
          fs.unlinkSync(lock); // never removes a folder: a lock taken meanwhile stays
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'ENOENT' && code !== 'EISDIR' && code !== 'EPERM') throw e;
        }
      } else if (found.name !== null) {
        // by its own name only: if someone took the lock meanwhile, their owner file has another name
        fs.rmSync(path.join(lock, found.name), { force: true, recursive: found.owner === null && !OWNER.test(found.name) });
      }
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true }); // the loser's folder; gone after a successful rename
  }
  held.add(key);
  let holding = true;
  const release = () => {
    if (!holding) return;
    holding = false;
    held.delete(key);
    process.removeListener('exit', release);
    // Only our own owner file (never one a later run took over), then the folder if it is empty.
    fs.rmSync(path.join(lock, ownerName), { force: true });
    try {
      fs.rmdirSync(lock);
    } catch {
      // taken by someone else meanwhile (not empty), or already gone
    }
  };
  process.on('exit', release);
  return { file: lock, release, [Symbol.dispose]: release };
}

/**
 * Takes the lock of the run folder `dir` (which must exist) or throws a UserError naming the run that holds it.
 * Holding it, it removes what a killed run left half-written there (writeFileAtomic's temporary files).
 */
export function lockRunFolder(dir: string): RunLock {
  const file = path.join(dir, LOCK_FILE);
  const lock = acquireLock(file, (owner) =>
    new UserError(
      printable(
        `${dir}: this run folder is in use by another mpl run (${owner ? describeOwner(owner) : 'a process that just took it'}). ` +
          `Wait for it to finish, or stop it; if it is not running any more, delete ${file}`,
      ),
    ),
  );
  removeOrphanTemps(dir, (pid) => pid === process.pid || pidExists(pid));
  return lock;
}
