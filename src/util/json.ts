/**
 * JSON key style. Every file this tool writes uses snake_case keys (result.json, prompts.json, eval and
 * report JSON, sidecars), like the official code's configs; in memory the library's option objects are
 * camelCase (nCtx, ctxInit), so they are converted at the file boundary, and older camelCase files still read.
 */

/** nCtx → n_ctx, imagesPerSecond → images_per_second; snake_case keys stay as they are. */
export function snakeCase(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

/** n_ctx → nCtx; camelCase keys stay as they are. */
export function camelCase(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The object with its keys in snake_case; `deep` converts nested objects and arrays of objects too. Only for
 * objects whose keys are field names, never for maps keyed by data (class names, dataset names).
 */
export function snakeKeys<T>(value: T, deep = false): T {
  const conv = (v: unknown): unknown => {
    if (Array.isArray(v)) return deep ? v.map(conv) : v;
    if (!isPlain(v)) return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [snakeCase(k), deep ? conv(x) : x]));
  };
  return conv(value) as T;
}

/** The object with its (field-name) keys in camelCase, one level. */
export function camelKeys<T extends object>(value: Record<string, unknown>): T {
  return Object.fromEntries(Object.entries(value).map(([k, x]) => [camelCase(k), x])) as T;
}
