/**
 * A bit-exact port of the parts of CPython's `random` module (Modules/_randommodule.c and
 * Lib/random.py, CPython 3.8–3.13) that Dassl and CoOp use to choose few-shot subsets and to generate
 * splits: the MT19937 generator, `seed(int)`, `getrandbits`, `_randbelow`, `random`, `sample`,
 * `shuffle`, `randint` and `randrange`.
 *
 * Why a port and not any PRNG: the official few-shot subsets (`split_fewshot/shot_K-seed_S.pkl`) are
 * whatever `random.sample` draws after `random.seed(S)`. Reproducing the same stream reproduces the same
 * images, so results are comparable with the published numbers without shipping the pickles.
 */

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

export class PyRandom {
  private readonly mt = new Uint32Array(N);
  private mti = N + 1;

  /** `random.Random(seed)`; `seed` is an integer (number or bigint), as in Python. */
  constructor(seed: number | bigint = 0) {
    this.seed(seed);
  }

  /** A generator seeded with init_by_array on these 32-bit words (see `seedArray`). */
  static fromWords(key: readonly number[]): PyRandom {
    const r = new PyRandom(0);
    r.seedArray(key);
    return r;
  }

  /**
   * `random.seed(a)` for an int `a`: the key is abs(a) split into 32-bit words, least significant
   * first (at least one word, so seed 0 is the key [0]), fed to MT19937's init_by_array.
   */
  seed(a: number | bigint): void {
    if (typeof a === 'number' && !Number.isSafeInteger(a)) {
      throw new RangeError(`PyRandom.seed: expected a safe integer, got ${a}`);
    }
    let n = BigInt(a);
    if (n < 0n) n = -n;
    const key: number[] = [];
    while (n > 0n) {
      key.push(Number(n & 0xffffffffn));
      n >>= 32n;
    }
    if (key.length === 0) key.push(0);
    this.initByArray(key);
  }

  /**
   * Seeds directly from 32-bit words with init_by_array (what `seed` does after splitting the int).
   * Used to derive independent streams from several numbers (run seed, epoch, sample index).
   */
  seedArray(key: readonly number[]): void {
    if (key.length === 0) throw new RangeError('PyRandom.seedArray: empty key');
    this.initByArray(key.map((k) => k >>> 0));
  }

  /**
   * MT19937's init_genrand(s): the state numpy's legacy `np.random.seed(s)` sets for a 32-bit integer
   * (CPython's `random.seed` uses init_by_array instead). See nprandom.ts.
   */
  seedGenrand(s: number): void {
    if (!Number.isInteger(s) || s < 0 || s > 0xffffffff) throw new RangeError(`seedGenrand: expected an integer in 0..2^32-1, got ${s}`);
    this.initGenrand(s);
  }

