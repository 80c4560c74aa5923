/**
 * The SLURM executor: one job array per submission, one array task per run. The script selects its run by
 * SLURM_ARRAY_TASK_ID, sends the task's output to the run's own folder and runs the same `mpl` command a
 * user would type, its arguments read as data from the task's file (never as shell text). The runs resume by themselves (same configuration ⇒ same folder ⇒ its checkpoint), so
 * a cancelled or preempted task continues from its last epoch when the sweep is submitted again.
 * Tracking: `squeue` for queued and running tasks, then `sacct` when the cluster keeps accounting, else
 * `scontrol show job` for tasks that ended recently.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { printable, UserError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { addSlurmJob, stateDir } from './records.js';
import type { ExecutableRun } from './local.js';
import { directive, outputDirective, settingDirectives, type SlurmSettings } from './slurm-settings.js';
import type { Sweep } from './spec.js';

/** How the job runs mpl: this node and this package's bin/mpl.js (a shared file system is assumed). */
export function defaultMplCommand(): string[] {
  return [process.execPath, path.resolve(__dirname, '..', '..', '..', 'bin', 'mpl.js')];
}

/** Single-quoted for bash: nothing inside is expanded. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The job-array script for these runs (task i runs runs[i]), and the task files it reads. Nothing from a
 * sweep file is shell text in it: the settings are checked `#SBATCH` directives (slurm-settings.ts), and each
 * run's folder and `mpl` arguments are DATA, in `<tasksDir>/<i>` (NUL-separated; arguments cannot hold a
 * NUL), read into a bash array with `read -d ''`, which expands nothing.
 */
export function jobScript(sweep: Pick<Sweep, 'out' | 'name'>, runs: ExecutableRun[], settings: SlurmSettings, mpl: string[], tasksDir: string): { script: string; tasks: Buffer[] } {
  const state = stateDir(sweep);
  const lines = [
    '#!/bin/bash',
    directive('--job-name', `mpl-${sweep.name}`.replace(/[^A-Za-z0-9._-]/g, '_')),
    directive('--array', `0-${runs.length - 1}`),
    // before the script sends its output to the run folder (e.g. a node that cannot start bash)
    outputDirective(state, 'slurm-%A_%a.out', 'out'),
    ...settingDirectives(settings),
    '# Written by `mpl sweep submit`: one array task per run; each run writes only its own folder. The run\'s',
    '# folder and mpl arguments are data, read from its task file (NUL-separated), never parsed as shell text.',
    'set -euo pipefail',
    `TASKS=${shellQuote(tasksDir)}`,
    `MPL=(${mpl.map(shellQuote).join(' ')})`,
    'case "${SLURM_ARRAY_TASK_ID:-}" in',
    '  ""|*[!0-9]*) echo "not an array task of this job (SLURM_ARRAY_TASK_ID=${SLURM_ARRAY_TASK_ID:-})" >&2; exit 2 ;;',
    'esac',
    'TASK="$TASKS/$SLURM_ARRAY_TASK_ID"',
    '[ -f "$TASK" ] || { echo "no run for array task $SLURM_ARRAY_TASK_ID ($TASK)" >&2; exit 2; }',
    'ARGS=()',
    'while IFS= read -r -d \'\' a; do ARGS+=("$a"); done <"$TASK"',
    'RUN_DIR="${ARGS[0]}"',
    'ARGS=("${ARGS[@]:1}")',
    'mkdir -p -- "$RUN_DIR"',
    'exec >>"$RUN_DIR/slurm-${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}.log" 2>&1',
    'echo "job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on $(hostname) at $(date -Is)"',
    'export MPL_NUM_THREADS="${MPL_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}"',
    'exec "${MPL[@]}" "${ARGS[@]}"',
    '',
  ];
  const tasks = runs.map((r) => {
    const fields = [r.runDir, ...r.argv];
    const bad = fields.find((f) => f.includes('\0'));
    if (bad !== undefined) throw new UserError(printable(`a run argument holds a NUL character (${bad}): it cannot be passed to a process`));
    return Buffer.from(fields.map((f) => `${f}\0`).join(''), 'utf8');
  });
  return { script: lines.join('\n'), tasks };
}

function run(cmd: string, args: string[]): { ok: boolean; out: string; err: string; missing: boolean } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  const missing = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '').trim() || (r.error?.message ?? ''), missing };
}

/** Writes the script into the sweep's state folder, submits it with sbatch and records the job. */
export function submitSlurm(sweep: Pick<Sweep, 'out' | 'name'>, runs: ExecutableRun[], settings: SlurmSettings, mpl = defaultMplCommand()): string {
  const stem = path.join(stateDir(sweep), `job-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const script = `${stem}.sh`;
  const tasksDir = `${stem}.tasks`;
  const job = jobScript(sweep, runs, settings, mpl, tasksDir); // checks everything before anything is written
  fs.mkdirSync(tasksDir, { recursive: true });
  job.tasks.forEach((t, i) => writeFileAtomic(path.join(tasksDir, String(i)), t));
  writeFileAtomic(script, job.script);
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
