/**
 * The schedule space: MPL's per-layer add/remove counts within the bounds a user sets (depth range, tokens
 * added and removed per deep layer, optional budgets on trainable parameters and extra vision tokens).
 * A point is a depth D and one (add, rm) pair per deep layer 1..D-1, written as the `--schedule` string the
 * protocols take. Every point is checked by `designMethod` + `validatePlan` (the plan never removes more
 * prompts than the sequence holds). The paper's default (add 2 maps, remove 1 at every deep layer) and
 * MaPLe's replacement (add c, remove c) are points of the space, the references of every search.
 *
 * Proposals are seeded (CPython's Mersenne Twister, src/data/pyrandom.ts): uniform random schedules, or
 * mutations of good ones (one layer's add or remove moved by one step, the depth moved by one, a layer's
 * operation copied from its neighbour).
 */
import type { ClipArchitecture } from '../backbones/clip/model.js';
import { PyRandom } from '../data/pyrandom.js';
import { countParameters, designMethod } from '../prompting/methods/index.js';
import { validatePlan, imageTokensOf } from '../prompting/plan.js';
import { UserError } from '../util/errors.js';
import { MAX_N_ADD } from '../prompting/methods/options.js';

export interface IntRange {
  min: number;
  max: number;
}

export interface SearchBounds {
  /** prompt depth D (layers 0..D-1 carry prompts; deep layers 1..D-1 have an operation) */
  depth: IntRange;
  /** vision tokens added per deep layer: multiples of nCtx (each coupling map makes nCtx tokens) */
  add: IntRange;
  /** prompt tokens removed per deep layer */
  rm: IntRange;
  /** MPL's N_CTX: text context tokens, and tokens per coupling map */
  nCtx: number;
  /** budgets: trainable parameters, and prompt tokens in the vision sequence at any layer */
  maxParams?: number;
  maxTokens?: number;
}

export interface LayerOp {
  add: number;
  rm: number;
}

/** A point of the space: the depth and the operation of each deep layer (ops[i] is block i + 1). */
export interface Schedule {
  depth: number;
  ops: LayerOp[];
}

/** What a schedule costs, from the architecture alone. */
export interface ScheduleCost {
  parameters: number;
  /** the most prompt tokens the vision sequence holds at any layer */
  extraTokens: number;
}

/** "2-4" or "3": an inclusive integer range, for the flag named in errors. */
export function parseRange(flag: string, text: string, limit = 1000): IntRange {
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text);
  if (!m) throw new UserError(`${flag} must be a range FROM-TO or one integer (e.g. 2-4), got '${text}'`);
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : Number(m[2]);
  if (max < min) throw new UserError(`${flag} ${text}: the range is reversed (write ${max}-${min})`);
  if (max > limit) throw new UserError(`${flag} ${text}: at most ${limit}`);
  return { min, max };
}

/** The add counts the bounds allow: multiples of nCtx in the range. */
export function addValues(b: SearchBounds): number[] {
  const out: number[] = [];
  for (let a = b.add.min; a <= b.add.max; a++) if (a % b.nCtx === 0) out.push(a);
  return out;
}

/** Checks the bounds against the model; the first problem is a one-line error naming the flag. */
export function checkBounds(b: SearchBounds, arch: ClipArchitecture): void {
  const layers = Math.min(arch.vision.layers, arch.text.layers);
  if (b.depth.min < 2) throw new UserError(`--depth ${b.depth.min}-${b.depth.max}: the depth must be at least 2 (depth 1 has no deep layer to schedule)`);
  if (b.depth.max > layers) throw new UserError(`--depth ${b.depth.min}-${b.depth.max}: the model has ${layers} layers, so the depth is at most ${layers}`);
  if (addValues(b).length === 0) throw new UserError(`--add ${b.add.min}-${b.add.max} holds no multiple of --n-ctx ${b.nCtx} (each coupling map adds ${b.nCtx} tokens)`);
  // the ceiling of --n-add and --schedule (src/prompting/methods/options.ts): MAX_N_ADD coupling maps per layer
  if (b.add.max > MAX_N_ADD * b.nCtx) throw new UserError(`--add ${b.add.min}-${b.add.max}: at most ${MAX_N_ADD * b.nCtx} tokens per layer (${MAX_N_ADD} coupling maps × --n-ctx ${b.nCtx})`);
}

