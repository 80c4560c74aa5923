/**
 * Concurrent use of one sweep (issue 22, item 4), with the real `mpl` binary and the local executor:
 * two `mpl sweep submit` of the same sweep started together — one runs every run once, the other refuses
 * naming it (no false "1 of 4 failed", no lost update of local.json, no run started twice, one writer per
 * log); and a sweep whose parent is killed (kill -9) leaves no run untracked — `mpl sweep status` shows the
 * orphaned child running and the one killed with it as failed after its epoch, and the next `mpl sweep submit`
 * leaves the running one alone, resumes the failed one and runs the rest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensorsHeader } from '../../src/io/safetensors.js';
import { repoRoot, tmpDir } from '../helpers.js';
import { mplCli as mpl, ok } from '../e2e/fixtures.js';
import { colourSweep } from './fixtures.js';

type Row = { run_dir: string; method: string; seed: number; state: string; detail: string };
const bin = path.join(repoRoot, 'bin', 'mpl.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const status = (file: string): Row[] => JSON.parse(ok(mpl(['sweep', 'status', file, '--json']), 'sweep status'));
const localRecords = (work: string): Record<string, { pid: number; ended_at?: string; exit_code?: number }> => {
  try {
    return JSON.parse(fs.readFileSync(path.join(work, 'runs', '.sweeps', 'sweep', 'local.json'), 'utf8')).runs;
  } catch {
    return {};
  }
};
const epochOf = (runDir: string): number => {
  try {
    return Number(readSafetensorsHeader(path.join(runDir, 'checkpoint.safetensors')).metadata.epoch ?? 0);
  } catch {
    return 0;
  }
};
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** `mpl sweep submit FILE ARGS` as a child process; resolves with its exit code and stderr. */
function submit(file: string, args: string[] = []): { child: ChildProcess; done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [bin, 'sweep', 'submit', file, '--executor', 'local', ...args], { cwd: repoRoot, env: { ...process.env, MPL_NUM_THREADS: '1' } });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.resume();
  return { child, done: new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr }))) };
}

async function until<T>(what: string, seconds: number, probe: () => T | undefined | false | 0): Promise<T> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await sleep(100);
  }
}

test('two `mpl sweep submit` of the same sweep at once: one runs each run once, the other refuses naming it', async () => {
  const work = tmpDir('mpl-sweep-twice-');
  const file = await colourSweep(work, 2);
  const [a, b] = [submit(file, ['--parallel', '2']), submit(file, ['--parallel', '2'])];
  const results = await Promise.all([a.done, b.done]);
  const winner = results.findIndex((r) => r.code === 0);
  assert.ok(winner >= 0, results.map((r) => r.stderr).join('\n---\n'));
  const loser = results[1 - winner];
  const winnerPid = [a, b][winner].child.pid;
  assert.equal(loser.code, 1, loser.stderr);
  const lines = loser.stderr.trim().split('\n');
  assert.equal(lines.length, 1, loser.stderr);
  assert.match(lines[0], new RegExp(`^mpl: ${file}: this sweep is being run by another mpl process \\(pid ${winnerPid} on .*sweep submit .*\\); .*follow it with \`mpl sweep status ${file}\``));
  assert.match(results[winner].stderr, /running 4 runs locally/);
  assert.doesNotMatch(results[winner].stderr, /failed/i);
  // every run done, recorded once with its end (no lost update), started once (one start line in its log)
  const records = localRecords(work);
  assert.equal(Object.keys(records).length, 4);
  for (const r of status(file)) {
    assert.equal(r.state, 'done', `${r.run_dir}: ${r.detail}`);
    assert.equal(records[r.run_dir]?.exit_code, 0, r.run_dir);
    const starts = fs.readFileSync(path.join(r.run_dir, 'sweep.log'), 'utf8').match(/^\d{4}-\d\d-\d\dT\S+ mpl /gm) ?? [];
    assert.equal(starts.length, 1, `${r.run_dir}/sweep.log: one writer, one start`);
  }
  assert.ok(!fs.existsSync(path.join(work, 'runs', '.sweeps', 'sweep', 'sweep.lock')), 'the sweep lock is released');
});

