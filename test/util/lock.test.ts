/**
 * Locks between processes (src/util/lock.ts), issue 22 item 2: when a run folder's lock is stale, several
 * processes started together take it over and EXACTLY ONE wins, every time (at least 100 trials, 4 processes
 * each, against a stale lock of this version and of earlier versions); the losers name the winner; a live
 * owner's command is printed escaped; a pid reused by another process does not keep a dead run's lock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LOCK_FILE, liveLockOwner, lockRunFolder, processStart } from '../../src/util/lock.js';
import { UserError } from '../../src/util/errors.js';
import { tmpDir } from '../helpers.js';

const work = tmpDir('mpl-lock-');
const TRIALS = 100;
const PROCESSES = 4;

/** The pid of a process that has ended. */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '0']).pid!;

/** A stale lock: this version's folder, or an earlier version's plain file, owned by a process that is gone. */
function staleLock(dir: string, legacy: boolean, pid = deadPid()): void {
  const owner = JSON.stringify({ pid, host: os.hostname(), started: '2025-01-01T00:00:00.000Z', command: 'mpl base2new (killed)' });
  const lock = path.join(dir, LOCK_FILE);
  if (legacy) fs.writeFileSync(lock, owner);
  else {
    fs.mkdirSync(lock);
    fs.writeFileSync(path.join(lock, `owner-${pid}-0123abcd.json`), owner);
  }
}

type Answer = { won: boolean; message?: string; pid: number; skew: number };

test(`stale-lock takeover: ${TRIALS} trials of ${PROCESSES} processes started together, exactly one winner each`, async (t) => {
  const contender = path.join(__dirname, 'lock-contender.js');
  const children: ChildProcess[] = Array.from({ length: PROCESSES }, () => fork(contender, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const ask = <T>(c: ChildProcess, m: object | string) => new Promise<T>((resolve) => {
    c.once('message', (a) => resolve(a as T));
    c.send(m);
  });
  let notOne = 0;
  const skews: number[] = [];
  try {
    for (let trial = 0; trial < TRIALS; trial++) {
      const dir = fs.mkdtempSync(path.join(work, 'race-'));
      staleLock(dir, trial % 4 === 3); // every fourth: an earlier version's lock file
      const at = Date.now() + 40;
      const answers = await Promise.all(children.map((c) => ask<Answer>(c, { dir, at })));
      skews.push(...answers.map((a) => a.skew));
      // the winner still holds the lock: every other contender, however late, met it
      const winners = answers.filter((a) => a.won);
      if (winners.length !== 1) notOne++;
      assert.equal(winners.length, 1, `trial ${trial}: ${winners.length} winners`);
      for (const l of answers.filter((a) => !a.won)) {
        assert.match(l.message!, new RegExp(`in use by another mpl run \\(pid ${winners[0].pid} on ${os.hostname()}, started `), `trial ${trial}`);
      }
      await Promise.all(children.filter((_, i) => answers[i].won).map((c) => ask(c, 'release')));
      assert.ok(!fs.existsSync(path.join(dir, LOCK_FILE)), 'released: no lock left');
      assert.deepEqual(fs.readdirSync(dir), [], 'no staging folder left by the losers');
    }
  } finally {
    for (const c of children) c.send('exit');
  }
  skews.sort((a, b) => a - b);
  t.diagnostic(`${TRIALS} trials x ${PROCESSES} processes: ${notOne} trials without exactly one winner; start skew median ${skews[skews.length >> 1]} ms, max ${skews.at(-1)} ms`);
});

test('a live owner is named with its command escaped; a second lock in the same process is refused', async () => {
  const dir = fs.mkdtempSync(path.join(work, 'live-'));
  // a live process of this host that holds the lock, its command line holding a line break
  const holder = spawn(process.execPath, ['-e', `
    const { lockRunFolder } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'src', 'util', 'lock.js'))});
    lockRunFolder(process.argv[1]); console.log('held'); setTimeout(() => {}, 60000);`, dir, 'evil\nmpl: forged line'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
    assert.equal(liveLockOwner(path.join(dir, LOCK_FILE))?.pid, holder.pid);
    assert.throws(() => lockRunFolder(dir), (e: Error) => {
      assert.ok(e instanceof UserError);
      assert.ok(!e.message.includes('\n'), JSON.stringify(e.message));
      assert.match(e.message, new RegExp(`in use by another mpl run \\(pid ${holder.pid} on .*evil\\\\nmpl: forged line\\)`));
      return true;
    });
  } finally {
    holder.kill('SIGKILL');
  }
  await new Promise((r) => holder.once('exit', r));
  // its holder killed: stale, taken over
  using lock = lockRunFolder(dir);
  assert.throws(() => lockRunFolder(dir), /in use by another mpl run \(pid \d+ .*\(this process\)/);
  lock.release();
  assert.ok(!fs.existsSync(lock.file));
});

test('a pid reused by another process does not keep a dead run\'s lock; an unreadable lock is taken over', () => {
  const dir = fs.mkdtempSync(path.join(work, 'reused-'));
  // the lock names a live pid (this test's parent) with another start time: the process that took it is gone
  const lockDir = path.join(dir, LOCK_FILE);
  fs.mkdirSync(lockDir);
  const start = processStart(process.ppid);
  assert.ok(start, 'Linux /proc gives process start times');
  fs.writeFileSync(path.join(lockDir, `owner-${process.ppid}-00ff.json`), JSON.stringify({ pid: process.ppid, host: os.hostname(), started: 'x', command: 'old', proc_start: String(Number(start) - 1) }));
  assert.equal(liveLockOwner(lockDir), null);
  lockRunFolder(dir).release();

  const garbage = fs.mkdtempSync(path.join(work, 'garbage-'));
  fs.mkdirSync(path.join(garbage, LOCK_FILE));
  fs.writeFileSync(path.join(garbage, LOCK_FILE, 'owner-1-ab.json'), '{not json');
  lockRunFolder(garbage).release();
  assert.ok(!fs.existsSync(path.join(garbage, LOCK_FILE)));
});

test('taking a run folder\'s lock removes what a killed writer left half-written, and only that', () => {
  const dir = fs.mkdtempSync(path.join(work, 'orphans-'));
  const dead = deadPid();
  const orphan = `.checkpoint.safetensors.${dead}.1733500000000.tmp`; // writeFileAtomic's name, as kill -9 leaves it
  const staging = `.${LOCK_FILE}.${dead}-0a1b2c3d4e5f.tmp`; // a lock folder being prepared
  const live = `.result.json.${process.ppid}.1733500000000.tmp`; // a writer that is still running
  fs.writeFileSync(path.join(dir, orphan), Buffer.alloc(1000));
  fs.mkdirSync(path.join(dir, staging));
  fs.writeFileSync(path.join(dir, staging, `owner-${dead}-0a1b2c3d4e5f.json`), '{}');
  fs.writeFileSync(path.join(dir, live), 'x');
  fs.writeFileSync(path.join(dir, 'checkpoint.safetensors'), 'kept');
  fs.writeFileSync(path.join(dir, '.hidden.tmp'), 'not ours');
  lockRunFolder(dir).release();
  assert.deepEqual(fs.readdirSync(dir).sort(), [live, '.hidden.tmp', 'checkpoint.safetensors'].sort());
});
