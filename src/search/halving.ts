/**
 * Successive halving (Jamieson & Talwalkar 2016; the inner loop of Hyperband, Li et al. 2017): every
 * candidate trains a short budget, the best 1/eta continue to eta times the budget, and so on until the full
 * budget. The budget is epochs of ONE training schedule of `maxEpochs` epochs (Dassl's warm-up + cosine):
 * a candidate promoted from 2 to 4 epochs continues its own checkpoint, so no epoch is trained twice.
 */
import { UserError } from '../util/errors.js';

/** The epochs of each rung: min, min·eta, min·eta², ... capped at and ending with max. */
export function rungEpochs(minEpochs: number, maxEpochs: number, eta: number): number[] {
  if (!Number.isInteger(eta) || eta < 2) throw new UserError(`--eta must be an integer >= 2, got ${eta}`);
  if (!(minEpochs >= 1 && minEpochs <= maxEpochs)) throw new UserError(`--min-epochs ${minEpochs} must be between 1 and --max-epochs ${maxEpochs}`);
  const out = [minEpochs];
  while (out[out.length - 1] < maxEpochs) out.push(Math.min(maxEpochs, out[out.length - 1] * eta));
  return out;
}

/** How many of n candidates continue to the next rung: n / eta, at least one. */
export function survivors(n: number, eta: number): number {
  return Math.max(1, Math.floor(n / eta));
}

/** The candidates of each round: `total` split as evenly as possible, the first rounds taking the remainder. */
export function roundSizes(total: number, rounds: number): number[] {
  if (rounds > total) throw new UserError(`--rounds ${rounds} is more than --candidates ${total}: each round needs a candidate`);
  return Array.from({ length: rounds }, (_, i) => Math.floor(total / rounds) + (i < total % rounds ? 1 : 0));
}

export interface Ranked {
  /** mean objective over the seeds */
  objective: number;
  parameters: number;
  /** proposal order: the last tie-breaker, so a ranking never depends on anything but the results */
  order: number;
}

/** Best first: higher objective, then fewer trainable parameters, then proposed earlier. */
export function byObjective(a: Ranked, b: Ranked): number {
  return b.objective - a.objective || a.parameters - b.parameters || a.order - b.order;
}

/**
 * The Pareto front of points to maximise y while minimising x: the indices of the points no other point
 * beats on both (ties on x keep the higher y), in increasing x.
 */
export function paretoFront(points: ReadonlyArray<{ x: number; y: number }>): number[] {
  const order = points.map((_, i) => i).sort((i, j) => points[i].x - points[j].x || points[j].y - points[i].y);
  const front: number[] = [];
  let best = -Infinity;
  for (const i of order) {
    if (points[i].y > best) {
      front.push(i);
      best = points[i].y;
    }
  }
  return front;
}