test('a sweep whose parent is killed: status shows each child\'s true state, the next submit resumes what is not running', async () => {
  const work = tmpDir('mpl-sweep-orphans-');
  const EPOCHS = 60; // long enough that neither first run ends before status is read (an epoch of the tiny model takes ~0.1 s)
  const LONG = 100; // MPL seed 2 trains longer: it is the orphan still running when the sweep is submitted again
  const file = await colourSweep(work, EPOCHS);
  fs.appendFileSync(file, `overrides:\n  - { when: { method: mpl, seed: 2 }, set: { epochs: ${LONG} } }\n`);
  const plan: Row[] = JSON.parse(ok(mpl(['sweep', 'plan', file, '--json']), 'plan'));
  const longDir = plan.find((r) => r.method === 'mpl' && r.seed === 2)!.run_dir;
  const first = submit(file, ['--parallel', '2']);
  const orphans: number[] = [];
  try {
    // both first runs started and past their first checkpoint
    const started = await until('two runs to checkpoint an epoch', 120, () => {
      const recs = Object.entries(localRecords(work));
      return recs.length === 2 && recs.every(([dir]) => epochOf(dir) >= 1) ? recs : undefined;
    });
    first.child.kill('SIGKILL');
    const { code } = await first.done;
    assert.equal(code, null, 'the parent was killed');
    orphans.push(...started.map(([, r]) => r.pid));
    // as if the parent had died between starting the long run and recording it: local.json forgets it
    const stateFile = path.join(work, 'runs', '.sweeps', 'sweep', 'local.json');
    const kept = localRecords(work);
    delete kept[longDir];
    fs.writeFileSync(stateFile, JSON.stringify({ runs: kept }));
    let rows = status(file);
    const byDir = new Map(rows.map((r) => [r.run_dir, r]));
    for (const [dir, rec] of started) {
      assert.equal(byDir.get(dir)!.state, 'running', `${dir}: ${byDir.get(dir)!.detail}`);
      // the untracked one is found by its run folder's lock
      assert.match(byDir.get(dir)!.detail, new RegExp(`^pid ${rec.pid}${dir === longDir ? ' \\(holds the run folder\\)' : ''}, epoch \\d+/${dir === longDir ? LONG : EPOCHS}`));
    }
    assert.deepEqual(rows.filter((r) => !started.some(([d]) => d === r.run_dir)).map((r) => r.state), ['pending', 'pending']);

    // one orphan dies too (kill -9): failed, after the epoch its checkpoint reached
    const [victimDir, victim] = started.find(([d]) => d !== longDir)!;
    process.kill(victim.pid, 'SIGKILL');
    await until('the killed run to end', 30, () => !alive(victim.pid));
    const reached = epochOf(victimDir);
    rows = status(file);
    const v = rows.find((r) => r.run_dir === victimDir)!;
    assert.equal(v.state, 'failed');
    assert.match(v.detail, new RegExp(`^pid ${victim.pid} was interrupted after epoch ${reached}/${EPOCHS}`));
    const [orphanDir, orphan] = started.find(([d]) => d === longDir)!;
    assert.ok(alive(orphan.pid), `the other orphan still trains (epoch ${epochOf(orphanDir)}, result: ${fs.existsSync(path.join(orphanDir, 'result.json'))})`);

    // the next submission: takes over the dead parent's lock, leaves the running orphan alone, resumes the killed run
    const again = await submit(file, ['--parallel', '2']).done;
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`1 run is already running \\(pid ${orphan.pid} \\(holds the run folder\\), epoch \\d+/${LONG}\\): not started again`));
    assert.match(again.stderr, /running 3 runs locally/);
    assert.match(fs.readFileSync(path.join(victimDir, 'log.txt'), 'utf8'), new RegExp(`resume after epoch ${reached}\\b`));
    await until('the orphan to finish', 400, () => !alive(orphan.pid));
    for (const r of status(file)) assert.equal(r.state, 'done', `${r.run_dir}: ${r.detail}`);
    const orphanLog = fs.readFileSync(path.join(orphanDir, 'log.txt'), 'utf8');
    assert.equal(orphanLog.match(/ epoch 1 /g)?.length, 1, 'the orphan was not started a second time');
  } finally {
    first.child.kill('SIGKILL');
    for (const pid of orphans) if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
});
