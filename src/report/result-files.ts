/**
 * Reading runs: finding every result.json under some folders and validating each before any report uses it
 * (a bad file is a one-line error naming it). Building tables from them is collect.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Protocol, RunResult } from '../eval/results.js';
import { RESERVED_NAMES } from '../eval/run-config.js';
import { fileError, UserError } from '../util/errors.js';
import { parseJsonText } from '../util/parse.js';

export const PROTOCOLS: readonly Protocol[] = ['base2new', 'xd', 'dg', 'fewshot', 'zeroshot'];
/** The protocols that report top-1 accuracy per evaluated dataset (`RunResult.accuracy`). */
export type AccuracyProtocol = Exclude<Protocol, 'base2new'>;

export interface LoadedResult {
  file: string;
  result: RunResult;
}

/**
 * Every file named `result.json` under the given folders (recursively), sorted, each real file once even
 * when folders overlap or are given twice. A path that is itself a result file is accepted too.
 */
export function findResultFiles(dirs: string[]): string[] {
  const found = new Map<string, string>(); // realpath → path as found
  const seenDirs = new Set<string>();
  const walk = (dir: string): void => {
    const real = fs.realpathSync(dir);
    if (seenDirs.has(real)) return; // symlink cycles, overlapping arguments
    seenDirs.add(real);
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const st = fs.statSync(p, { throwIfNoEntry: false });
        isDir = Boolean(st?.isDirectory());
        isFile = Boolean(st?.isFile());
      }
      if (isDir) walk(p);
      else if (isFile && entry.name === 'result.json') {
        const r = fs.realpathSync(p);
        if (!found.has(r)) found.set(r, p);
      }
    }
  };
  for (const dir of dirs) {
    const st = fs.statSync(dir, { throwIfNoEntry: false });
    if (!st) throw fileError(dir, 'no such file or folder');
    if (st.isFile()) {
      const r = fs.realpathSync(dir);
      if (!found.has(r)) found.set(r, dir);
    } else walk(dir);
  }
  return [...found.values()].sort();
}

export const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and validates one result file; anything wrong is a UserError that starts with the path. */
export function readResultFile(file: string): RunResult {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw fileError(file, `cannot read (${(e as Error).message})`);
  }
  return validateResult(parseJsonText(text, file), file);
}

/** Checks the fields the reports rely on; `where` names the source in error messages. */
export function validateResult(v: unknown, where: string): RunResult {
  const bad = (what: string): never => {
    throw fileError(where, what);
  };
  if (!isObj(v)) return bad('not a JSON object');
  if (v.schema !== 'mpl-result/1') bad(`schema is ${JSON.stringify(v.schema)}, expected "mpl-result/1"`);
  if (!PROTOCOLS.includes(v.protocol as Protocol)) {
    bad(`protocol is ${JSON.stringify(v.protocol)}, expected one of ${PROTOCOLS.join(', ')}`);
  }
  for (const key of ['method', 'dataset', 'backbone'] as const) {
    if (typeof v[key] !== 'string' || v[key] === '') bad(`"${key}" must be a non-empty string`);
  }
  if (!Number.isInteger(v.seed)) bad('"seed" must be an integer');
  if (!Number.isInteger(v.shots)) bad('"shots" must be an integer');
  if (!isNum(v.train_seconds) || v.train_seconds < 0) bad('"train_seconds" must be a number ≥ 0');
  if (v.eval_seconds !== undefined && !isNum(v.eval_seconds)) bad('"eval_seconds" must be a number');
  if (v.protocol === 'base2new') {
    for (const key of ['base', 'new'] as const) {
      if (!isNum(v[key])) bad(`base2new result without a numeric "${key}" accuracy`);
    }
    if (v.hm !== undefined && !isNum(v.hm)) bad('"hm" must be a number');
  } else {
    if (!isObj(v.accuracy) || Object.keys(v.accuracy).length === 0) {
      bad(`${String(v.protocol)} result without an "accuracy" object (dataset → top-1 %)`);
    }
    for (const [k, a] of Object.entries(v.accuracy as Record<string, unknown>)) {
      if (!isNum(a)) bad(`accuracy["${k}"] must be a number`);
    }
  }
  if (RESERVED_NAMES.includes(v.dataset as string) || v.method === 'average')
    bad(`"${String(v.dataset)}" is reserved in reports (average, tag, test_subset)`);
  return v as unknown as RunResult;
}

/** Finds and validates every result file under the folders. Throws a UserError when there is none. */
export function loadResults(dirs: string[]): LoadedResult[] {
  if (dirs.length === 0) throw new UserError('no result folder given');
  const files = findResultFiles(dirs);
  if (files.length === 0) throw new UserError(`no result.json found under ${dirs.join(', ')}`);
  return files.map((file) => ({ file, result: readResultFile(file) }));
}
