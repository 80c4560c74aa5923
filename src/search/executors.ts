/**
 * Where the trials of a rung run: in this process (one model, trials one after the other), or through the
 * sweep executors (src/sweep/): one `mpl search-trial` process per trial on this machine (local), or one
 * SLURM array task per trial. A trial process reads the settings from <out>/search.json and writes only its
 * own trial folder, so every executor resumes the same way: a trial with a result is not run again, one
 * without continues its checkpoint.
 */
import * as path from 'node:path';
import type { BackboneModel } from '../backbones/model.js';
import { runLocal, type ExecutableRun } from '../sweep/local.js';
import { submitSlurm, slurmTaskStates } from '../sweep/slurm.js';
import type { SlurmSettings } from '../sweep/spec.js';
import { slurmTaskPending } from '../sweep/state.js';
import { UserError } from '../util/errors.js';
import type { Reporter } from '../util/reporter.js';
import { readTrialResult, trialResultFile, type SearchSettings, type TrialResult, type TrialSpec } from './files.js';
import { TrialRunner } from './objective.js';

export type ExecutorName = 'inprocess' | 'local' | 'slurm';

export interface TrialExecutor {
  /** Runs the trials (those with a result on disk are not run again); `onResult` after each one ends. */
  run(trials: TrialSpec[], onResult: (r: TrialResult) => void): Promise<TrialResult[]>;
  close(): Promise<void>;
}

/** The `mpl` arguments of one trial: what the executors start. */
export function trialArgv(out: string, t: TrialSpec): string[] {
  return ['search-trial', '--out', out, '--candidate', t.candidate, '--depth', String(t.depth), '--schedule', t.schedule, '--seed', String(t.seed), '--epochs', String(t.epochs)];
}

export function inProcessExecutor(out: string, settings: SearchSettings, model: BackboneModel, options: ConstructorParameters<typeof TrialRunner>[3]): TrialExecutor {
  const runner = new TrialRunner(out, settings, model, options);
  return {
    async run(trials, onResult) {
      const results: TrialResult[] = [];
      for (const t of trials) {
        const r = await runner.run(t);
        results.push(r);
        onResult(r);
      }
      return results;
    },
    close: () => runner.close(),
  };
}

export interface ExternalOptions {
  executor: 'local' | 'slurm';
  /** local: processes at once */
  parallel?: number;
  slurm?: SlurmSettings;
  /** slurm: how often to ask SLURM about the tasks (default 15 s) */
  pollMs?: number;
  /** the command that runs mpl (default: this node and bin/mpl.js) */
  mpl?: string[];
  device?: string;
  reporter: Reporter;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Trials as processes: the local executor, or a SLURM job array waited for. */
export function externalExecutor(out: string, o: ExternalOptions): TrialExecutor {
  const sweep = { out, name: 'search' };
  return {
    async run(trials, onResult) {
      const todo = trials.filter((t) => !readTrialResult(trialResultFile(out, t), t));
      const runs: Array<ExecutableRun & { trial: TrialSpec }> = todo.map((trial) => ({
        trial,
        runDir: path.dirname(trialResultFile(out, trial)),
        argv: trialArgv(out, trial),
        device: o.device,
      }));
      if (runs.length && o.executor === 'local') {
        await runLocal(sweep, runs, { parallel: o.parallel, mpl: o.mpl, onEvent: (l) => o.reporter.info(l) });
      } else if (runs.length) {
        const job = submitSlurm(sweep, runs, o.slurm ?? {}, o.mpl);
        o.reporter.info(`submitted SLURM job array ${job}: ${runs.length} trial${runs.length > 1 ? 's' : ''} (logs in each trial's folder)`);
        for (;;) {
          const states = slurmTaskStates([job]);
          const going = runs.filter((r, i) => !readTrialResult(trialResultFile(out, r.trial), r.trial) && slurmTaskPending(states.get(`${job}_${i}`)?.state ?? 'ENDED'));
          // a task SLURM no longer lists (it lists queued array tasks one by one) has ended
          if (going.length === 0) break;
          await sleep(o.pollMs ?? 15_000);
        }
      }
      const results: TrialResult[] = [];
      const failed: string[] = [];
      for (const t of trials) {
        const r = readTrialResult(trialResultFile(out, t), t);
        if (r) {
          results.push(r);
          if (todo.includes(t)) onResult(r);
        } else failed.push(path.dirname(trialResultFile(out, t)));
      }
      if (failed.length) {
        throw new UserError(`${failed.length} of ${trials.length} trials ended without a result (first: ${failed[0]}, see its log); run the same command again to resume them`);
      }
      return results;
    },
    close: async () => {},
  };
}
