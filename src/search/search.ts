/**
 * `mpl search`: which per-layer add/remove schedule should MPL use on this data? Rounds of successive
 * halving over proposed schedules (round 1: the paper's default, MaPLe's replacement and seeded random
 * schedules; later rounds: mutations of the best so far), scored by the honest objective of objective.ts,
 * with every trial's result on disk so a killed search continues where it stopped. Deterministic for a
 * seed: proposals, pseudo split, training and ranking depend on the seed and the results only (unless
 * --max-step-ms, a measured time, decides promotions).
 */
import type { BackboneArchitecture as ClipArchitecture, BackboneModel as ClipModel } from '../backbones/model.js';
import { ensureDir, writeJsonAtomic } from '../util/fs.js';
import { lockRunFolder } from '../util/lock.js';
import { silentReporter, type Reporter } from '../util/reporter.js';
import { externalExecutor, inProcessExecutor, type ExecutorName, type ExternalOptions, type TrialExecutor } from './executors.js';
import { collectReads, openSearchFolder, recordReads, stateFile, type SearchFile, type SearchSettings, type SplitRead, type TrialResult, type TrialSpec } from './files.js';
import { byObjective, roundSizes, rungEpochs, survivors } from './halving.js';
import { preflightSearch } from './objective.js';
import {
  checkBounds,
  outsideBecause,
  propose,
  proposalRng,
  references,
  scheduleCost,
  scheduleFlags,
  scheduleKey,
  scheduleString,
  spaceSize,
  type Schedule,
} from './space.js';

export interface RungRecord {
  epochs: number;
  /** mean over the seeds */
  objective: number;
  per_seed: Record<string, number>;
  /** accuracies per seed (base2new: pseudo-base / pseudo-new; otherwise val) */
  scores: Record<string, Record<string, number>>;
}

export interface CandidateRecord {
  id: string;
  depth: number;
  schedule: string;
  /** the protocol flags that train it */
  flags: string;
  /** paper-default, maple-replacement, random, or "mutation of cNN" */
  origin: string;
  round: number;
  parameters: number;
  extra_tokens: number;
  /** measured milliseconds per training step (mean over seeds, first rung) */
  step_ms: number | null;
  rungs: RungRecord[];
  /** why it may not continue or win (--max-step-ms) */
  over_budget?: string;
}

export interface CandidateSummary extends CandidateRecord {
  rank: number;
  /** at the largest budget it reached */
  objective: number | null;
  objective_per_seed: Record<string, number>;
  epochs: number;
  status: 'best' | 'finalist' | 'stopped' | 'over budget' | 'pending';
}

export interface SearchResult {
  schema: 'mpl-search-result/1';
  best: (CandidateSummary & { flags: string }) | null;
  candidates: CandidateSummary[];
  references: Array<{ name: string; label: string; depth: number; schedule: string; candidate: string | null; excluded?: string }>;
  /** the splits any process of the search read ("train", "val"; never "test") */
  read_splits: string[];
  /** the classes any split read held */
  read_classes: string[];
  reads: SplitRead[];
  images_read: number;
  objective: { protocol: string; metric: string; validation: string; pseudo_base?: string[]; pseudo_new?: string[] };
  space: { bounds: SearchSettings['bounds']; valid_schedules: number };
  rungs: number[];
  eta: number;
  rounds: number;
  seeds: number[];
  budget: { trials: number; trained_epochs: number; full_training_epochs: number; train_seconds: number; eval_seconds: number };
  out: string;
}

export interface SearchRunOptions {
  out: string;
  file: SearchFile;
  arch: ClipArchitecture;
  /** where trials run (an executor object: the tests' synthetic objectives) */
  executor: ExecutorName | TrialExecutor;
  /** in-process: the model (on its device, in the settings' precision), or how to load it once the data checked out */
  model?: ClipModel | (() => Promise<ClipModel>);
  external?: Omit<ExternalOptions, 'executor' | 'reporter'>;
  /** candidates slower than this per step neither continue nor win (measured, so not reproducible) */
  maxStepMs?: number;
  force?: boolean;
  reporter?: Reporter;
}

