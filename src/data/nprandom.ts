/**
 * The parts of numpy's legacy global generator (`np.random.seed`, `np.random.choice`, numpy's
 * numpy/random/mtrand.pyx and _mt19937.pyx, numpy 1.17 to 2.x) that CoOp's linear-probe script (lpclip's
 * linear_probe.py) draws its few-shot samples with, bit-exact:
 *
 *   np.random.seed(seed)
 *   for label in np.unique(train_label):
 *       np.random.choice(np.where(train_label == label)[0], size=K, replace=False)
 *   (then the same over the validation labels with min(K, 4))
 *
 * `seed(int)` is MT19937's init_genrand (not CPython's init_by_array); `choice(a, k, replace=False)` without
 * probabilities is `permutation(len(a))[:k]`, and the permutation is the legacy Fisher-Yates shuffle whose
 * draws are `random_interval` (mask rejection on 32-bit outputs).
 */
import { UserError } from '../util/errors.js';
import { PyRandom } from './pyrandom.js';

export class NumpyRandomState {
  private readonly mt = new PyRandom(0);

  /** `np.random.RandomState(seed)` / `np.random.seed(seed)` for an integer seed in 0..2^32-1. */
  constructor(seed: number) {
    this.seed(seed);
  }

  seed(seed: number): void {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new UserError(`numpy seeds are integers in 0..2^32-1, got ${seed}`);
    this.mt.seedGenrand(seed);
  }

  /** `random_interval(max)`: uniform on 0..max, by rejection of `next_uint32() & mask` (max < 2^32 here). */
  randomInterval(max: number): number {
    if (max === 0) return 0;
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let value: number;
    while ((value = (this.mt.nextUint32() & mask) >>> 0) > max);
    return value;
  }

  /** `shuffle(x)` of a 1-d array, in place: for i = n-1 .. 1, swap x[i] with x[random_interval(i)]. */
  shuffle<T>(x: T[]): T[] {
    for (let i = x.length - 1; i >= 1; i--) {
      const j = this.randomInterval(i);
      const t = x[i];
      x[i] = x[j];
      x[j] = t;
    }
    return x;
  }

  /** `permutation(n)`: a shuffled arange(n). */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /** `choice(a, size=k, replace=False)` without probabilities: a[permutation(len(a))[:k]]. */
  choiceWithoutReplacement<T>(a: readonly T[], k: number): T[] {
    if (!Number.isInteger(k) || k < 0) throw new RangeError(`choice: size must be a non-negative integer, got ${k}`);
    if (k > a.length) throw new UserError(`cannot take a sample of ${k} from ${a.length} items without replacement`);
    return this.permutation(a.length).slice(0, k).map((i) => a[i]);
  }
}

/**
 * lpclip's sampling: after `np.random.seed(seed)`, for each label in ascending order, `choice` of `shots`
 * positions among that label's positions in `labels` (list order); then, with the same generator, the same
 * over `valLabels` with `valShots`. Returns positions into the two lists. A class with fewer items than asked
 * is an error, as numpy's (the official script assumes every class has enough).
 */
export function lpclipSample(labels: readonly number[], valLabels: readonly number[], shots: number, valShots: number, seed: number): { train: number[]; val: number[] } {
  const rng = new NumpyRandomState(seed);
  const draw = (ys: readonly number[], k: number, what: string): number[] => {
    const unique = [...new Set(labels)].sort((a, b) => a - b); // np.unique(train_label): both draws loop over the TRAIN labels
    return unique.flatMap((label) => {
      const positions = ys.flatMap((y, i) => (y === label ? [i] : []));
      if (positions.length < k) throw new UserError(`the ${what} split has ${positions.length} image${positions.length === 1 ? '' : 's'} of class ${label}, fewer than the ${k} the linear probe draws (lpclip samples without replacement)`);
      return rng.choiceWithoutReplacement(positions, k);
    });
  };
  const train = draw(labels, shots, 'train');
  const val = draw(valLabels, valShots, 'val');
  return { train, val };
}
