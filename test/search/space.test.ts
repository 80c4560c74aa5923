/** The schedule space, proposals and the successive-halving arithmetic, without any model. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { knownArchitectures } from '../../src/backbones/clip/config.js';
import { designMethod } from '../../src/prompting/methods/index.js';
import { parseSchedule, validatePlan } from '../../src/prompting/plan.js';
import { paretoFront, roundSizes, rungEpochs, survivors } from '../../src/search/halving.js';
import { pseudoSplit } from '../../src/search/objective.js';
import {
  addValues,
  checkBounds,
  mutate,
  outsideBecause,
  parseRange,
  propose,
  proposalRng,
  references,
  scheduleCost,
  scheduleKey,
  scheduleString,
  spaceSize,
  type Schedule,
  type SearchBounds,
} from '../../src/search/space.js';
import { goldenArch } from '../prompting/golden.js';

const tiny = goldenArch(); // 4 layers
const vitb16 = knownArchitectures['ViT-B/16'];
const bounds = (over: Partial<SearchBounds> = {}): SearchBounds => ({ depth: { min: 2, max: 4 }, add: { min: 0, max: 3 }, rm: { min: 0, max: 2 }, nCtx: 1, ...over });

/** Every schedule of the bounds by brute force (validity by the plan check itself). */
function enumerate(b: SearchBounds): Schedule[] {
  const out: Schedule[] = [];
  const adds = addValues(b);
  const rec = (depth: number, ops: Schedule['ops']) => {
    if (ops.length === depth - 1) {
      out.push({ depth, ops: ops.map((o) => ({ ...o })) });
      return;
    }
    for (const add of adds) for (let rm = b.rm.min; rm <= b.rm.max; rm++) rec(depth, [...ops, { add, rm }]);
  };
  for (let d = b.depth.min; d <= b.depth.max; d++) rec(d, []);
  return out.filter((s) => {
    try {
      validatePlan(designMethod('mpl', { nCtx: b.nCtx, depth: s.depth, schedule: scheduleString(s) }, tiny).plan, tiny);
      return true;
    } catch {
      return false;
    }
  });
}

test('ranges parse, and bad ones are one-line errors naming the flag', () => {
  assert.deepEqual(parseRange('--depth', '2-4'), { min: 2, max: 4 });
  assert.deepEqual(parseRange('--add', '3'), { min: 3, max: 3 });
  assert.throws(() => parseRange('--rm', '2-1'), /--rm 2-1: the range is reversed/);
  assert.throws(() => parseRange('--rm', 'a-b'), /--rm must be a range/);
  assert.throws(() => parseRange('--rm', '-1'), /--rm must be a range/);
  assert.throws(() => checkBounds(bounds({ depth: { min: 1, max: 3 } }), tiny), /depth must be at least 2/);
  assert.throws(() => checkBounds(bounds({ depth: { min: 2, max: 5 } }), tiny), /the model has 4 layers/);
  assert.throws(() => checkBounds(bounds({ nCtx: 2, add: { min: 1, max: 1 } }), tiny), /no multiple of --n-ctx 2/);
  checkBounds(bounds(), tiny);
});

test('a schedule string is what --schedule parses, and its cost is the method design\'s', () => {
  const s: Schedule = { depth: 5, ops: [{ add: 2, rm: 1 }, { add: 2, rm: 1 }, { add: 0, rm: 2 }, { add: 3, rm: 0 }] };
  assert.equal(scheduleString(s), '1-2:add2,rm1;3:add0,rm2;4:add3,rm0');
  const parsed = parseSchedule(scheduleString(s));
  assert.deepEqual([...parsed.entries()], s.ops.map((o, i) => [i + 1, { add: o.add, remove: o.rm }]));
  // the paper's default at depth 9 on ViT-B/16 is MPL's default: 6,702,336 parameters (mpl plan)
  const paper = references(bounds({ depth: { min: 2, max: 12 } }))[0];
  assert.equal(paper.name, 'paper-default');
  assert.equal(scheduleString(paper.schedule), '1-8:add2,rm1');
  assert.equal(scheduleCost(paper.schedule, 1, vitb16).parameters, 6702336);
  assert.equal(scheduleCost(paper.schedule, 1, vitb16).extraTokens, 9);
});

test('the references are points of the space at the paper\'s depth brought into the bounds', () => {
  const [paper, maple] = references(bounds());
  assert.equal(paper.schedule.depth, 4);
  assert.equal(scheduleString(paper.schedule), '1-3:add2,rm1');
  assert.equal(scheduleString(maple.schedule), '1-3:add1,rm1');
  assert.equal(outsideBecause(paper.schedule, bounds(), tiny), null);
  assert.equal(outsideBecause(maple.schedule, bounds(), tiny), null);
  const two = references(bounds({ nCtx: 2, add: { min: 0, max: 4 } }));
  assert.equal(scheduleString(two[0].schedule), '1-3:add4,rm1');
  assert.equal(scheduleString(two[1].schedule), '1-3:add2,rm2');
  assert.match(outsideBecause(paper.schedule, bounds({ add: { min: 0, max: 1 } }), tiny)!, /adds 2, outside --add 0-1/);
  assert.match(outsideBecause(paper.schedule, bounds({ maxParams: 1000 }), tiny)!, /above --max-params 1000/);
});