/** The `--schedule` string of a schedule: runs of equal layers merged ("1-3:add2,rm1;4:add0,rm0"). */
export function scheduleString(s: Schedule): string {
  const parts: string[] = [];
  for (let i = 0; i < s.ops.length; ) {
    let j = i;
    while (j + 1 < s.ops.length && s.ops[j + 1].add === s.ops[i].add && s.ops[j + 1].rm === s.ops[i].rm) j++;
    const layers = i === j ? `${i + 1}` : `${i + 1}-${j + 1}`;
    parts.push(`${layers}:add${s.ops[i].add},rm${s.ops[i].rm}`);
    i = j + 1;
  }
  return parts.join(';');
}

/** The protocol flags that train a schedule: `--depth D --schedule "..."` (and --n-ctx when not 1). */
export function scheduleFlags(s: Schedule, nCtx: number): string {
  return `${nCtx !== 1 ? `--n-ctx ${nCtx} ` : ''}--depth ${s.depth} --schedule "${scheduleString(s)}"`;
}

export const scheduleKey = (s: Schedule): string => `d${s.depth}|${scheduleString(s)}`;

/** Whether the removals never exceed the prompts in the sequence (the shallow prompt holds nCtx tokens). */
function removalsFit(s: Schedule, nCtx: number): boolean {
  let prompts = nCtx;
  for (const op of s.ops) {
    if (op.rm > prompts) return false;
    prompts += op.add - op.rm;
  }
  return true;
}

/** Parameters and extra tokens of a schedule, through the method design and `validatePlan`. */
export function scheduleCost(s: Schedule, nCtx: number, arch: ClipArchitecture): ScheduleCost {
  const design = designMethod('mpl', { nCtx, depth: s.depth, schedule: scheduleString(s) }, arch);
  const imageTokens = imageTokensOf(arch); // patches, and CLIP's class token
  const lengths = validatePlan(design.plan, arch);
  return { parameters: countParameters(design), extraTokens: Math.max(...lengths) - imageTokens };
}

/** Why a schedule is outside the space (bounds, validity, budgets), or null when it is inside. */
export function outsideBecause(s: Schedule, b: SearchBounds, arch: ClipArchitecture): string | null {
  if (s.depth < b.depth.min || s.depth > b.depth.max) return `depth ${s.depth} is outside --depth ${b.depth.min}-${b.depth.max}`;
  if (s.ops.length !== s.depth - 1) return `depth ${s.depth} needs ${s.depth - 1} layer operations`;
  const adds = addValues(b);
  for (const [i, op] of s.ops.entries()) {
    if (!adds.includes(op.add)) return `layer ${i + 1} adds ${op.add}, outside --add ${b.add.min}-${b.add.max} (multiples of ${b.nCtx})`;
    if (op.rm < b.rm.min || op.rm > b.rm.max) return `layer ${i + 1} removes ${op.rm}, outside --rm ${b.rm.min}-${b.rm.max}`;
  }
  if (!removalsFit(s, b.nCtx)) return 'it removes more prompts than the sequence holds';
  const cost = scheduleCost(s, b.nCtx, arch);
  if (b.maxParams !== undefined && cost.parameters > b.maxParams) return `${cost.parameters} trainable parameters, above --max-params ${b.maxParams}`;
  if (b.maxTokens !== undefined && cost.extraTokens > b.maxTokens) return `${cost.extraTokens} extra vision tokens, above --max-tokens ${b.maxTokens}`;
  return null;
}

/** The paper's depth (9) brought into the depth bounds. */
export function referenceDepth(b: SearchBounds): number {
  return Math.min(b.depth.max, Math.max(b.depth.min, 9));
}

export interface Reference {
  name: 'paper-default' | 'maple-replacement';
  label: string;
  schedule: Schedule;
}

/**
 * The two reference points at the paper's depth (brought into the bounds): MPL's default (N_ADD_OP 2 maps
 * of nCtx tokens, N_RM_OP 1, at every deep layer) and MaPLe's replacement (remove nCtx, add nCtx).
 */
export function references(b: SearchBounds): Reference[] {
  const D = referenceDepth(b);
  const uniform = (add: number, rm: number): Schedule => ({ depth: D, ops: Array.from({ length: D - 1 }, () => ({ add, rm })) });
  return [
    { name: 'paper-default', label: `paper default (add ${2 * b.nCtx}, rm 1 per layer, depth ${D})`, schedule: uniform(2 * b.nCtx, 1) },
    { name: 'maple-replacement', label: `MaPLe replacement (add ${b.nCtx}, rm ${b.nCtx} per layer, depth ${D})`, schedule: uniform(b.nCtx, b.nCtx) },
  ];
}

