/**
 * The parsers of every numeric command-line flag, in one place: a value is accepted only when it is a plain
 * decimal number, finite, inside the flag's range (and an integer where it must be); anything else is a
 * one-line UserError naming the flag and the value. `Number(x)` alone would accept '' (0), 'nan', 'inf',
 * '0x10' and '1e400'. Commander calls the returned functions with the raw string.
 */
import type { Command } from 'commander';
import { MAX_IMAGE_PIXELS } from '../data/image.js';
import { printable, UserError } from '../util/errors.js';

export interface Range {
  /** smallest value allowed (default 0) */
  min?: number;
  /** largest value allowed */
  max?: number;
  /** the value must be strictly greater than `min` (a learning rate of 0 trains nothing) */
  exclusiveMin?: boolean;
}

const INTEGER = /^[+]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
/** Seeds are MT19937 init words: 0..2^32-1. */
export const MAX_SEED = 0xffffffff;

function rangeText(r: Range, integer: boolean): string {
  const min = r.min ?? 0;
  const what = integer ? 'an integer' : 'a number';
  const lo = r.exclusiveMin ? `> ${min}` : `>= ${min}`;
  return r.max === undefined ? `${what} ${lo}` : `${what} ${lo} and <= ${r.max}`;
}

function check(flag: string, text: string, n: number, r: Range, integer: boolean): number {
  const min = r.min ?? 0;
  const ok = Number.isFinite(n) && (r.exclusiveMin ? n > min : n >= min) && (r.max === undefined || n <= r.max) && (!integer || Number.isSafeInteger(n));
  if (!ok) throw new UserError(`${flag} must be ${rangeText(r, integer)}, got '${printable(text)}'`);
  return n;
}

/** An integer flag value ('12'); throws a UserError otherwise. */
export function parseIntFlag(flag: string, value: string, range: Range = {}): number {
  const t = value.trim();
  if (!INTEGER.test(t)) throw new UserError(`${flag} must be ${rangeText(range, true)}, got '${printable(value)}'`);
  return check(flag, value, Number(t), range, true);
}

/** A finite decimal flag value ('0.0035', '2e-3'); throws a UserError otherwise. */
export function parseNumberFlag(flag: string, value: string, range: Range = {}): number {
  const t = value.trim();
  if (!DECIMAL.test(t)) throw new UserError(`${flag} must be ${rangeText(range, false)}, got '${printable(value)}'`);
  return check(flag, value, Number(t), range, false);
}

/** A comma-separated list of distinct integers ('1,2,3'): not empty, no repeats. */
export function parseIntListFlag(flag: string, value: string, range: Range = {}): number[] {
  const items = value.split(',').map((s) => s.trim());
  if (items.length === 0 || items.every((s) => s === '')) throw new UserError(`${flag} must list at least one value, got '${printable(value)}'`);
  if (items.some((s) => s === '')) throw new UserError(`${flag} has an empty item in '${printable(value)}'`);
  const out = items.map((s) => parseIntFlag(flag, s, range));
  const seen = new Set<number>();
  for (const n of out) {
    if (seen.has(n)) throw new UserError(`${flag} lists ${n} twice in '${printable(value)}'; each value runs once`);
    seen.add(n);
  }
  return out;
}

/** Commander parser for an integer flag. */
export function intFlag(flag: string, range: Range = {}): (value: string) => number {
  return (value) => parseIntFlag(flag, value, range);
}

/** Commander parser for a finite decimal flag. */
export function numberFlag(flag: string, range: Range = {}): (value: string) => number {
  return (value) => parseNumberFlag(flag, value, range);
}

/** Commander parser for a list of distinct integers. */
export function intListFlag(flag: string, range: Range = {}): (value: string) => number[] {
  return (value) => parseIntListFlag(flag, value, range);
}

/**
 * --max-image-pixels N for the commands that decode images. The decoder and its worker threads read the
 * limit from MPL_MAX_IMAGE_PIXELS (src/data/image.ts), so the flag sets that for this process.
 */
export function addMaxImagePixelsOption(cmd: Command): Command {
  return cmd
    .option(
      '--max-image-pixels <n>',
      `decoded-pixel limit per image: warn above it, refuse above twice it (default ${MAX_IMAGE_PIXELS}, PIL's; env MPL_MAX_IMAGE_PIXELS)`,
      intFlag('--max-image-pixels', { min: 1 }),
    )
    .hook('preAction', (c) => {
      const n = c.opts().maxImagePixels as number | undefined;
      if (n !== undefined) process.env.MPL_MAX_IMAGE_PIXELS = String(n);
    });
}
