/**
 * The offline first run, as a user without internet meets it: `mpl quickstart --offline --json` from an
 * empty folder with HF_HUB_OFFLINE=1, and plain `mpl quickstart` falling back to it (saying so).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot, tmpDir } from '../helpers.js';

const cwd = tmpDir('mpl-quickstart-');
const env = { ...process.env, HF_HUB_OFFLINE: '1', MPL_CACHE: path.join(cwd, 'cache'), MPL_NUM_THREADS: '1' };

function quickstart(args: string[]) {
  return spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'mpl.js'), 'quickstart', ...args], { cwd, env, encoding: 'utf8', timeout: 300_000 });
}

test('mpl quickstart --offline --json: zero-shot and MPL base/new/HM on SynthShapes, MPL above zero-shot on base, report and figures', () => {
  const r = quickstart(['--offline', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  for (const k of ['zeroshot', 'mpl'] as const) {
    for (const m of ['base', 'new', 'hm'] as const) {
      assert.ok(Number.isFinite(out[k][m]) && out[k][m] > 0 && out[k][m] <= 100, `${k}.${m} = ${out[k][m]}`);
    }
    const { base, new: nw, hm } = out[k];
    assert.ok(Math.abs(hm - (2 * base * nw) / (base + nw)) < 1e-9, `${k}: hm is the harmonic mean`);
  }
  assert.ok(out.mpl.base > out.zeroshot.base, `MPL base ${out.mpl.base} should beat zero-shot ${out.zeroshot.base}`);
  assert.equal(out.mode, 'offline');
  for (const f of [out.report, ...out.figures]) assert.ok(fs.statSync(path.resolve(cwd, f)).size > 0, f);
  // the run folder printed is the one written (issue 21: it named a folder that was not there)
  assert.ok(fs.existsSync(path.join(path.resolve(cwd, out.run), 'result.json')), out.run);
  assert.ok(fs.existsSync(path.join(path.resolve(cwd, out.run), 'log.txt')), out.run);
  assert.match(fs.readFileSync(path.resolve(cwd, out.report), 'utf8'), /\| Method \| SynthShapes \|/);
  // the HTML report: an index over both runs, a page per run
  const html = fs.readFileSync(path.resolve(cwd, out.html), 'utf8');
  assert.match(html, /SynthShapes/);
  assert.equal(fs.readdirSync(path.join(path.dirname(path.resolve(cwd, out.html)), 'runs')).filter((f) => f.endsWith('.html')).length, 2);
  assert.ok(fs.existsSync(path.join(cwd, 'cache', 'data', 'synthshapes', 'split_synthshapes.json')), 'the dataset goes to the cache');
  assert.match(r.stderr, /SynthShapes/);
});

test('mpl quickstart without network falls back to the offline run and says so; every path it prints exists', () => {
  const r = quickstart([]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /HF_HUB_OFFLINE is set/);
  assert.match(r.stderr, /hub is not reachable: running the offline quickstart instead/);
  // the human output: the table, then report / html / figures / run, each a path that exists
  const row = (name: string) => new RegExp(`^${name} +(\\d+\\.\\d\\d) +(\\d+\\.\\d\\d) +(\\d+\\.\\d\\d)$`, 'm').exec(r.stdout);
  const zs = row('zero-shot');
  const mplRow = row('MPL');
  assert.ok(zs && mplRow, r.stdout);
  assert.ok(Number(mplRow[1]) > Number(zs[1]), r.stdout);
  const paths = [...r.stdout.matchAll(/^(report|html|figures|run): +(.+)$/gm)].flatMap((m) => m[2].split(', '));
  assert.equal(paths.length, 5, r.stdout);
  for (const p of paths) assert.ok(fs.existsSync(path.resolve(cwd, p)), `printed ${p}, which does not exist`);
  assert.ok(fs.existsSync(path.join(path.resolve(cwd, paths[4]), 'result.json')));
});

test('mpl quickstart --help promises the time the README states', () => {
  const help = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'mpl.js'), 'quickstart', '--help'], { encoding: 'utf8' }).stdout.replace(/\s+/g, ' ');
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8').replace(/\s+/g, ' ');
  const claim = /--offline.*?\(about ([\d-]+ seconds) on an idle 2-core CPU\)/.exec(help);
  assert.ok(claim, help);
  assert.ok(readme.includes(`two figures, in about ${claim[1]} on an idle 2-core CPU`), `README and --help disagree: ${claim[1]}`);
});
