/**
 * The search driver with a synthetic objective (an executor that scores schedules by a formula, no model):
 * successive halving promotes exactly the best 1/eta of every rung, continues them to the full budget and
 * picks the best finalist; later rounds mutate the best so far; --max-step-ms keeps slow candidates out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { TrialExecutor } from '../../src/search/executors.js';
import type { SearchFile, TrialResult, TrialSpec } from '../../src/search/files.js';
import { byObjective } from '../../src/search/halving.js';
import { runSearch, type CandidateSummary } from '../../src/search/search.js';
import { parseSchedule } from '../../src/prompting/plan.js';
import { makeImageFolder } from '../e2e/fixtures.js';
import { tmpDir } from '../helpers.js';
import { goldenArch } from '../prompting/golden.js';

const work = tmpDir('mpl-search-halving-');
const root = path.join(work, 'images');
test.before(() => makeImageFolder(root, ['red', 'green', 'blue', 'yellow']));

/** A formula that prefers adding and removing 1 at each layer, improves with epochs, and is distinct per schedule. */
function score(t: TrialSpec): number {
  let v = 50 + t.epochs;
  for (const [layer, c] of parseSchedule(t.schedule)) v -= Math.abs(c.add - 1) * 3 + Math.abs(c.remove - 1) * 2 + layer * 0.01 * c.add;
  return v - t.depth * 0.5;
}

function syntheticExecutor(stepMs: (t: TrialSpec) => number = () => 1): TrialExecutor & { calls: TrialSpec[] } {
  const calls: TrialSpec[] = [];
  return {
    calls,
    async run(trials, onResult) {
      return trials.map((t) => {
        calls.push(t);
        const r: TrialResult = { ...t, objective: score(t), scores: { val: score(t) }, train_loss: 1, step_ms: stepMs(t), trained_epochs: 0, train_seconds: 0, eval_seconds: 0, finished_at: '' };
        onResult(r);
        return r;
      });
    },
    async close() {},
  };
}

function file(over: Partial<SearchFile['settings']> = {}): SearchFile {
  return {
    format: 'mpl-search/1',
    device: 'cpu',
    settings: {
      backbone: 'tiny_clip.safetensors',
      protocol: 'fewshot',
      dataset: 'imagefolder',
      root,
      shots: 4,
      seed: 3,
      seeds: [1],
      bounds: { depth: { min: 2, max: 4 }, add: { min: 0, max: 3 }, rm: { min: 0, max: 2 }, nCtx: 1 },
      candidates: 16,
      rounds: 1,
      eta: 2,
      min_epochs: 2,
      max_epochs: 8,
      lr: 0.0035,
      batch_size: 4,
      ctx_init: 'a photo of a',
      precision: 'fp32',
      allow_generated_split: false,
      ...over,
    },
  };
}

const rank = (c: CandidateSummary, epochs: number) => {
  const r = c.rungs.find((x) => x.epochs === epochs)!;
  return { objective: r.objective, parameters: c.parameters, order: Number(c.id.slice(1)) };
};

test('successive halving keeps the best half of each rung up to the full budget and picks the best finalist', async () => {
  const exec = syntheticExecutor();
  const r = await runSearch({ out: path.join(work, 'one'), file: file(), arch: goldenArch(), executor: exec });
  assert.deepEqual(r.rungs, [2, 4, 8]);
  assert.deepEqual([2, 4, 8].map((e) => exec.calls.filter((t) => t.epochs === e).length), [16, 8, 4]);
  assert.equal(r.candidates.length, 16);
  assert.equal(r.references.filter((x) => x.candidate).length, 2);
  // each rung's members are exactly the best survivors of the previous rung
  for (const [from, to, keep] of [[2, 4, 8], [4, 8, 4]] as const) {
    const before = r.candidates.filter((c) => c.rungs.some((x) => x.epochs === from));
    const expected = before.sort((a, b) => byObjective(rank(a, from), rank(b, from))).slice(0, keep).map((c) => c.id).sort();
    assert.deepEqual(r.candidates.filter((c) => c.rungs.some((x) => x.epochs === to)).map((c) => c.id).sort(), expected);
  }
  const finalists = r.candidates.filter((c) => c.epochs === 8);
  const best = finalists.reduce((a, b) => (byObjective(rank(a, 8), rank(b, 8)) <= 0 ? a : b));
  assert.equal(r.best!.id, best.id);
  assert.equal(r.best!.status, 'best');
  assert.equal(r.best!.objective, score({ ...best, candidate: best.id, seed: 1, epochs: 8 }));
  assert.match(r.best!.flags, /^--depth \d --schedule "[^"]+"$/);
  assert.deepEqual(r.candidates.map((c) => c.rank), Array.from({ length: 16 }, (_, i) => i + 1));
  assert.deepEqual(r.read_splits, ['train', 'val']);
  assert.equal(r.budget.trained_epochs, 8 * 2 + 4 * 4 + 4 * 8);
  assert.equal(r.budget.full_training_epochs, 16 * 8);
});

test('later rounds propose mutations of the best so far; the same seed proposes the same candidates', async () => {
  const r = await runSearch({ out: path.join(work, 'two'), file: file({ rounds: 2 }), arch: goldenArch(), executor: syntheticExecutor() });
  const round2 = r.candidates.filter((c) => c.round === 2);
  assert.equal(round2.length, 8);
  const finalists1 = r.candidates.filter((c) => c.round === 1 && c.epochs === 8).map((c) => c.id);
  const mutants = round2.filter((c) => c.origin.startsWith('mutation of '));
  assert.ok(mutants.length >= 6, round2.map((c) => c.origin).join(', '));
  for (const m of mutants) assert.ok(finalists1.includes(m.origin.slice('mutation of '.length)), m.origin);
  const again = await runSearch({ out: path.join(work, 'two-again'), file: file({ rounds: 2 }), arch: goldenArch(), executor: syntheticExecutor() });
  assert.deepEqual(again.candidates.map((c) => [c.id, c.schedule, c.objective]), r.candidates.map((c) => [c.id, c.schedule, c.objective]));
});

test('--max-step-ms: slower candidates neither continue nor win', async () => {
  const slow = (t: TrialSpec) => (t.depth === 2 ? 1 : 10);
  const r = await runSearch({ out: path.join(work, 'budget'), file: file(), arch: goldenArch(), executor: syntheticExecutor(slow), maxStepMs: 5 });
  for (const c of r.candidates) {
    if (c.depth > 2) {
      assert.equal(c.status, 'over budget');
      assert.equal(c.epochs, 2);
      assert.match(c.over_budget!, /10\.0 ms per step, above --max-step-ms 5/);
    }
  }
  assert.equal(r.best!.depth, 2);
});
