/**
 * What the executors remember about a sweep, in its state folder `<out>/.sweeps/<name>/` (beside the runs,
 * never inside them): the local executor's processes (local.json) and the SLURM job arrays submitted
 * (slurm.json, plus each job's script). Run folders hold only what the runs themselves write.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomic } from '../util/fs.js';
import { UserError } from '../util/errors.js';
import type { Sweep } from './spec.js';

export interface LocalRecord {
  pid: number;
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
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message}); delete it to forget what it recorded`);
  }
}

export function readLocalRecords(sweep: Pick<Sweep, 'out' | 'name'>): Record<string, LocalRecord> {
  return readJson<{ runs: Record<string, LocalRecord> }>(path.join(stateDir(sweep), 'local.json'), { runs: {} }).runs;
}

export function writeLocalRecords(sweep: Pick<Sweep, 'out' | 'name'>, runs: Record<string, LocalRecord>): void {
  writeJsonAtomic(path.join(stateDir(sweep), 'local.json'), { runs });
}

export function readSlurmJobs(sweep: Pick<Sweep, 'out' | 'name'>): SlurmJobRecord[] {
  return readJson<{ jobs: SlurmJobRecord[] }>(path.join(stateDir(sweep), 'slurm.json'), { jobs: [] }).jobs;
}

export function addSlurmJob(sweep: Pick<Sweep, 'out' | 'name'>, job: SlurmJobRecord): void {
  const jobs = readSlurmJobs(sweep);
  writeJsonAtomic(path.join(stateDir(sweep), 'slurm.json'), { jobs: [...jobs, job] });
}

/** True when a process with this id exists (signal 0 checks without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
