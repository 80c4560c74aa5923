/**
 * The layering of docs/ARCHITECTURE.md, enforced: a module imports only from its own layer or the ones
 * below it, and nothing above src/prompting compares a method's name (it asks the method registry).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../helpers.js';
import { METHODS } from '../../src/prompting/methods/index.js';

/** Lowest first: a folder of src/ may import from itself and the folders before it. */
const LAYERS = [
  'util',
  'types',
  'io',
  'torch',
  'net',
  'data',
  'synth',
  'backbones',
  'prompting',
  'train',
  'tensorboard',
  'eval',
  'report',
  'packages',
  'serve',
  'pretrain',
  'sweep',
  'search',
  'cli',
];

const src = path.join(repoRoot, 'src');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The top folder of src/ a file is in ('' for src/index.ts, the public API, which may import anything). */
const layerOf = (file: string): string => path.relative(src, file).split(path.sep).slice(0, -1)[0] ?? '';

test('every folder of src/ has its place in the layers', () => {
  const folders = fs.readdirSync(src, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  for (const f of folders) assert.ok(LAYERS.includes(f), `src/${f} is not in the layers of docs/ARCHITECTURE.md (test/api/layers.test.ts)`);
});

test('no module imports from a layer above its own', () => {
  const wrong: string[] = [];
  for (const file of sources(src)) {
    const from = layerOf(file);
    if (!from) continue;
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)'/g)) {
      const target = path.resolve(path.dirname(file), m[1]);
      if (!target.startsWith(src + path.sep)) continue; // bench/, package.json
      const to = layerOf(target);
      if (LAYERS.indexOf(to) > LAYERS.indexOf(from)) wrong.push(`${path.relative(repoRoot, file)} imports ${m[1]} (${from} -> ${to})`);
    }
  }
  assert.deepEqual(wrong, [], 'imports from a layer above');
});

test('no module above src/prompting compares a method name: it asks the method registry', () => {
  const names = METHODS.join('|');
  // `x.method === 'coop'`, `'coop' !== method`, `switch (method) { case 'coop':` (a protocol or a cache may also be
  // called 'zeroshot' or 'mpl': only expressions about a method count)
  const compare = new RegExp(`method[\\w.()]*\\s*[!=]==\\s*'(${names})'|'(${names})'\\s*[!=]==\\s*[\\w.]*method|switch\\s*\\([\\w.]*method`, 'i');
  const found: string[] = [];
  for (const file of sources(src)) {
    if (file.startsWith(path.join(src, 'prompting') + path.sep)) continue;
    fs.readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (compare.test(line)) found.push(`${path.relative(repoRoot, file)}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.deepEqual(found, [], 'method-name comparisons outside src/prompting');
});