/**
 * How many schedules the bounds allow (validity included, budgets not): a count over (layer, prompts in the
 * sequence), for the report. Returned as a number; the spaces are far below 2^53 for any CLIP.
 */
export function spaceSize(b: SearchBounds): number {
  const adds = addValues(b);
  let total = 0;
  for (let D = b.depth.min; D <= b.depth.max; D++) {
    let ways = new Map<number, number>([[b.nCtx, 1]]);
    for (let l = 1; l < D; l++) {
      const next = new Map<number, number>();
      for (const [prompts, n] of ways) {
        for (const a of adds) {
          for (let r = b.rm.min; r <= Math.min(b.rm.max, prompts); r++) {
            const p = prompts + a - r;
            next.set(p, (next.get(p) ?? 0) + n);
          }
        }
      }
      ways = next;
    }
    for (const n of ways.values()) total += n;
  }
  return total;
}

const pick = <T>(rng: PyRandom, xs: readonly T[]): T => xs[rng.randrange(0, xs.length)];

/** A uniformly drawn schedule of a uniformly drawn depth (not yet checked for validity). */
export function randomSchedule(b: SearchBounds, rng: PyRandom): Schedule {
  const depth = rng.randint(b.depth.min, b.depth.max);
  const adds = addValues(b);
  return { depth, ops: Array.from({ length: depth - 1 }, () => ({ add: pick(rng, adds), rm: rng.randint(b.rm.min, b.rm.max) })) };
}

/** One small step from a schedule: a layer's add or remove by one step, the depth by one, a neighbour's op copied. */
export function mutate(s: Schedule, b: SearchBounds, rng: PyRandom): Schedule {
  const ops = s.ops.map((o) => ({ ...o }));
  const sign = rng.randint(0, 1) === 0 ? -1 : 1;
  const layer = rng.randrange(0, ops.length);
  switch (rng.randrange(0, 4)) {
    case 0:
      ops[layer].add += sign * b.nCtx;
      break;
    case 1:
      ops[layer].rm += sign;
      break;
    case 2:
      if (sign > 0) ops.push({ ...ops[ops.length - 1] });
      else ops.pop();
      break;
    default: {
      const from = layer + sign;
      if (from >= 0 && from < ops.length) ops[layer] = { ...ops[from] };
      else ops[layer].rm += sign;
    }
  }
  return { depth: ops.length + 1, ops };
}

/** The seeded random stream of one round's proposals (independent of what earlier rounds drew). */
export function proposalRng(seed: number, round: number): PyRandom {
  return PyRandom.fromWords([seed, round, 0x70726f70 /* 'prop' */]);
}

/** A proposed schedule and, for a mutation, the index of its parent. */
export interface Proposal {
  schedule: Schedule;
  parent?: number;
}

/**
 * `count` new schedules inside the space, none in `seen` (which is updated): mutations of the parents in
 * turn when there are parents, else (and when mutation finds nothing new) uniform random draws. Fewer
 * come back when the space has no more (the caller says so).
 */
export function propose(b: SearchBounds, arch: ClipArchitecture, rng: PyRandom, count: number, seen: Set<string>, parents: Schedule[] = []): Proposal[] {
  const out: Proposal[] = [];
  const accept = (schedule: Schedule, parent?: number): boolean => {
    const key = scheduleKey(schedule);
    if (seen.has(key) || schedule.ops.length === 0 || outsideBecause(schedule, b, arch) !== null) return false;
    seen.add(key);
    out.push(parent === undefined ? { schedule } : { schedule, parent });
    return true;
  };
  // parents take turns; one whose neighbourhood is used up gives way to the next after 20 misses
  let p = 0;
  let misses = 0;
  for (let tries = 0; out.length < count && tries < 200 * count && parents.length > 0; tries++) {
    const parent = p % parents.length;
    if (accept(mutate(parents[parent], b, rng), parent) || ++misses === 20) {
      p++;
      misses = 0;
    }
  }
  for (let tries = 0; out.length < count && tries < 2000 * count; tries++) accept(randomSchedule(b, rng));
  return out;
}
