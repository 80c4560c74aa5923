/**
 * The one formatter of printed figures rounds as Python's format() does (parse_test_res.py prints with it):
 * exact binary value, ties to even. The expected strings are Python 3.11's format(x, '.2f') / '.4e' output,
 * written here by hand (each value is a case where JavaScript's toFixed differs or could).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixed, percent, scientific, thousands } from '../../src/util/format.js';

test('fixed() rounds like Python: exact binary value, ties half to even', () => {
  const cases: Array<[number, string]> = [
    [74.125, '74.12'], // an exact tie: toFixed gives 74.13
    [0.125, '0.12'],
    [0.375, '0.38'],
    [0.625, '0.62'],
    [0.875, '0.88'],
    [2.675, '2.67'], // below the tie in binary
    [1.005, '1.00'],
    [12.345, '12.35'], // above the tie in binary
    [73.666666666, '73.67'],
    [100, '100.00'],
    [0, '0.00'],
    [-0.001, '-0.00'],
    [99.995, '100.00'],
  ];
  for (const [x, want] of cases) assert.equal(percent(x), want, String(x));
  assert.notEqual((74.125).toFixed(2), percent(74.125), 'the case that made a formatter of our own necessary');
  assert.equal(fixed(0.5, 0), '0');
  assert.equal(fixed(1.5, 0), '2');
  assert.equal(fixed(2.5, 0), '2');
  assert.equal(fixed(-2.5, 0), '-2');
  assert.equal(fixed(1 / 3, 5), '0.33333');
  // an accuracy is 100·correct/total: every such value with total ≤ 2000 agrees with toFixed except at exact ties
  for (let total = 1; total <= 2000; total += 7) {
    for (let correct = 0; correct <= total; correct += Math.max(1, Math.floor(total / 13))) {
      const a = (100 * correct) / total;
      const tie = Number.isInteger(a * 1000) && (a * 1000) % 10 === 5;
      if (!tie) assert.equal(percent(a), a.toFixed(2), `${correct}/${total}`);
    }
  }
  assert.throws(() => percent(NaN), /non-finite/);
  assert.throws(() => percent(Infinity), /non-finite/);
});

test('scientific() writes exponents as Python does; thousands() as format(n, ",")', () => {
  assert.equal(scientific(0.0035), '3.5000e-03');
  assert.equal(scientific(1e-5), '1.0000e-05');
  assert.equal(scientific(123456), '1.2346e+05');
  assert.equal(scientific(0), '0.0000e+00');
  assert.equal(scientific(0.0035, 6), '3.500000e-03');
  assert.equal(thousands(1234567), '1,234,567');
  assert.equal(thousands(999), '999');
});
