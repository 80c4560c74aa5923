/**
 * A sweep on a real SLURM (a one-node cluster started for the test, slurm-cluster.ts): 2 methods × 2 seeds
 * submitted as one job array, one task cancelled with scancel in the middle of its training, the others
 * finishing, the sweep submitted again, and the cancelled run resuming from its checkpoint rather than
 * starting over; then `mpl table` aggregates all four. The sweep's output folder is named with everything a
 * shell or sbatch would interpret (quotes, $(...), #, %, spaces): the job script must hold it as data.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensorsHeader } from '../../src/io/safetensors.js';
import { tmpDir } from '../helpers.js';
import { mplCli, ok } from '../e2e/fixtures.js';
import { colourSweep } from './fixtures.js';
import { startSlurm, type SlurmCluster } from './slurm-cluster.js';

const work = tmpDir('mpl-sweep-slurm-');
const sweepFile = path.join(work, 'sweep.yaml');
const OUT = `runs 'q' $(touch ${work}/PWNED) #c %d`;
const runs = path.join(work, OUT);
// enough epochs that a poll every 50 ms finds the run between its first checkpoint and its end
const EPOCHS = 60;
let cluster: SlurmCluster;

const mpl = (args: string[]) => mplCli(args, cluster.env);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Row = { run_dir: string; method: string; seed: number; state: string; detail: string };
const status = (): Row[] => JSON.parse(ok(mpl(['sweep', 'status', sweepFile, '--json']), 'sweep status'));

/** The epoch of a run's checkpoint (0 before the first). */
function epochOf(runDir: string): number {
  try {
    return Number(readSafetensorsHeader(path.join(runDir, 'checkpoint.safetensors')).metadata.epoch ?? 0);
  } catch {
    return 0; // not written yet (or being renamed into place)
  }
}

async function until<T>(what: string, seconds: number, probe: () => T | undefined | false, everyMs = 100): Promise<T> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

before(async () => {
  cluster = await startSlurm();
  await colourSweep(work, EPOCHS, OUT);
});

after(async () => {
  await cluster?.stop();
});

test('SLURM sweep: job array, scancel mid-training, resubmission resumes, table aggregates', async () => {
  const plan: Row[] = JSON.parse(ok(mpl(['sweep', 'plan', sweepFile, '--json']), 'plan'));
  assert.equal(plan.length, 4);
  const first = mpl(['sweep', 'submit', sweepFile, '--executor', 'slurm', '--cpus-per-task', '1']);
  ok(first, 'submit');
  const job = /submitted job array (\d+) with 4 tasks/.exec(first.stderr)?.[1];
  assert.ok(job, first.stderr);
  const script = fs.readdirSync(path.join(runs, '.sweeps', 'sweep')).find((f) => f.endsWith('.sh'));
  assert.match(fs.readFileSync(path.join(runs, '.sweeps', 'sweep', script!), 'utf8'), /#SBATCH --array="0-3"/);

  // cancel task 0 once it has a checkpoint but is still training
  const victim = plan[0].run_dir;
  const reached = await until('task 0 to checkpoint an epoch', 90, () => {
    const e = epochOf(victim);
    return e >= 1 && e < EPOCHS - 5 ? e : undefined;
  }, 50);
  const cancel = spawnSync('scancel', [`${job}_0`], { env: { ...process.env, ...cluster.env }, encoding: 'utf8' });
  assert.equal(cancel.status, 0, cancel.stderr);
  const rows = await until('the other tasks to finish and task 0 to end', 120, () => {
    const s = status();
    return s.every((r) => r.state === 'done' || r.state === 'failed') ? s : undefined;
  });
  assert.equal(rows[0].state, 'failed', `${rows[0].detail}`);
  assert.match(rows[0].detail, new RegExp(`job ${job}_0 cancelled( \\(exit [^)]*\\))? after epoch \\d+/${EPOCHS}`));
  for (const r of rows.slice(1)) assert.equal(r.state, 'done', `${r.run_dir}: ${r.detail}`);
  const stoppedAt = epochOf(victim);
  assert.ok(stoppedAt >= reached && stoppedAt < EPOCHS, `cancelled at epoch ${stoppedAt}`);
  assert.ok(!fs.existsSync(path.join(victim, 'result.json')));
  assert.ok(fs.existsSync(path.join(victim, `slurm-${job}_0.log`)), 'the task log is in the run folder');

  // submitted again: only the unfinished run, which resumes after its last checkpoint
  const second = mpl(['sweep', 'submit', sweepFile, '--executor', 'slurm']);
  ok(second, 'resubmit');
  const job2 = /submitted job array (\d+) with 1 task\b/.exec(second.stderr)?.[1];
  assert.ok(job2, second.stderr);
  await until('the resubmitted run to finish', 120, () => status().every((r) => r.state === 'done'));
  const log = fs.readFileSync(path.join(victim, 'log.txt'), 'utf8');
  assert.match(log, new RegExp(`resume after epoch ${stoppedAt}\\b`));
  assert.equal(log.match(/ epoch 1 /g)?.length, 1, 'epoch 1 was trained once: resumed, not restarted');
  assert.equal(log.match(new RegExp(` epoch ${EPOCHS} `, 'g'))?.length, 1);
  assert.ok(fs.existsSync(path.join(victim, `slurm-${job2}_0.log`)));

  // SLURM wrote the array's own output where the directive named it (sbatch read the quoted folder as one path)
  assert.ok(fs.readdirSync(path.join(runs, '.sweeps', 'sweep')).some((f) => new RegExp(`^slurm-${job}_\\d+\\.out$`).test(f)), 'slurm-<job>_<task>.out in the state folder');
  assert.deepEqual(fs.readdirSync(work).filter((f) => f.startsWith('PWNED')), [], 'nothing from the folder name was executed');

  const table = JSON.parse(ok(mpl(['table', runs, '--json']), 'table'));
  assert.deepEqual(Object.keys(table.base2new), ['coop', 'mpl']);
  for (const m of ['coop', 'mpl']) assert.equal(table.base2new[m].colours.n_seeds, 2);
  const again = mpl(['sweep', 'submit', sweepFile, '--executor', 'slurm']);
  ok(again, 'nothing left');
  assert.match(again.stderr, /nothing to submit \(4 runs: 4 done/);
});
