/**
 * What the executors remember about a sweep, in its state folder `<out>/.sweeps/<name>/` (beside the runs,
 * never inside them): the local executor's processes (local.json) and the SLURM job arrays submitted
 * (slurm.json, plus each job's script). Run folders hold only what the runs themselves write.
 * The files are changed only by the process that holds the sweep's lock (`lockSweep`: one `mpl sweep
 * submit` at a time), each change a read-modify-write of one entry, written atomically.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureDir, writeJsonAtomic } from '../util/fs.js';
import { printable, UserError } from '../util/errors.js';
import { acquireLock, describeOwner, processAlive, processStart, type RunLock } from '../util/lock.js';
import type { Sweep } from './spec.js';
import { readJsonFile, reasonOf } from '../util/parse.js';

export interface LocalRecord {
  pid: number;
  /** the process's start time (/proc), so that a reused pid is not taken for the run */
  proc_start?: string;
  started_at: string;
  ended_at?: string;
  exit_code?: number | null;
  signal?: string | null;
}

export interface SlurmJobRecord {
  job_id: string;
  script: string;
  submitted_at: string;
  /** run folder of each array task, by task index */
  tasks: string[];
}

export function stateDir(sweep: Pick<Sweep, 'out' | 'name'>): string {
  return path.join(sweep.out, '.sweeps', sweep.name);
}

function readJson<T>(file: string, empty: T): T {
  if (!fs.existsSync(file)) return empty;
  try {
    return readJsonFile(file, 'sweep state file') as T;
  } catch (e) {
    throw new UserError(`${file}: ${reasonOf(e, file)}; delete it to forget what it recorded`);
  }
}

export function readLocalRecords(sweep: Pick<Sweep, 'out' | 'name'>): Record<string, LocalRecord> {
  const file = path.join(stateDir(sweep), 'local.json');
  const v = readJson<{ runs?: unknown }>(file, { runs: {} });
  const runs = isObject(v) ? v.runs : undefined;
  const bad = (what: string) => new UserError(printable(`${file}: ${what}, not what mpl writes; delete it to forget what it recorded`));
  if (!isObject(runs)) throw bad('no "runs" mapping');
  for (const [dir, r] of Object.entries(runs)) {
    const ok = isObject(r) && Number.isSafeInteger(r.pid) && typeof r.started_at === 'string' && (r.ended_at === undefined || typeof r.ended_at === 'string') && (r.proc_start === undefined || typeof r.proc_start === 'string');
    if (!ok) throw bad(`the record of ${dir} is malformed`);
  }
  return runs as Record<string, LocalRecord>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Records one run's process: re-reads local.json and writes it back with that entry changed (under the sweep's lock). */
export function updateLocalRecord(sweep: Pick<Sweep, 'out' | 'name'>, runDir: string, record: LocalRecord): void {
  const runs = readLocalRecords(sweep);
  runs[runDir] = record;
  writeJsonAtomic(path.join(stateDir(sweep), 'local.json'), { runs });
}

/**
 * The sweep's lock (`<state folder>/sweep.lock`): one `mpl sweep submit` (or `mpl reproduce`) of a sweep at a
 * time, so that no run is started twice and no update of the state files is lost. A second one refuses,
 * naming the first; the lock of one that was killed is taken over (src/util/lock.ts).
 */
export function lockSweep(sweep: Pick<Sweep, 'out' | 'name' | 'origin'>, follow: string): RunLock {
  const dir = stateDir(sweep);
  ensureDir(dir);
  return acquireLock(path.join(dir, 'sweep.lock'), (owner) =>
    new UserError(
      printable(
        `${sweep.origin}: this sweep is being run by another mpl process (${owner ? describeOwner(owner) : 'one that just started'}); ` +
          `it starts every run that is not done, so there is nothing to add: follow it with \`${follow}\`, or stop it first`,
      ),
    ),
  );
}

export function readSlurmJobs(sweep: Pick<Sweep, 'out' | 'name'>): SlurmJobRecord[] {
  const file = path.join(stateDir(sweep), 'slurm.json');
  const v = readJson<{ jobs?: unknown }>(file, { jobs: [] });
  const jobs = isObject(v) ? v.jobs : undefined;
  const wellFormed = (j: unknown) => isObject(j) && typeof j.job_id === 'string' && /^\d+$/.test(j.job_id) && typeof j.submitted_at === 'string' && Array.isArray(j.tasks) && j.tasks.every((t) => typeof t === 'string');
  if (!Array.isArray(jobs) || !jobs.every(wellFormed)) throw new UserError(printable(`${file}: not the list of job arrays mpl writes; delete it to forget what it recorded`));
  return jobs as SlurmJobRecord[];
}

export function addSlurmJob(sweep: Pick<Sweep, 'out' | 'name'>, job: SlurmJobRecord): void {
  const jobs = readSlurmJobs(sweep);
  writeJsonAtomic(path.join(stateDir(sweep), 'slurm.json'), { jobs: [...jobs, job] });
}

/** True when the process of a record is still the one that was started (pid and, when recorded, start time). */
export function recordAlive(r: Pick<LocalRecord, 'pid' | 'proc_start'>): boolean {
  return r.pid > 0 && processAlive(r.pid, r.proc_start);
}

/** The start time to record for a process just spawned. */
export function startOf(pid: number): string | undefined {
  return processStart(pid);
}
