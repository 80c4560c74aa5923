/**
 * Run configurations as plain JSON values: a canonical text (keys sorted) so that equal configurations hash
 * equally, a short hash for folder names, and the list of differences between two configurations for the
 * errors that refuse to reuse a result or resume a checkpoint written with other settings.
 *
 * Hand-written rather than a dependency: both functions are a dozen lines over JSON values, and the exact
 * text must never change between versions (it names run folders).
 */
import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level; `undefined` members are dropped (as JSON.stringify does). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The first `length` hex digits of the SHA-256 of the canonical JSON. */
export function configHash(value: unknown, length = 8): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, length);
}

/** Flattens nested objects to `a.b.c` paths (arrays are compared as whole values). */
function flatten(value: unknown, prefix: string, out: Map<string, string>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v !== undefined) flatten(v, prefix ? `${prefix}.${k}` : k, out);
    }
  } else {
    out.set(prefix, canonicalJson(value));
  }
}

/**
 * The differences between a saved configuration and the one asked for now, one `key: saved → now` string
 * each (`(none)` where a side lacks the key), in key order. Empty when they are equal.
 */
export function configDiff(saved: unknown, now: unknown): string[] {
  const a = new Map<string, string>();
  const b = new Map<string, string>();
  flatten(saved, '', a);
  flatten(now, '', b);
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  return keys.filter((k) => a.get(k) !== b.get(k)).map((k) => `${k || '(value)'}: ${a.get(k) ?? '(none)'} → ${b.get(k) ?? '(none)'}`);
}

/** At most `max` differences on one line, then how many more. */
export function describeDiff(diff: string[], max = 6): string {
  const shown = diff.slice(0, max).join('; ');
  return diff.length > max ? `${shown}; and ${diff.length - max} more` : shown;
}