async function modelOf(o: SearchRunOptions): Promise<ClipModel> {
  if (!o.model) throw new Error('runSearch: the in-process executor needs the model');
  return typeof o.model === 'function' ? o.model() : o.model;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Runs (or continues) a search and returns its result; the report files are written by report.ts. */
export async function runSearch(o: SearchRunOptions): Promise<SearchResult> {
  const s = o.file.settings;
  const reporter = o.reporter ?? silentReporter;
  checkBounds(s.bounds, o.arch);
  const rungs = rungEpochs(s.min_epochs, s.max_epochs, s.eta);
  const sizes = roundSizes(s.candidates, s.rounds);
  ensureDir(o.out);
  using lock = lockRunFolder(o.out); // released when the search ends, however it ends
  const how = openSearchFolder(o.out, o.file, Boolean(o.force));
  const stopReads = recordReads(o.out);
  let executor: TrialExecutor | null = null;
  try {
    // every seed's lists and image headers, before a model is loaded (and the objective's classes, for the report)
    const data = preflightSearch(s, { skipBadImages: o.file.skip_bad_images, reporter });
    const where = typeof o.executor === 'string' ? o.executor : 'a custom executor';
    reporter.info(
      `${how === 'new' ? 'searching' : 'continuing the search'} in ${o.out}: ${s.candidates} candidates in ${s.rounds} round${s.rounds > 1 ? 's' : ''}, ` +
        `rungs of ${rungs.join(', ')} epochs (eta ${s.eta}), seeds ${s.seeds.join(',')}, trials: ${where}`,
    );
    executor =
      typeof o.executor !== 'string'
        ? o.executor
        : o.executor === 'inprocess'
        ? inProcessExecutor(o.out, s, await modelOf(o), { numWorkers: o.file.workers, skipBadImages: o.file.skip_bad_images, reporter })
        : externalExecutor(o.out, { ...o.external, executor: o.executor, reporter });

    const candidates: CandidateRecord[] = [];
    const seen = new Set<string>();
    const width = String(s.candidates).length;
    const refs = references(s.bounds).map((r) => ({ ...r, candidate: null as string | null, excluded: outsideBecause(r.schedule, s.bounds, o.arch) ?? undefined }));
    const add = (schedule: Schedule, origin: string, round: number): CandidateRecord => {
      const cost = scheduleCost(schedule, s.bounds.nCtx, o.arch);
      const c: CandidateRecord = {
        id: `c${String(candidates.length + 1).padStart(width, '0')}`,
        depth: schedule.depth,
        schedule: scheduleString(schedule),
        flags: scheduleFlags(schedule, s.bounds.nCtx),
        origin,
        round,
        parameters: cost.parameters,
        extra_tokens: cost.extraTokens,
        step_ms: null,
        rungs: [],
      };
      candidates.push(c);
      return c;
    };
    const schedules = new Map<string, Schedule>();
    const seconds = { train: 0, eval: 0 };
    let progress: Record<string, number> = {};
    const save = (status: string) => writeJsonAtomic(stateFile(o.out), { format: 'mpl-search-state/1', status, updated_at: new Date().toISOString(), progress, candidates });

    for (let round = 1; round <= s.rounds; round++) {
      const fresh: CandidateRecord[] = [];
      if (round === 1) {
        for (const r of refs) {
          if (r.excluded || seen.has(scheduleKey(r.schedule))) continue;
          seen.add(scheduleKey(r.schedule));
          const c = add(r.schedule, r.name, round);
          r.candidate = c.id;
          schedules.set(c.id, r.schedule);
          fresh.push(c);
        }
      }
      const parents = round === 1 ? [] : finalists(candidates, s.max_epochs).slice(0, Math.max(1, Math.ceil(sizes[round - 1] / 2)));
      const proposals = propose(s.bounds, o.arch, proposalRng(s.seed, round), sizes[round - 1] - fresh.length, seen, parents.map((p) => schedules.get(p.id)!));
      for (const p of proposals) {
        const c = add(p.schedule, p.parent === undefined ? 'random' : `mutation of ${parents[p.parent].id}`, round);
        schedules.set(c.id, p.schedule);
        fresh.push(c);
      }
      if (fresh.length < sizes[round - 1]) reporter.warn(`round ${round}: the space holds only ${fresh.length} more schedules within the bounds (asked for ${sizes[round - 1]})`);
      let members = fresh;
      for (const [i, epochs] of rungs.entries()) {
        if (members.length === 0) break;
        const trials: TrialSpec[] = members.flatMap((c) => s.seeds.map((seed) => ({ candidate: c.id, depth: c.depth, schedule: c.schedule, seed, epochs })));
        let done = 0;
        const say = (r: TrialResult) => {
          progress = { round, rung: i + 1, epochs, trials_done: ++done, trials: trials.length };
          save('running');
          const scores = Object.entries(r.scores).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
          reporter.info(`round ${round} rung ${i + 1}/${rungs.length} (${epochs} epochs) ${r.candidate} --depth ${r.depth} --schedule "${r.schedule}" seed ${r.seed}: ${r.objective.toFixed(2)} (${scores})`);
        };
        const results = await executor.run(trials, say);
        for (const r of results) {
          seconds.train += r.train_seconds;
          seconds.eval += r.eval_seconds;
        }
        for (const c of members) {
          const mine = results.filter((r) => r.candidate === c.id);
          c.rungs.push({
            epochs,
            objective: mean(mine.map((r) => r.objective)),
            per_seed: Object.fromEntries(mine.map((r) => [String(r.seed), r.objective])),
            scores: Object.fromEntries(mine.map((r) => [String(r.seed), r.scores])),
          });
          if (i === 0) {
            c.step_ms = mean(mine.map((r) => r.step_ms));
            if (o.maxStepMs !== undefined && c.step_ms > o.maxStepMs) c.over_budget = `${c.step_ms.toFixed(1)} ms per step, above --max-step-ms ${o.maxStepMs}`;
          }
        }
        save('running');
        if (i + 1 < rungs.length) {
          const ranked = members.filter((c) => !c.over_budget).sort((a, b) => byObjective(rankable(a), rankable(b)));
          members = ranked.slice(0, survivors(members.length, s.eta));
        }
      }
    }
    save('done');
    const budgetOf = { ...trialBudget(candidates, rungs, s.seeds.length), train_seconds: seconds.train, eval_seconds: seconds.eval };
    const reads = collectReads(o.out);
    const summaries = summarise(candidates, s.max_epochs);
    const best = summaries.find((c) => c.status === 'best') ?? null;
    return {
      schema: 'mpl-search-result/1',
      best,
      candidates: summaries,
      references: refs.map((r) => ({ name: r.name, label: r.label, depth: r.schedule.depth, schedule: scheduleString(r.schedule), candidate: r.candidate, ...(r.excluded ? { excluded: r.excluded } : {}) })),
      read_splits: [...new Set(reads.splits.map((r) => r.split))],
      read_classes: [...new Set(reads.splits.flatMap((r) => r.classes))].sort(),
      reads: reads.splits,
      images_read: reads.images.length,
      objective: {
        protocol: s.protocol,
        metric: s.protocol === 'base2new' ? 'HM of the pseudo-base and pseudo-new accuracies on their few-shot val images' : 'accuracy on the few-shot val images',
        validation: data.validation,
        ...(s.protocol === 'base2new' ? { pseudo_base: data.scoreSets[0].classnames, pseudo_new: data.scoreSets[1].classnames } : {}),
      },
      space: { bounds: s.bounds, valid_schedules: spaceSize(s.bounds) },
      rungs,
      eta: s.eta,
      rounds: s.rounds,
      seeds: s.seeds,
      budget: budgetOf,
      out: o.out,
    };
  } finally {
    await executor?.close();
    stopReads();
  }
}

/** A candidate's standing at its largest budget, for ranking. */
function rankable(c: CandidateRecord, order = Number(c.id.slice(1))) {
  const last = c.rungs[c.rungs.length - 1];
  return { objective: last ? last.objective : -Infinity, parameters: c.parameters, order };
}

/** Candidates trained to the full budget and within the budgets, best first. */
function finalists(candidates: CandidateRecord[], maxEpochs: number): CandidateRecord[] {
  return candidates.filter((c) => !c.over_budget && c.rungs.at(-1)?.epochs === maxEpochs).sort((a, b) => byObjective(rankable(a), rankable(b)));
}

/** Ranked summaries: the full-budget candidates first (best first), then by the budget they reached. */
function summarise(candidates: CandidateRecord[], maxEpochs: number): CandidateSummary[] {
  const top = finalists(candidates, maxEpochs);
  const epochsOf = (c: CandidateRecord) => c.rungs.at(-1)?.epochs ?? 0;
  const sorted = [...candidates].sort((a, b) => epochsOf(b) - epochsOf(a) || byObjective(rankable(a), rankable(b)));
  return sorted.map((c, i): CandidateSummary => {
    const last = c.rungs.at(-1);
    const status = c.over_budget ? 'over budget' : top[0] === c ? 'best' : top.includes(c) ? 'finalist' : last ? 'stopped' : 'pending';
    return { ...c, rank: i + 1, objective: last?.objective ?? null, objective_per_seed: last?.per_seed ?? {}, epochs: epochsOf(c), status };
  });
}

/** Trials and epochs trained, against training every candidate for the full budget. */
function trialBudget(candidates: CandidateRecord[], rungs: number[], seeds: number): Omit<SearchResult['budget'], 'train_seconds' | 'eval_seconds'> {
  let epochs = 0;
  let trials = 0;
  for (const c of candidates) {
    const reached = c.rungs.length;
    if (reached === 0) continue;
    trials += reached * seeds;
    epochs += rungs[reached - 1] * seeds; // each rung continues the previous rung's checkpoint
  }
  return { trials, trained_epochs: epochs, full_training_epochs: candidates.length * rungs[rungs.length - 1] * seeds };
}
