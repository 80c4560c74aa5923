/**
 * The fuzzing harness of test/fuzz/: fast-check with a fixed seed and bounded cases; each input must end in a
 * result or in one of the parser's own one-line errors, never in a TypeError, RangeError, hang or unbounded
 * allocation. (No tests here.)
 */
import type { TestContext } from 'node:test';
import fc from 'fast-check';

export const SEED = 20_250_211;
/** Each property call must finish well within this (a hang or a runaway loop fails the case). */
export const MAX_MS_PER_CASE = 2000;

/**
 * Runs `parse` on every generated input: it may return (then `check` looks at the result) or throw one of
 * `allowed`, with a one-line message. Returns the number of cases run.
 */
export function fuzz<T>(
  t: TestContext,
  name: string,
  arb: fc.Arbitrary<T>,
  numRuns: number,
  parse: (input: T) => unknown,
  allowed: Array<new (...a: never[]) => Error>,
  check: (result: unknown, input: T) => void = () => {},
): number {
  let cases = 0;
  fc.assert(
    fc.property(arb, (input) => {
      cases++;
      const t0 = Date.now();
      let result: unknown;
      try {
        result = parse(input);
      } catch (e) {
        if (!allowed.some((cls) => e instanceof cls)) throw new Error(`${name}: unexpected ${(e as Error).name}: ${(e as Error).stack}`);
        const msg = (e as Error).message;
        if (msg.includes('\n')) throw new Error(`${name}: a multi-line message: ${JSON.stringify(msg)}`);
        if (msg.length === 0) throw new Error(`${name}: an empty message`);
        return;
      } finally {
        const ms = Date.now() - t0;
        if (ms > MAX_MS_PER_CASE) throw new Error(`${name}: one case took ${ms} ms`);
      }
      check(result, input);
    }),
    { seed: SEED, numRuns },
  );
  t.diagnostic(`${name}: ${cases} cases`);
  return cases;
}

/** A byte array with a few positions overwritten, a range deleted or the end cut off. */
export function mutated(base: Uint8Array): fc.Arbitrary<Uint8Array> {
  const n = base.byteLength;
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(n - 1), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(n - 1), value: fc.constant(0) }),
    fc.record({ kind: fc.constant('del' as const), at: fc.nat(n - 1), value: fc.integer({ min: 1, max: 64 }) }),
  );
  return fc.array(edit, { minLength: 1, maxLength: 6 }).map((edits) => {
    let b = Uint8Array.from(base);
    for (const e of edits) {
      if (e.at >= b.byteLength) continue;
      if (e.kind === 'set') b[e.at] = e.value;
      else if (e.kind === 'cut') b = b.slice(0, e.at);
      else b = Uint8Array.from([...b.subarray(0, e.at), ...b.subarray(e.at + e.value)]);
    }
    return b;
  });
}

/** Strings of any code points, or of a small alphabet rich in separators, quotes and control characters. */
export function text(maxLength: number): fc.Arbitrary<string> {
  const tricky = fc.constantFrom(...'ab1-:,;/.e \n\r\t"\'\\\u0000\u001b\u2028é'.split(''));
  return fc.oneof(fc.string({ unit: 'binary', maxLength }), fc.string({ unit: tricky, maxLength }));
}

/** Integers that hit the edges: small, negative, around 2^31 / 2^32 / 2^53, and non-integers. */
export const edgyNumber = fc.oneof(
  fc.integer({ min: -3, max: 64 }),
  fc.constantFrom(2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 31), 1e300, 0.5, -0),
  fc.double(),
);