test('the size of the space is the count of valid schedules; removals beyond the prompts are outside', () => {
  for (const b of [bounds(), bounds({ depth: { min: 2, max: 3 }, rm: { min: 1, max: 3 } }), bounds({ nCtx: 2, add: { min: 1, max: 4 } })]) {
    assert.equal(spaceSize(b), enumerate(b).length);
  }
  assert.match(outsideBecause({ depth: 2, ops: [{ add: 0, rm: 2 }] }, bounds(), tiny)!, /removes more prompts than the sequence holds/);
});

test('proposals: inside every bound and budget, distinct, seeded, and mutations stay near their parent', () => {
  const b = bounds({ maxTokens: 5, maxParams: 120_000 });
  const seen = new Set<string>();
  const first = propose(b, tiny, proposalRng(1, 1), 40, seen);
  assert.equal(first.length, 40);
  assert.equal(new Set(first.map((p) => scheduleKey(p.schedule))).size, 40);
  for (const { schedule } of first) {
    assert.equal(outsideBecause(schedule, b, tiny), null, scheduleString(schedule));
    assert.ok(scheduleCost(schedule, 1, tiny).extraTokens <= 5);
    assert.ok(schedule.depth >= 2 && schedule.depth <= 4);
    for (const op of schedule.ops) assert.ok(op.add <= 3 && op.rm <= 2);
  }
  const again = propose(b, tiny, proposalRng(1, 1), 40, new Set());
  assert.deepEqual(again, first);
  const other = propose(b, tiny, proposalRng(2, 1), 40, new Set());
  assert.notDeepEqual(other.map((p) => scheduleKey(p.schedule)), first.map((p) => scheduleKey(p.schedule)));
  // a small space is exhausted, not looped over forever
  const small = bounds({ depth: { min: 2, max: 2 }, add: { min: 0, max: 1 }, rm: { min: 0, max: 1 } });
  assert.equal(propose(small, tiny, proposalRng(1, 1), 10, new Set()).length, spaceSize(small));
  // mutations: one step from the parent (a layer's op, or the depth by one)
  const parent: Schedule = { depth: 3, ops: [{ add: 2, rm: 1 }, { add: 2, rm: 1 }] };
  const kids = propose(bounds(), tiny, proposalRng(1, 2), 8, new Set([scheduleKey(parent)]), [parent]);
  assert.equal(kids.length, 8);
  for (const k of kids) {
    assert.equal(k.parent, 0);
    const s = k.schedule;
    const changedOps = s.ops.filter((o, i) => i >= parent.ops.length || o.add !== parent.ops[i].add || o.rm !== parent.ops[i].rm).length;
    assert.ok(Math.abs(s.depth - parent.depth) + (s.depth === parent.depth ? changedOps : 0) === 1, `${scheduleString(s)} is one step from ${scheduleString(parent)}`);
  }
  const rng = proposalRng(3, 1);
  for (let i = 0; i < 200; i++) {
    const m = mutate(parent, bounds(), rng);
    assert.ok(Math.abs(m.depth - parent.depth) <= 1);
  }
});

test('successive halving: rung budgets, survivors, rounds, Pareto front; the pseudo split', () => {
  assert.deepEqual(rungEpochs(2, 5, 2), [2, 4, 5]);
  assert.deepEqual(rungEpochs(1, 9, 3), [1, 3, 9]);
  assert.deepEqual(rungEpochs(5, 5, 2), [5]);
  assert.throws(() => rungEpochs(6, 5, 2), /--min-epochs 6/);
  assert.deepEqual([16, 8, 4, 3, 1].map((n) => survivors(n, 2)), [8, 4, 2, 1, 1]);
  assert.deepEqual(roundSizes(16, 3), [6, 5, 5]);
  assert.throws(() => roundSizes(2, 3), /--rounds 3 is more than --candidates 2/);
  const pts = [{ x: 3, y: 50 }, { x: 1, y: 40 }, { x: 2, y: 40 }, { x: 4, y: 60 }, { x: 5, y: 55 }, { x: 1, y: 45 }];
  assert.deepEqual(paretoFront(pts), [5, 0, 3]);
  const a = pseudoSplit(7, 1);
  assert.equal(a.base.length, 4);
  assert.deepEqual([...a.base, ...a.novel].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(pseudoSplit(7, 1), a);
  assert.notDeepEqual([1, 2, 3, 4, 5].map((seed) => pseudoSplit(7, seed).base.join()), Array(5).fill(a.base.join()));
  assert.throws(() => pseudoSplit(1, 1), /at least 2 base classes/);
});
