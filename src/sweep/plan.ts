/**
 * What `mpl sweep` and `mpl reproduce` share: the plan of a sweep (every run with its folder, state and
 * estimated time), its text and JSON forms, and submission of the unfinished runs to an executor.
 */
import * as path from 'node:path';
import type { Protocol } from '../eval/results.js';
import { UserError } from '../util/errors.js';
import { estimateRuns, formatDuration, type Estimate, type Throughput } from './estimate.js';
import { runLocal } from './local.js';
import { lockSweep } from './records.js';
import { submitSlurm } from './slurm.js';
import { expandSweep, type PlannedRun } from './expand.js';
import type { SlurmSettings, Sweep } from './spec.js';
import { countStates, runStates, type RunState, type RunStatus } from './state.js';

/** One line of `mpl sweep plan --json`. */
export interface PlanRow {
  run_dir: string;
  protocol: Protocol;
  dataset: string;
  method: string;
  seed: number;
  shots: number;
  state: RunState;
  detail: string;
  /** estimated seconds to finish (0 when done, null when unknown) */
  estimate_s: number | null;
  /** the mpl command of the run */
  command: string[];
}

export interface Plan {
  sweep: Sweep;
  runs: PlannedRun[];
  statuses: RunStatus[];
  estimate: Estimate;
  rows: PlanRow[];
}

export function makePlan(sweep: Sweep, throughput?: Throughput): Plan {
  const runs = expandSweep(sweep);
  const statuses = runStates(sweep, runs);
  const estimate = estimateRuns(runs, statuses, sweep.out, throughput);
  const rows = runs.map((r, i): PlanRow => ({
    run_dir: r.runDir,
    protocol: r.config.protocol,
    dataset: r.config.dataset,
    method: r.config.method,
    seed: r.config.seed,
    shots: r.config.shots,
    state: statuses[i].state,
    detail: statuses[i].detail,
    estimate_s: estimate.seconds[i] === null ? null : Math.round(estimate.seconds[i]!),
    command: ['mpl', ...r.argv],
  }));
  return { sweep, runs, statuses, estimate, rows };
}

/** "8 runs: 2 done, 1 running, 0 failed, 5 pending". */
export function stateLine(plan: Plan): string {
  const c = countStates(plan.statuses);
  return `${plan.runs.length} runs: ${c.done} done, ${c.running} running, ${c.failed} failed, ${c.pending} pending`;
}

/** The estimate in words: compute time, wall time at `parallel` processes, and where the figures come from. */
export function estimateLine(plan: Plan, parallel = 1): string {
  const open = plan.statuses.filter((s) => s.state !== 'done').length;
  if (open === 0) return 'estimated time: nothing left to run';
  const e = plan.estimate;
  if (e.unknown === open) {
    return 'estimated time: unknown (no measurement for this backbone yet: finish a run, or pass --throughput TRAIN,EVAL images/s from `mpl bench train`)';
  }
  const wall = parallel > 1 ? `, about ${formatDuration(e.total / parallel)} with ${parallel} at a time` : '';
  const partial = e.unknown ? ` (${e.unknown} runs without an estimate not counted)` : '';
  return `estimated time for the ${open} unfinished runs: ${formatDuration(e.total)} of compute${wall}${partial}; basis: ${e.basis.join('; ')}`;
}

/** The plan as a table for people: state, estimate, folder (relative to the sweep's output), detail. */
export function formatPlan(plan: Plan, parallel = 1): string {
  const out = plan.sweep.out;
  const lines = [`${plan.sweep.origin}: ${stateLine(plan)} (output ${out})`, ''];
  const rel = plan.rows.map((r) => path.relative(out, r.run_dir));
  const w = Math.max(...rel.map((r) => r.length), 10);
  lines.push(`${'state'.padEnd(8)} ${'estimate'.padEnd(9)} ${'run folder'.padEnd(w)}  detail`);
  plan.rows.forEach((r, i) => {
    const est = r.state === 'done' ? '' : r.estimate_s === null ? '?' : formatDuration(r.estimate_s);
    lines.push(`${r.state.padEnd(8)} ${est.padEnd(9)} ${rel[i].padEnd(w)}  ${r.detail}`);
  });
  lines.push('', estimateLine(plan, parallel));
  return lines.join('\n') + '\n';
}

export interface SubmitOptions {
  executor: 'local' | 'slurm';
  parallel?: number;
  slurm?: SlurmSettings;
  /** a line per event (local runs starting and ending) */
  say: (line: string) => void;
  /** the command that shows the sweep's progress, for the refusal when another process runs it */
  follow?: string;
}

/**
 * Submits every run that is neither done nor running nor queued (failed runs resume from their checkpoint).
 * Local: runs them now and returns when all have ended; SLURM: one job array, returns after sbatch.
 */
export async function submitPlan(plan: Plan, o: SubmitOptions): Promise<{ submitted: number; job?: string }> {
  // one submission of a sweep at a time; the states are read again under the lock (a submission that just
  // ended may have changed them)
  using lock = lockSweep(plan.sweep, o.follow ?? `mpl sweep status ${plan.sweep.origin}`);
  plan = { ...plan, statuses: runStates(plan.sweep, plan.runs) };
  const todo = plan.runs.filter((_, i) => plan.statuses[i].state === 'failed' || (plan.statuses[i].state === 'pending' && !plan.statuses[i].attempt));
  const busy = plan.statuses.filter((s) => s.state === 'running');
  if (todo.length === 0) {
    o.say(`nothing to submit (${stateLine(plan)})`);
    return { submitted: 0 };
  }
  if (o.executor === 'slurm') {
    const job = submitSlurm(plan.sweep, todo, { ...plan.sweep.slurm, ...stripUndefined(o.slurm ?? {}) });
    o.say(`submitted job array ${job} with ${todo.length} task${todo.length > 1 ? 's' : ''}; logs go to each run's folder; follow with \`mpl sweep status\``);
    return { submitted: todo.length, job };
  }
  if (busy.length) {
    o.say(`${busy.length} run${busy.length > 1 ? 's are' : ' is'} already running (${busy.map((s) => s.detail).slice(0, 3).join('; ')}): not started again; follow ${busy.length > 1 ? 'them' : 'it'} with \`mpl sweep status\``);
  }
  o.say(`running ${todo.length} run${todo.length > 1 ? 's' : ''} locally`);
  const r = await runLocal(plan.sweep, todo, { parallel: o.parallel, onEvent: o.say });
  if (r.failed.length) {
    const f = r.failed[0];
    throw new UserError(
      `${r.failed.length} of ${todo.length} runs failed (first: ${f.run.runDir}: ${f.why}; its log: ${path.join(f.run.runDir, 'sweep.log')}); ` +
        'submitting again resumes them from their last epoch',
    );
  }
  return { submitted: todo.length };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
