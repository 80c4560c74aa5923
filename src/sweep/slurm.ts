/**
 * The SLURM executor: one job array per submission, one array task per run. The script selects its run by
 * SLURM_ARRAY_TASK_ID, sends the task's output to the run's own folder and runs the same `mpl` command a
 * user would type. The runs resume by themselves (same configuration ⇒ same folder ⇒ its checkpoint), so
 * a cancelled or preempted task continues from its last epoch when the sweep is submitted again.
 * Tracking: `squeue` for queued and running tasks, then `sacct` when the cluster keeps accounting, else
 * `scontrol show job` for tasks that ended recently.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { addSlurmJob, stateDir } from './records.js';
import type { ExecutableRun } from './local.js';
import type { SlurmSettings, Sweep } from './spec.js';

/** How the job runs mpl: this node and this package's bin/mpl.js (a shared file system is assumed). */
export function defaultMplCommand(): string[] {
  return [process.execPath, path.resolve(__dirname, '..', '..', '..', 'bin', 'mpl.js')];
}

/** Single-quoted for bash: nothing inside is expanded. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The job-array script for these runs (task i runs runs[i]). */
export function jobScript(sweep: Pick<Sweep, 'out' | 'name'>, runs: ExecutableRun[], settings: SlurmSettings, mpl: string[]): string {
  const state = stateDir(sweep);
  const lines = [
    '#!/bin/bash',
    `#SBATCH --job-name=${`mpl-${sweep.name}`.replace(/[^A-Za-z0-9._-]/g, '_')}`,
    `#SBATCH --array=0-${runs.length - 1}`,
    // before the script sends its output to the run folder (e.g. a node that cannot start bash)
    `#SBATCH --output=${path.join(state, 'slurm-%A_%a.out')}`,
    `#SBATCH --cpus-per-task=${settings.cpusPerTask ?? 1}`,
  ];
  if (settings.partition) lines.push(`#SBATCH --partition=${settings.partition}`);
  if (settings.gres) lines.push(`#SBATCH --gres=${settings.gres}`);
  if (settings.mem) lines.push(`#SBATCH --mem=${settings.mem}`);
  if (settings.time) lines.push(`#SBATCH --time=${settings.time}`);
  if (settings.account) lines.push(`#SBATCH --account=${settings.account}`);
  for (const a of settings.sbatchArgs ?? []) lines.push(`#SBATCH ${a}`);
  lines.push(
    '# Written by `mpl sweep submit`: one array task per run; each run writes only its own folder.',
    'set -euo pipefail',
    'case "$SLURM_ARRAY_TASK_ID" in',
  );
  runs.forEach((r, i) => {
    lines.push(`  ${i}) RUN_DIR=${shellQuote(r.runDir)}; ARGS=(${r.argv.map(shellQuote).join(' ')}) ;;`);
  });
  lines.push(
    '  *) echo "no run for array task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;',
    'esac',
    'mkdir -p "$RUN_DIR"',
    'exec >>"$RUN_DIR/slurm-${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}.log" 2>&1',
    'echo "job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on $(hostname) at $(date -Is)"',
    'export MPL_NUM_THREADS="${MPL_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}"',
    `exec ${mpl.map(shellQuote).join(' ')} "\${ARGS[@]}"`,
    '',
  );
  return lines.join('\n');
}

function run(cmd: string, args: string[]): { ok: boolean; out: string; err: string; missing: boolean } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  const missing = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '').trim() || (r.error?.message ?? ''), missing };
}

/** Writes the script into the sweep's state folder, submits it with sbatch and records the job. */
export function submitSlurm(sweep: Pick<Sweep, 'out' | 'name'>, runs: ExecutableRun[], settings: SlurmSettings, mpl = defaultMplCommand()): string {
  const script = path.join(stateDir(sweep), `job-${new Date().toISOString().replace(/[:.]/g, '-')}.sh`);
  writeFileAtomic(script, jobScript(sweep, runs, settings, mpl));
  fs.chmodSync(script, 0o755);
  const r = run('sbatch', ['--parsable', script]);
  if (r.missing) throw new UserError('sbatch not found: run this on a SLURM login node (or use --executor local)');
  if (!r.ok) throw new UserError(`sbatch refused the job array ${script}: ${r.err.split('\n')[0]}`);
  const jobId = r.out.trim().split(';')[0];
  if (!/^\d+$/.test(jobId)) throw new UserError(`sbatch answered '${r.out.trim()}', not a job id (script ${script})`);
  addSlurmJob(sweep, { job_id: jobId, script, submitted_at: new Date().toISOString(), tasks: runs.map((x) => x.runDir) });
  return jobId;
}

/** The state SLURM reports for one array task. */
export interface TaskState {
  /** PENDING, RUNNING, COMPLETED, CANCELLED, FAILED, TIMEOUT, PREEMPTED, NODE_FAIL, OUT_OF_MEMORY, ... */
  state: string;
  reason?: string;
  exitCode?: string;
}

/**
 * The state of every task of these array jobs that SLURM still knows, keyed `<job>_<task>`. Tasks that
 * ended long ago (and clusters without accounting) are simply absent.
 */
export function slurmTaskStates(jobIds: string[]): Map<string, TaskState> {
  const states = new Map<string, TaskState>();
  if (jobIds.length === 0) return states;
  const wanted = new Set(jobIds);
  // queued and running: every task on its own line (-r), all of this user's jobs (unknown ids would fail the call)
  const q = run('squeue', ['-h', '-r', '-u', os.userInfo().username, '-o', '%F|%K|%T|%r']);
  if (q.missing) throw new UserError('squeue not found: SLURM status can only be read where SLURM\'s commands are installed');
  if (!q.ok) throw new UserError(`squeue failed: ${q.err.split('\n')[0]}`);
  for (const line of q.out.split('\n')) {
    const [job, task, state, reason] = line.trim().split('|');
    if (job && wanted.has(job) && /^\d+$/.test(task ?? '')) states.set(`${job}_${task}`, { state, reason });
  }
  // ended: accounting when the cluster has it
  const acct = run('sacct', ['-n', '-P', '-X', '-j', jobIds.join(','), '-o', 'JobID,State,ExitCode']);
  if (acct.ok) {
    for (const line of acct.out.split('\n')) {
      const [id, state, exitCode] = line.trim().split('|');
      const m = /^(\d+)_(\d+)$/.exec(id ?? '');
      if (m && !states.has(id)) states.set(id, { state: state.split(' ')[0], exitCode });
    }
  }
  // ended recently, without accounting: the controller still remembers them for MinJobAge
  for (const job of jobIds) {
    const s = run('scontrol', ['-o', 'show', 'job', job]);
    if (!s.ok) continue;
    for (const line of s.out.split('\n')) {
      const task = /ArrayTaskId=(\d+)(?:\s|$)/.exec(line)?.[1]; // a range (0-3) is a pending array
      const state = /JobState=(\S+)/.exec(line)?.[1];
      const jobOf = /ArrayJobId=(\d+)/.exec(line)?.[1];
      if (!task || !state || jobOf !== job || states.has(`${job}_${task}`)) continue;
      states.set(`${job}_${task}`, { state, reason: /Reason=(\S+)/.exec(line)?.[1], exitCode: /ExitCode=(\S+)/.exec(line)?.[1] });
    }
  }
  return states;
}
