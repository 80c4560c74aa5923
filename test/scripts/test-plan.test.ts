/**
 * The test runner's rules (scripts/test-plan.js, test/README.md): every test file of the repository is run by
 * `npm test` or, in the slow tier, by `MPL_TEST_ALL=1 npm test`; the folder and name rules put a file where the
 * README says; a file says it must run alone on a line of its source; and the runner prints its plan.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot, tmpDir } from '../helpers.js';

const plan = require(path.join(repoRoot, 'scripts', 'test-plan.js')) as {
  EVERY_BUILD_FOLDERS: string[];
  FAST_FOLDERS: string[];
  FAST_E2E: string;
  listTests(root: string): string[];
  classify(root: string, rel: string): { file: string; tier: 'fast' | 'e2e' | 'slow'; builds: 'every' | 'main'; numerics: boolean; serial: string | null };
};

test('every test file of the repository is planned, and the rules name folders and files that exist', () => {
  const files = plan.listTests(repoRoot);
  const sources: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && e.name !== 'fixtures') walk(path.join(dir, e.name));
      else if (e.name.endsWith('.test.ts')) sources.push(path.relative(path.join(repoRoot, 'test'), path.join(dir, e.name)).split(path.sep).join('/'));
    }
  };
  walk(path.join(repoRoot, 'test'));
  assert.deepEqual(files, sources.map((s) => s.replace(/\.ts$/, '.js')).sort(), 'the compiled files are the sources');
  const tiers = files.map((f) => plan.classify(repoRoot, f));
  assert.ok(tiers.every((f) => ['fast', 'e2e', 'slow'].includes(f.tier) && ['every', 'main'].includes(f.builds)));
  for (const folder of [...plan.EVERY_BUILD_FOLDERS, ...plan.FAST_FOLDERS]) assert.ok(fs.existsSync(path.join(repoRoot, 'test', folder)), `test/${folder}`);
  for (const folder of plan.EVERY_BUILD_FOLDERS) assert.ok(plan.FAST_FOLDERS.includes(folder), `${folder}: the engine and numerics folders are in the inner loop`);
  assert.ok(files.includes(plan.FAST_E2E), `${plan.FAST_E2E} (test:fast's end-to-end test) exists`);
  assert.equal(plan.classify(repoRoot, plan.FAST_E2E).tier, 'fast');
  assert.ok(tiers.some((f) => f.numerics && f.file.includes('parity')), 'the parity tests are numerics');
});

test('the rules: tier by name and folder, builds by folder and name, serial by a line in the source', () => {
  const root = tmpDir('mpl-plan-');
  const write = (rel: string, text = '') => {
    fs.mkdirSync(path.dirname(path.join(root, 'test', rel)), { recursive: true });
    fs.writeFileSync(path.join(root, 'test', rel), text);
    fs.mkdirSync(path.dirname(path.join(root, 'dist', 'test', rel)), { recursive: true });
    fs.writeFileSync(path.join(root, 'dist', 'test', rel.replace(/\.ts$/, '.js')), '');
  };
  write('newfolder/thing.test.ts');
  write('data/new-reader.test.ts');
  write('torch/ops.test.ts');
  write('serve/checkpoint-io.test.ts');
  write('train/memory.slow.test.ts');
  write('e2e/long.test.ts');
  write('report/cli.test.ts');
  write('serve/http.e2e.test.ts');
  write('sweep/cluster.test.ts', '/** doc */\nimport x from "y";\n// test: serial -- starts daemons on fixed ports\n');
  write('sweep/helper.ts');
  write('prompting/new-method-parity.test.ts');
  fs.writeFileSync(path.join(root, 'dist', 'test', 'stale.test.js'), ''); // compiled, source gone
  const got = Object.fromEntries(plan.listTests(root).map((f) => [f, plan.classify(root, f)]));
  assert.deepEqual(Object.keys(got), [
    'data/new-reader.test.js', 'e2e/long.test.js', 'newfolder/thing.test.js', 'prompting/new-method-parity.test.js', 'report/cli.test.js', 'serve/checkpoint-io.test.js',
    'serve/http.e2e.test.js', 'sweep/cluster.test.js', 'torch/ops.test.js', 'train/memory.slow.test.js',
  ]);
  const brief = (f: string) => [got[f].tier, got[f].builds, got[f].numerics, got[f].serial];
  assert.deepEqual(brief('newfolder/thing.test.js'), ['e2e', 'main', false, null], 'the default for a new folder: npm test, main build');
  assert.deepEqual(brief('data/new-reader.test.js'), ['fast', 'main', false, null], 'the default for a new file in a folder of quick tests');
  assert.deepEqual(brief('torch/ops.test.js'), ['fast', 'every', false, null]);
  assert.deepEqual(brief('serve/checkpoint-io.test.js'), ['e2e', 'every', false, null], 'checkpoint in the name: every build');
  assert.deepEqual(brief('train/memory.slow.test.js'), ['slow', 'main', false, null], 'the slow tier runs once, on the main build');
  assert.deepEqual(brief('e2e/long.test.js'), ['e2e', 'main', false, null]);
  assert.deepEqual(brief('report/cli.test.js'), ['e2e', 'main', false, null], 'a concern\'s commands through the binary');
  assert.deepEqual(brief('serve/http.e2e.test.js'), ['e2e', 'main', false, null]);
  assert.deepEqual(brief('sweep/cluster.test.js'), ['fast', 'main', false, 'starts daemons on fixed ports']);
  assert.deepEqual(brief('prompting/new-method-parity.test.js'), ['fast', 'every', true, null]);
});

test('scripts/test.js --list prints the plan per build without running anything', () => {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'test.js'), '--list'], { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, MPL_TEST_ALL: '' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^libtorch \S+ \(build\/Release\): \d+ files$/m);
  assert.match(r.stdout, /^ {2}prompting\/parity\.test\.js {2}\[fast\]$/m);
  const fast = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'test.js'), '--list', '--fast'], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(fast.status, 0, fast.stderr);
  const planned = fast.stdout.split('\n').filter((l) => l.startsWith('  ')).map((l) => l.trim().split(/\s+/)[0]);
  assert.ok(planned.includes('e2e/quickstart.test.js') && planned.includes('prompting/parity.test.js'), planned.join(' '));
  assert.ok(!planned.some((f) => f.startsWith('e2e/') && f !== 'e2e/quickstart.test.js'), 'test:fast leaves out the long end-to-end files');
  assert.match(fast.stdout, /^not run: .*e2e\/cli\.test\.js/m);
});