  private initGenrand(s: number): void {
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1];
      mt[i] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + i) >>> 0;
    }
    this.mti = N;
  }

  private initByArray(key: readonly number[]): void {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1;
    let j = 0;
    const len = key.length;
    for (let k = N > len ? N : len; k > 0; k--) {
      const prev = mt[i - 1];
      mt[i] = ((mt[i] ^ Math.imul(prev ^ (prev >>> 30), 1664525)) + key[j] + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
      if (j >= len) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1];
      mt[i] = ((mt[i] ^ Math.imul(prev ^ (prev >>> 30), 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
    }
    mt[0] = 0x80000000;
    this.mti = N;
  }

  /** genrand_uint32: the next 32-bit output of MT19937, tempered. */
  nextUint32(): number {
    const mt = this.mt;
    if (this.mti >= N) {
      if (this.mti === N + 1) this.initGenrand(5489);
      let kk = 0;
      let y: number;
      for (; kk < N - M; kk++) {
        y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
        mt[kk] = mt[kk + M] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
      }
      for (; kk < N - 1; kk++) {
        y = (mt[kk] & UPPER_MASK) | (mt[kk + 1] & LOWER_MASK);
        mt[kk] = mt[kk + (M - N)] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
      }
      y = (mt[N - 1] & UPPER_MASK) | (mt[0] & LOWER_MASK);
      mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
      this.mti = 0;
    }
    let y = mt[this.mti++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `random.random()`: 53 random bits as a double in [0, 1), exactly CPython's formula. */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
  }

  /**
   * `random.getrandbits(k)` for 0 <= k <= 53 (returned as an exact number). Words are drawn least
   * significant first and the last (most significant) word keeps its top bits, as in CPython.
   */
  getrandbits(k: number): number {
    if (!Number.isInteger(k) || k < 0) throw new RangeError('getrandbits: k must be a non-negative integer');
    if (k === 0) return 0;
    if (k <= 32) return this.nextUint32() >>> (32 - k);
    if (k > 53) throw new RangeError('getrandbits: k > 53 needs getrandbitsBig');
    const lo = this.nextUint32();
    const hi = this.nextUint32() >>> (64 - k);
    return hi * 4294967296 + lo;
  }

  /** `random.getrandbits(k)` for any k, as a bigint. */
  getrandbitsBig(k: number): bigint {
    if (!Number.isInteger(k) || k < 0) throw new RangeError('getrandbits: k must be a non-negative integer');
    let result = 0n;
    let shift = 0n;
    for (let left = k; left > 0; left -= 32) {
      let r = this.nextUint32();
      if (left < 32) r >>>= 32 - left;
      result |= BigInt(r) << shift;
      shift += 32n;
    }
    return result;
  }

  /** `Random._randbelow_with_getrandbits(n)`: rejection sampling on bit_length(n) bits; n >= 1. */
  randbelow(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`randbelow: n must be a positive integer, got ${n}`);
    const k = bitLength(n); // CPython uses n.bit_length(), not (n-1).bit_length()
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /** `random.randrange(start, stop)` with step 1: start + _randbelow(stop - start). */
  randrange(start: number, stop?: number): number {
    if (stop === undefined) {
      if (start <= 0) throw new RangeError('empty range for randrange()');
      return this.randbelow(start);
    }
    const width = stop - start;
    if (width <= 0) throw new RangeError(`empty range for randrange(${start}, ${stop})`);
    return start + this.randbelow(width);
  }

  /** `random.randint(a, b)`: a <= N <= b. */
  randint(a: number, b: number): number {
    return this.randrange(a, b + 1);
  }

  /** `random.shuffle(x)` in place (Fisher–Yates from the end, CPython's order of draws). */
  shuffle<T>(x: T[]): T[] {
    for (let i = x.length - 1; i > 0; i--) {
      const j = this.randbelow(i + 1);
      const t = x[i];
      x[i] = x[j];
      x[j] = t;
    }
    return x;
  }

  /**
   * `random.sample(population, k)` with CPython's two code paths: for a population no larger than a
   * k-sized set ("setsize"), a partial Fisher–Yates over a copy (pool); otherwise rejection against a
   * set of chosen indices. Which path runs changes which numbers are drawn, so both are needed.
   */
  sample<T>(population: readonly T[], k: number): T[] {
    const n = population.length;
    if (!Number.isInteger(k) || k < 0 || k > n) {
      throw new RangeError('Sample larger than population or is negative');
    }
    const result = new Array<T>(k);
    let setsize = 21; // size of a small set minus size of an empty list
    if (k > 5) setsize += 4 ** ceilLog4(k * 3); // table size for big sets
    if (n <= setsize) {
      const pool = population.slice();
      for (let i = 0; i < k; i++) {
        const j = this.randbelow(n - i);
        result[i] = pool[j];
        pool[j] = pool[n - i - 1]; // move non-selected item into vacancy
      }
    } else {
      const selected = new Set<number>();
      for (let i = 0; i < k; i++) {
        let j = this.randbelow(n);
        while (selected.has(j)) j = this.randbelow(n);
        selected.add(j);
        result[i] = population[j];
      }
    }
    return result;
  }
}

function bitLength(n: number): number {
  // Exact for safe integers (Math.clz32 only covers 32 bits).
  let bits = 0;
  while (n >= 4294967296) {
    n = Math.floor(n / 4294967296);
    bits += 32;
  }
  return bits + (32 - Math.clz32(n));
}

/**
 * ceil(log(x, 4)) as CPython's `_ceil(_log(k * 3, 4))`. Computed with integers: x = 3k is never a power
 * of 4, so the floating-point log is never close enough to an integer for rounding to matter, and the
 * smallest e with 4^e >= x is the same number.
 */
function ceilLog4(x: number): number {
  let e = 0;
  let p = 1;
  while (p < x) {
    p *= 4;
    e++;
  }
  return e;
}

/**
 * Python's built-in round() for floats (round half to even), which Dassl and torchvision use for
 * split sizes, crop sizes and crop offsets: round(2.5) == 2, round(3.5) == 4.
 */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
