/**
 * The valid range of a number a user gives (a flag, a sweep key, a config value, a library option), and the
 * words for it, so that every refusal states the range the same way: "an integer >= 1 and <= 16".
 */

export interface Range {
  /** smallest value allowed (default 0) */
  min?: number;
  /** largest value allowed */
  max?: number;
  /** the value must be strictly greater than `min` (a learning rate of 0 trains nothing) */
  exclusiveMin?: boolean;
  /** what a special value means, said with the range ("0 = all images") */
  note?: string;
}

/** "an integer >= 1 and <= 16", "a number > 0". */
export function rangeText(r: Range, integer: boolean): string {
  const min = r.min ?? 0;
  const what = integer ? 'an integer' : 'a number';
  const lo = r.exclusiveMin ? `> ${min}` : `>= ${min}`;
  const text = r.max === undefined ? `${what} ${lo}` : `${what} ${lo} and <= ${r.max}`;
  return r.note ? `${text} (${r.note})` : text;
}

/** Whether `n` is finite, inside the range and, when `integer`, a safe integer. */
export function inRange(n: number, r: Range, integer: boolean): boolean {
  const min = r.min ?? 0;
  return Number.isFinite(n) && (r.exclusiveMin ? n > min : n >= min) && (r.max === undefined || n <= r.max) && (!integer || Number.isSafeInteger(n));
}
