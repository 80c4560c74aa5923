/**
 * The state of every run of a sweep, read from the run folders (a result is the only proof a run is done)
 * and from what the executors recorded (local processes, SLURM tasks):
 *   done     result.json is there;
 *   running  its local process is alive, a live process of this machine holds its folder's lock (a run whose
 *            sweep was killed, or one started by hand), or its SLURM task is running;
 *   failed   it was started and ended without a result (crashed, cancelled, preempted, out of time);
 *            submitting again resumes it from its last checkpoint;
 *   pending  not started yet, or queued in SLURM.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensorsHeader } from '../io/safetensors.js';
import { CHECKPOINT_FILE } from '../train/checkpoint.js';
import * as os from 'node:os';
import { LOCK_FILE, liveLockOwner } from '../util/lock.js';
import { readLocalRecords, readSlurmJobs, recordAlive } from './records.js';
import { slurmTaskStates, type TaskState } from './slurm.js';
import type { PlannedRun } from './expand.js';
import type { Sweep } from './spec.js';

export const RUN_STATES = ['done', 'running', 'failed', 'pending'] as const;
export type RunState = (typeof RUN_STATES)[number];

export interface RunStatus {
  state: RunState;
  /** one line for people: the result, the job, the epoch reached, where the log is */
  detail: string;
  /** the SLURM task (`<job>_<task>`) or local pid of the latest attempt, when there was one */
  attempt?: string;
}

const ACTIVE = new Set(['RUNNING', 'COMPLETING', 'CONFIGURING', 'SUSPENDED', 'STAGE_OUT', 'RESIZING', 'SIGNALING']);
const QUEUED = new Set(['PENDING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED']);

/** Whether a SLURM task in this state is still queued or running (it may yet produce its result). */
export function slurmTaskPending(state: string): boolean {
  return ACTIVE.has(state) || QUEUED.has(state);
}

/** "epoch 2/5" from the checkpoint's metadata (the header only), or null. */
function checkpointEpoch(run: PlannedRun): string | null {
  const file = path.join(run.runDir, CHECKPOINT_FILE);
  if (!fs.existsSync(file)) return null;
  try {
    const epoch = readSafetensorsHeader(file).metadata.epoch;
    return epoch ? `epoch ${epoch}/${run.config.epochs}` : null;
  } catch {
    return 'an unreadable checkpoint';
  }
}

function resultSummary(file: string): string {
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as { base?: number; new?: number; hm?: number; accuracy?: Record<string, number> };
    if (typeof r.hm === 'number') return `base ${r.base!.toFixed(2)} new ${r.new!.toFixed(2)} HM ${r.hm.toFixed(2)}`;
    const acc = Object.entries(r.accuracy ?? {});
    if (acc.length) return acc.slice(0, 3).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ') + (acc.length > 3 ? ', ...' : '');
  } catch {
    // a result the reports will refuse with a proper message; here it is just done
  }
  return 'finished';
}

/** The latest SLURM task that ran each run folder, from the sweep's records. */
function latestTasks(sweep: Sweep): Map<string, { job: string; task: number; at: string }> {
  const latest = new Map<string, { job: string; task: number; at: string }>();
  for (const j of readSlurmJobs(sweep)) j.tasks.forEach((dir, task) => latest.set(dir, { job: j.job_id, task, at: j.submitted_at }));
  return latest;
}

/** The state of each run, in order. SLURM is asked only when this sweep submitted jobs. */
export function runStates(sweep: Sweep, runs: PlannedRun[]): RunStatus[] {
  const local = readLocalRecords(sweep);
  const tasks = latestTasks(sweep);
  const jobIds = [...new Set([...tasks.values()].map((t) => t.job))];
  const slurm: Map<string, TaskState> = jobIds.length ? slurmTaskStates(jobIds) : new Map();
  return runs.map((run): RunStatus => {
    const result = path.join(run.runDir, 'result.json');
    if (fs.existsSync(result)) return { state: 'done', detail: resultSummary(result) };
    const progress = checkpointEpoch(run);
    const reached = progress ? ` after ${progress}` : '';
    const rec = local[run.runDir];
    const t = tasks.get(run.runDir);
    const task = t ? slurm.get(`${t.job}_${t.task}`) : undefined;
    const id = t ? `${t.job}_${t.task}` : undefined;
    if (rec && rec.ended_at === undefined && recordAlive(rec)) {
      return { state: 'running', detail: `pid ${rec.pid}${progress ? `, ${progress}` : ''}`, attempt: String(rec.pid) };
    }
    // the run's own lock: a process of this machine training in the folder, whoever started it
    const owner = liveLockOwner(path.join(run.runDir, LOCK_FILE));
    if (owner && owner.host === os.hostname()) {
      return { state: 'running', detail: `pid ${owner.pid} (holds the run folder)${progress ? `, ${progress}` : ''}`, attempt: String(owner.pid) };
    }
    if (task && ACTIVE.has(task.state)) return { state: 'running', detail: `job ${id}${progress ? `, ${progress}` : ''}`, attempt: id };
    if (task && QUEUED.has(task.state)) return { state: 'pending', detail: `queued as job ${id} (${task.reason ?? 'waiting'})${progress ? `, resumes after ${progress}` : ''}`, attempt: id };
    // The attempt that started last tells how the run ended.
    if (t && (!rec || t.at > rec.started_at)) {
      const how = task ? `${task.state.toLowerCase()}${task.exitCode && task.exitCode !== '0:0' ? ` (exit ${task.exitCode})` : ''}` : 'ended';
      return { state: 'failed', detail: `job ${id} ${how}${reached} without a result; log in ${run.runDir}`, attempt: id };
    }
    if (rec) {
      const how = rec.ended_at === undefined ? 'was interrupted' : rec.signal ? `was killed (${rec.signal})` : `exited with ${rec.exit_code}`;
      return { state: 'failed', detail: `pid ${rec.pid} ${how}${reached}; log ${path.join(run.runDir, 'sweep.log')}`, attempt: String(rec.pid) };
    }
    if (progress || fs.existsSync(path.join(run.runDir, 'config.json'))) {
      return { state: 'failed', detail: `started outside this sweep, stopped${reached} without a result` };
    }
    return { state: 'pending', detail: 'not started' };
  });
}

/** Counts per state, in the fixed order. */
export function countStates(statuses: RunStatus[]): Record<RunState, number> {
  const counts = Object.fromEntries(RUN_STATES.map((s) => [s, 0])) as Record<RunState, number>;
  for (const s of statuses) counts[s.state]++;
  return counts;
}
