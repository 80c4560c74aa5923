/**
 * The local executor: one `mpl` process per run, at most `parallel` at once. With GPUs each process gets one
 * GPU of its own (CUDA_VISIBLE_DEVICES) for as long as it runs; on CPU the cores are shared out
 * (MPL_NUM_THREADS) so parallel runs do not oversubscribe the machine. A run's output goes to sweep.log in
 * its own folder; what was started and how it ended goes to the sweep's local.json (records.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError } from '../util/errors.js';
import { startOf, updateLocalRecord, type LocalRecord } from './records.js';
import { defaultMplCommand } from './slurm.js';
import type { PlannedRun } from './expand.js';
import type { Sweep } from './spec.js';

/** The GPUs `nvidia-smi -L` lists, by index ("0", "1", ...); none when it is absent or lists none. */
export function detectGpus(): string[] {
  const r = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0 || !r.stdout) return [];
  return [...r.stdout.matchAll(/^GPU (\d+):/gm)].map((m) => m[1]);
}

export interface LocalOptions {
  /** processes at once; default one per GPU, or one on CPU */
  parallel?: number;
  /** GPUs to hand out (default: detectGpus(), none when every run asks for the CPU) */
  gpus?: string[];
  /** the command that runs mpl (default: this node and bin/mpl.js) */
  mpl?: string[];
  /** a line per start and end of a run */
  onEvent?: (line: string) => void;
}

/** What an executor needs of a run: its folder, its `mpl` arguments, its device (the schedule search's trials are such runs too). */
export type ExecutableRun = Pick<PlannedRun, 'runDir' | 'argv' | 'device'>;

export interface LocalOutcome<R extends ExecutableRun = PlannedRun> {
  finished: R[];
  failed: Array<{ run: R; why: string }>;
}

/**
 * Runs the given runs to completion (those that fail are reported, the others go on). The caller holds the
 * sweep's lock (records.ts `lockSweep`; the schedule search holds its folder's): each start and end of a run
 * is one entry of local.json, re-read and written back atomically.
 */
export async function runLocal<R extends ExecutableRun>(sweep: Pick<Sweep, 'out' | 'name'>, runs: R[], options: LocalOptions = {}): Promise<LocalOutcome<R>> {
  const allCpu = runs.every((r) => r.device === 'cpu');
  const gpus = options.gpus ?? (allCpu ? [] : detectGpus());
  const parallel = options.parallel ?? Math.max(1, gpus.length);
  if (!Number.isInteger(parallel) || parallel < 1) throw new UserError(`--parallel must be a positive integer, got ${parallel}`);
  if (gpus.length > 0 && parallel > gpus.length) {
    throw new UserError(`--parallel ${parallel} but ${gpus.length} GPU${gpus.length > 1 ? 's' : ''}: each GPU runs one process at a time (use --parallel ${gpus.length}, or device: cpu in the sweep)`);
  }
  const mpl = options.mpl ?? defaultMplCommand();
  const threads = process.env.MPL_NUM_THREADS ?? String(Math.max(1, Math.floor(os.availableParallelism() / parallel)));
  const say = options.onEvent ?? (() => {});
  const free = gpus.length ? [...gpus] : Array.from({ length: parallel }, () => null as string | null);
  const outcome: LocalOutcome<R> = { finished: [], failed: [] };
  const queue = [...runs];
  let started = 0;

  const launch = (run: R, slot: string | null): Promise<void> =>
    new Promise((resolve) => {
      fs.mkdirSync(run.runDir, { recursive: true });
      const logFile = path.join(run.runDir, 'sweep.log');
      const log = fs.openSync(logFile, 'a');
      fs.writeSync(log, `${new Date().toISOString()} mpl ${run.argv.join(' ')}${slot !== null ? ` (CUDA_VISIBLE_DEVICES=${slot})` : ''}\n`);
      const env: NodeJS.ProcessEnv = { ...process.env, MPL_NUM_THREADS: threads };
      if (slot !== null) env.CUDA_VISIBLE_DEVICES = slot;
      const child = spawn(mpl[0], [...mpl.slice(1), ...run.argv], { env, stdio: ['ignore', log, log] });
      fs.closeSync(log);
      const n = ++started;
      const record: LocalRecord = { pid: child.pid ?? -1, proc_start: child.pid ? startOf(child.pid) : undefined, started_at: new Date().toISOString() };
      updateLocalRecord(sweep, run.runDir, record);
      say(`[${n}/${runs.length}] started ${path.relative(sweep.out, run.runDir)}${slot !== null ? ` on GPU ${slot}` : ''}`);
      let ended = false;
      const end = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
        if (ended) return; // 'error' and 'exit' can both come
        ended = true;
        Object.assign(record, { ended_at: new Date().toISOString(), exit_code: code, signal });
        updateLocalRecord(sweep, run.runDir, record);
        const ok = code === 0 && fs.existsSync(path.join(run.runDir, 'result.json'));
        if (ok) outcome.finished.push(run);
        else {
          const why = error ? error.message : signal ? `killed by ${signal}` : code === 0 ? 'exited without a result' : `exit code ${code}`;
          outcome.failed.push({ run, why });
        }
        say(`[${n}/${runs.length}] ${ok ? 'done' : `FAILED (${outcome.failed.at(-1)!.why}; log ${logFile})`} ${path.relative(sweep.out, run.runDir)}`);
        resolve();
      };
      child.once('error', (e) => end(null, null, e));
      child.once('exit', (code, signal) => end(code, signal));
    });

  const worker = async (): Promise<void> => {
    for (let run = queue.shift(); run; run = queue.shift()) {
      const slot = free.shift()!;
      try {
        await launch(run, slot);
      } finally {
        free.push(slot);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, runs.length) }, worker));
  return outcome;
}
