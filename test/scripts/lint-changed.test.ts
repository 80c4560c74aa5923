/**
 * scripts/lint-changed.js (part of `npm test`): ESLint on the TypeScript files a change touches, Prettier on the lines
 * it touches. Run in a scratch git repository holding the project's configs, a main branch with code that predates
 * the formatter, and a branch that changes one line of it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot, tmpDir } from '../helpers.js';

const tools = path.join(repoRoot, 'tools', 'lint', 'node_modules');

function git(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function lint(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(cwd, 'scripts', 'lint-changed.js'), ...args], { cwd, encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

// an old file: its second function's long line is not as Prettier writes it, and stays so
const OLD = [
  'export function keep(a: number): number {',
  '  return a;',
  '}',
  '',
  'export function old(values: number[]): number { return values.map((v) => v * 2).filter((v) => v > 0).reduce((s, v) => s + v, 0); }',
  '',
].join('\n');

test('ESLint and Prettier judge only what the branch changed; --fix rewrites only the lines named', () => {
  assert.ok(fs.existsSync(path.join(tools, 'eslint')), 'the linters are missing: npm ci --prefix tools/lint (scripts/install.sh does it)');
  const dir = tmpDir('mpl-lint-');
  for (const f of ['eslint.config.mjs', '.prettierrc.json', 'scripts/lint-changed.js']) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(path.join(repoRoot, f), path.join(dir, f));
  }
  fs.mkdirSync(path.join(dir, 'tools', 'lint'), { recursive: true });
  fs.copyFileSync(path.join(repoRoot, 'tools', 'lint', 'package.json'), path.join(dir, 'tools', 'lint', 'package.json'));
  fs.symlinkSync(tools, path.join(dir, 'tools', 'lint', 'node_modules'));
  fs.writeFileSync(path.join(dir, '.gitignore'), 'node_modules\n');
  fs.mkdirSync(path.join(dir, 'src'));
  const file = path.join(dir, 'src', 'a.ts');
  fs.writeFileSync(file, OLD);
  const commit = (message: string) => git(dir, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', message);
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  commit('old code');
  // a branch of its own with a commit that touches no TypeScript: nothing to judge
  git(dir, 'checkout', '-q', '-b', 'change');
  fs.writeFileSync(path.join(dir, 'notes.md'), 'notes\n');
  git(dir, 'add', 'notes.md');
  commit('notes');
  let r = lint(dir);
  assert.equal(r.status, 0, `a branch without changes passes:\n${r.out}`);
  assert.match(r.out, /lint: 0 changed TypeScript file\(s\) since [0-9a-f]{12}/);

  // one changed line, badly formatted, and an unused variable: both named, the old long line not
  fs.writeFileSync(file, OLD.replace('  return a;', '  const   unused = 1;  return a;'));
  r = lint(dir);
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /'unused' is assigned a value but never used/);
  assert.match(r.out, /^src\/a\.ts:2: not as Prettier formats it \(changed line 2\)/m);
  assert.doesNotMatch(r.out, /src\/a\.ts:5/, 'the line the branch did not touch is not judged');

  fs.writeFileSync(file, OLD.replace('  return a;', '  return   a ;'));
  r = lint(dir, '--fix');
  assert.equal(fs.readFileSync(file, 'utf8'), OLD, '--fix rewrote the changed line as Prettier does and left the old one alone');
  r = lint(dir);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /lint: ok/);
});

test('without git history it says there is no change to check', () => {
  const dir = tmpDir('mpl-lint-');
  fs.mkdirSync(path.join(dir, 'scripts'));
  fs.copyFileSync(path.join(repoRoot, 'scripts', 'lint-changed.js'), path.join(dir, 'scripts', 'lint-changed.js'));
  fs.mkdirSync(path.join(dir, 'tools', 'lint'), { recursive: true });
  fs.symlinkSync(tools, path.join(dir, 'tools', 'lint', 'node_modules'));
  const r = lint(dir);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /no git history to compare with/);
});
