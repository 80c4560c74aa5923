/**
 * The one place where figures become text. Every accuracy, HM and spread the tool prints (terminal, log.txt,
 * Markdown, LaTeX, HTML, figures) goes through `fixed`, so a number reads the same everywhere, and the same as
 * Python prints it: `f"{x:.2f}"` rounds the exact binary value half to even (74.125 -> "74.12"), where
 * JavaScript's `toFixed` rounds ties up ("74.13"). The official parse_test_res.py formats with Python, so a
 * figure here and there can only agree if both round alike. JSON and CSV keep full precision (machine
 * readable); rounding one of their values with `fixed` gives exactly the printed text.
 */

/** x with `decimals` digits after the point, rounded as Python's format(x, '.Nf') does. Throws on NaN/inf. */
export function fixed(x: number, decimals = 2): string {
  if (!Number.isFinite(x)) throw new Error(`fixed(): a non-finite figure (${x}) must never be printed`);
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 20) throw new Error(`fixed(): decimals ${decimals}`);
  // toFixed(100) is the exact decimal expansion of the double for |x| < 1e21 (every figure we print)
  if (Math.abs(x) >= 1e21) return x.toFixed(decimals);
  const exact = Math.abs(x).toFixed(100);
  const point = exact.indexOf('.');
  const whole = exact.slice(0, point);
  const frac = exact.slice(point + 1);
  const kept = whole + frac.slice(0, decimals);
  const rest = frac.slice(decimals).replace(/0+$/, '');
  let digits = BigInt(kept);
  // round half to even on the exact value
  if (rest !== '') {
    const first = rest.charCodeAt(0) - 48;
    const tie = first === 5 && rest.length === 1;
    if (first > 5 || (first === 5 && !tie) || (tie && digits % 2n === 1n)) digits += 1n;
  }
  let s = digits.toString().padStart(decimals + 1, '0');
  if (decimals > 0) s = `${s.slice(0, s.length - decimals)}.${s.slice(s.length - decimals)}`;
  // Python keeps the sign of a negative value that rounds to zero ('-0.00')
  return x < 0 || Object.is(x, -0) ? `-${s}` : s;
}

/** A percentage as every table and log prints it: two decimals ("74.12"). */
export function percent(x: number): string {
  return fixed(x, 2);
}

/**
 * Scientific notation as Python's format(x, '.Ne') writes it, with a sign and at least two exponent digits
 * ("3.5000e-03", where JavaScript writes "3.5000e-3"): Dassl prints learning rates so.
 */
export function scientific(x: number, digits = 4): string {
  if (!Number.isFinite(x)) throw new Error(`scientific(): a non-finite figure (${x}) must never be printed`);
  const [mantissa, exponent] = x.toExponential(digits).split('e');
  const e = Number(exponent);
  return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

/** "1,234" as Python's format(n, ',') (Dassl's `* total: 1,234`). */
export function thousands(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
