/**
 * Reading the YAML and JSON files users give (config files, sweep files, split files, few-shot caches,
 * prompts.json, the state files) in time linear in their size, within stated limits, each refusal a one-line
 * error naming the file (docs/reliability.md, "Parsing limits"):
 *   - config and sweep files (YAML or JSON) at most MAX_CONFIG_BYTES (1 MiB; a Dassl config is 1-2 KB, a
 *     large sweep file a few KB), refused from their size before they are read. The `yaml` package checks duplicate keys by comparing each key with
 *     every earlier one of its mapping (quadratic: 200,000 keys took minutes), so it parses with
 *     `uniqueKeys: false` and duplicates are found here with a set; aliases are bounded (`maxAliasCount`,
 *     against "billion laughs").
 *   - JSON data files (split files, few-shot caches, prompts.json, results) at most MAX_JSON_BYTES (256 MiB,
 *     below V8's largest string); V8's JSON.parse is linear and not recursive.
 *   - Nesting at most MAX_DEPTH (64) levels, checked without recursion right after parsing: the code that
 *     walks configurations (flattening, comparing, hashing) recurses, and a file nested 100,000 deep would
 *     end it in a stack overflow. (These files are 2-5 levels deep.)
 */
import * as fs from 'node:fs';
import { isMap, isScalar, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { fileError } from './errors.js';

export const MAX_CONFIG_BYTES = 1 << 20;
export const MAX_JSON_BYTES = 256 << 20;
export const MAX_DEPTH = 64;
/** YAML aliases expanded at most (the yaml package's default is 100 too). */
const MAX_ALIASES = 100;

const mib = (n: number) => `${n / (1 << 20)} MiB`;

/**
 * A text file of at most `maxBytes`, refused from its size before it is read. `what` says what it is in
 * errors ("config file"); read errors name the file and the reason.
 */
export function readTextFile(file: string, maxBytes: number, what: string): string {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw fileError(file, code === 'ENOENT' ? `${what} not found` : `cannot read the ${what} (${code ?? (e as Error).message})`);
  }
  if (size > maxBytes) throw fileError(file, `${size} bytes: more than a ${what} may have (${mib(maxBytes)}); is it the right file?`);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw fileError(file, `cannot read the ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Throws when `value` nests arrays and objects deeper than `max` levels (no recursion: any depth is safe to check). */
export function checkDepth(value: unknown, where: string, max = MAX_DEPTH): void {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) throw fileError(where, `nested more than ${max} levels deep; not a file this tool writes or reads`);
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
}

/** JSON text, parsed and its nesting checked; errors name `where`. */
export function parseJsonText(text: string, where: string, maxDepth = MAX_DEPTH): unknown {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw fileError(where, `not valid JSON (${(e as Error).message})`);
  }
  checkDepth(v, where, maxDepth);
  return v;
}

/** YAML text (JSON is YAML too) in linear time: duplicate keys refused with their line, aliases and nesting bounded. */
export function parseYamlText(text: string, where: string, maxDepth = MAX_DEPTH): unknown {
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false, lineCounter: lines });
  const error = doc.errors[0];
  if (error) {
    // the parser recurses per level: a deep enough file ends its stack
    if (/call stack/i.test(error.message)) throw fileError(where, `nested too deeply (more than ${maxDepth} levels are refused); not a config file`);
    throw fileError(where, `not valid YAML (${error.message.split('\n')[0]})`);
  }
  // duplicate keys, one set per mapping (the parser's own check is quadratic), without recursion
  const stack: unknown[] = [doc.contents];
  while (stack.length) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const at = (pair.key as YamlNode | null)?.range?.[0];
        const line = at === undefined ? '' : `line ${lines.linePos(at).line}: `;
        // keys are names: a list or a mapping as a key is not a config (and the yaml package would warn on stderr)
        if (pair.key !== null && !isScalar(pair.key)) throw fileError(where, `${line}a key must be a plain name, not a list or a mapping`);
        const key = isScalar(pair.key) ? String(pair.key.value) : '';
        if (seen.has(key)) throw fileError(where, `${line}the key '${key}' is given twice; keep one`);
        seen.add(key);
        stack.push(pair.value);
      }
    } else if (node && typeof node === 'object' && 'items' in node && Array.isArray((node as { items: unknown[] }).items)) {
      stack.push(...(node as { items: unknown[] }).items);
    }
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (e) {
    if (e instanceof RangeError) throw fileError(where, `nested too deeply (more than ${maxDepth} levels are refused); not a config file`);
    throw fileError(where, `not valid YAML (${(e as Error).message.split('\n')[0]})`);
  }
  checkDepth(value, where, maxDepth);
  return value;
}

/** A config or sweep file: YAML, or JSON by its extension, within the limits above; `what` names it in errors ("sweep file"). */
export function readConfigText(file: string, what: string, maxBytes = MAX_CONFIG_BYTES): unknown {
  const text = readTextFile(file, maxBytes, what);
  return /\.json$/i.test(file) ? parseJsonText(text, file) : parseYamlText(text, file);
}


/** A JSON data file (a split file, a cache, a result) within the limits above; `what` names it in errors. */
export function readJsonFile(file: string, what: string, maxBytes = MAX_JSON_BYTES): unknown {
  return parseJsonText(readTextFile(file, maxBytes, what), file);
}

/** An error's message without the `<file>: ` these functions put first (for callers that add their own advice). */
export function reasonOf(e: unknown, file: string): string {
  const m = (e as Error).message;
  return m.startsWith(`${file}: `) ? m.slice(file.length + 2) : m;
}
