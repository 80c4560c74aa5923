import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { repoRoot, tmpDir } from '../helpers.js';
import { B2N, mean, parseCsv, popStd, writeFixtureResults } from './fixtures.js';

const out = tmpDir('mpl-cli-report-');
writeFixtureResults(out);

/** Runs the real CLI from the repository root, as a user would. */
function mpl(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join('bin', 'mpl.js'), ...args], { cwd: repoRoot, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Bad input: non-zero exit, one line on stderr naming the problem, nothing on stdout. */
function failsWith(args: string[], pattern: RegExp) {
  const r = mpl(...args);
  assert.notEqual(r.code, 0, `expected failure: mpl ${args.join(' ')}`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
  assert.match(lines[0], pattern);
}

describe('mpl table', () => {
  it('--json prints one JSON object with seeds, mean, std and the average', () => {
    const r = mpl('table', out, '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    for (const [method, byDataset] of Object.entries(B2N)) {
      for (const [dataset, seeds] of Object.entries(byDataset)) {
        const cell = j.base2new[method][dataset];
        assert.deepEqual(cell.seeds.map((s: { seed: number }) => s.seed), [1, 2]);
        const b = mean(seeds.map((s) => s.base));
        const n = mean(seeds.map((s) => s.new));
        assert.equal(cell.mean.base, b);
        assert.equal(cell.mean.new, n);
        assert.equal(cell.mean.hm, (2 * b * n) / (b + n));
        assert.equal(cell.std.base, popStd(seeds.map((s) => s.base)));
        assert.equal(cell.std.new, popStd(seeds.map((s) => s.new)));
        assert.equal(cell.std.hm, popStd(seeds.map((s) => (2 * s.base * s.new) / (s.base + s.new))));
        for (const s of cell.seeds) assert.equal(s.hm, (2 * s.base * s.new) / (s.base + s.new));
      }
      const avg = j.base2new[method].average;
      assert.equal(avg.hm, (2 * avg.base * avg.new) / (avg.base + avg.new));
    }
    assert.equal(j.xd.mpl.average.targets, j.xd.mpl.imagenet.target_average);
  });

  it('Markdown by default; --out writes the file in the format of its extension', () => {
    const md = mpl('table', out, '--protocol', 'base2new', '--metric', 'hm');
    assert.equal(md.code, 0, md.stderr);
    assert.match(md.stdout, /\| Method \| Caltech101 \| EuroSAT \| Avg \|/);
    assert.match(md.stdout, /±/);
    assert.ok(!md.stdout.includes('Cross-dataset'));
    const csvFile = path.join(out, 'tables', 'results.csv');
    const r = mpl('table', out, '--out', csvFile);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(parseCsv(fs.readFileSync(csvFile, 'utf8'))[0][0], 'protocol');
    const jsonFile = path.join(out, 'tables', 'results.txt');
    assert.equal(mpl('table', out, '--out', jsonFile, '--format', 'json').code, 0);
    assert.ok(JSON.parse(fs.readFileSync(jsonFile, 'utf8')).base2new);
  });

  it('bad arguments exit non-zero with one line', () => {
    failsWith(['table', path.join(out, 'missing')], /^mpl: .*missing: no such file/);
    failsWith(['table', out, '--format', 'xml'], /^mpl: --format: unknown format 'xml'/);
    failsWith(['table', out, '--protocol', 'b2n'], /^mpl: --protocol: unknown protocol 'b2n'/);
    failsWith(['table', out, '--metric', 'f1'], /^mpl: --metric: unknown metric 'f1'/);
    failsWith(['table', out, '--out', path.join(out, 'x.pdf')], /^mpl: --out .*cannot tell the format/);
    failsWith(['table', out, '--json', '--format', 'csv'], /^mpl: --json contradicts --format csv/);
    const bad = tmpDir('mpl-cli-bad-');
    fs.mkdirSync(path.join(bad, 'r'), { recursive: true });
    fs.writeFileSync(path.join(bad, 'r', 'result.json'), '{}');
    failsWith(['table', bad], /^mpl: .*result\.json: schema is undefined/);
  });

  it('--help shows examples', () => {
    const r = mpl('table', '--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Examples:/);
    assert.match(r.stdout, /mpl table runs\/ --json/);
  });
});

describe('mpl plot', () => {
  it('--kind time writes a PNG; --kind datasets an SVG', async () => {
    const png = path.join(out, 'figs', 'time.png');
    const r = mpl('plot', out, '--kind', 'time', '--out', png);
    assert.equal(r.code, 0, r.stderr);
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png');
    assert.ok(meta.width! > 800 && meta.height! > 500);
    const svg = path.join(out, 'figs', 'bars.svg');
    assert.equal(mpl('plot', out, '--kind', 'datasets', '--protocol', 'xd', '--out', svg).code, 0);
    assert.match(fs.readFileSync(svg, 'utf8'), /ImageNet \(source\)/);
  });

  it('--kind layout reads a PlanLayout file', () => {
    const plan = path.join(out, 'plan.json');
    fs.writeFileSync(plan, JSON.stringify({ method: 'coop', trainable_parameters: 8192, vision: [], text: [{ layer: 0, length: 20, segments: [{ kind: 'sos', count: 1 }, { kind: 'prompt-added', count: 16 }, { kind: 'word', count: 2 }, { kind: 'eot', count: 1 }] }] }));
    const svg = path.join(out, 'figs', 'coop-layout.svg');
    const r = mpl('plot', '--kind', 'layout', '--layout', plan, '--out', svg);
    assert.equal(r.code, 0, r.stderr);
    assert.match(fs.readFileSync(svg, 'utf8'), /CoOp: token layout per layer/);
  });

  it('bad arguments exit non-zero with one line', () => {
    failsWith(['plot', out, '--kind', 'pie', '--out', 'x.svg'], /^mpl: --kind: unknown figure 'pie'/);
    failsWith(['plot', out, '--kind', 'time', '--out', 'x.jpg'], /^mpl: --out x\.jpg: the figure file must end in \.svg, \.png or \.pdf/);
    failsWith(['plot', '--kind', 'layout', '--out', 'x.svg'], /^mpl: --kind layout needs --method \(with --arch or --weights\) or --layout FILE/);
    failsWith(['plot', '--kind', 'time', '--out', 'x.svg'], /^mpl: --kind time needs at least one result folder/);
    failsWith(['plot', out, '--kind', 'time', '--metric', 'f1', '--out', path.join(out, 'x.svg')], /^mpl: --metric: unknown metric 'f1'/);
    failsWith(['plot', out, '--out', 'x.svg'], /required option '--kind <kind>'/);
  });

  it('--help shows examples', () => {
    const r = mpl('plot', '--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Examples:/);
    assert.match(r.stdout, /--kind layout --layout plan\.json/);
  });
});
