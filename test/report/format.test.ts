import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { tmpDir } from '../helpers.js';
import { collect } from '../../src/report/collect.js';
import { CSV_HEADER, formatCsv, formatMarkdown, formatReport, latexText } from '../../src/report/format.js';
import { makeResult, mean, parseCsv, popStd, writeFixtureResults, writeResult, B2N } from './fixtures.js';

const out = tmpDir('mpl-format-');
writeFixtureResults(out);
const report = collect([out]);

/** The rows of the Markdown table that follows the heading containing `heading`. */
function tableAfter(md: string, heading: string): string[][] {
  const lines = md.split('\n');
  let i = lines.findIndex((l) => l.startsWith('## ') && l.includes(heading));
  assert.ok(i >= 0, `no heading with ${heading}`);
  while (!lines[i].startsWith('|')) i++;
  const rows: string[][] = [];
  for (; i < lines.length && lines[i].startsWith('|'); i++) {
    rows.push(lines[i].slice(1, -1).split(' | ').map((c) => c.trim()));
  }
  return rows;
}

describe('Markdown tables', () => {
  const md = formatMarkdown(report);

  it('one table per base2new metric: rows = methods, columns = datasets + Avg, mean ± std', () => {
    for (const metric of ['Base', 'New', 'HM']) {
      const rows = tableAfter(md, `Base-to-new generalisation: ${metric} (%)`);
      assert.deepEqual(rows[0], ['Method', 'Caltech101', 'EuroSAT', 'Avg']);
      assert.deepEqual(rows.slice(2).map((r) => r[0]), ['CoOp', 'MPL']);
    }
    const base = tableAfter(md, 'Base (%)');
    // coop caltech101 base: 97.5 ± 0.5; avg 94.5 (no std on Avg). The better mean of a column is bold.
    assert.equal(base[2][1], '97.50 ± 0.50');
    assert.equal(base[2][3], '94.50');
    assert.equal(base[3][1], '**98.00 ± 0.50**');
    const hm = tableAfter(md, 'HM (%)');
    const e = B2N.coop.eurosat;
    const b = mean(e.map((s) => s.base));
    const n = mean(e.map((s) => s.new));
    assert.equal(hm[2][2], `${((2 * b * n) / (b + n)).toFixed(2)} ± ${popStd(e.map((s) => (2 * s.base * s.new) / (s.base + s.new))).toFixed(2)}`);
    assert.equal(hm[2][3], report.base2new!.coop.average.hm.toFixed(2));
    assert.match(md, /mean ± population std over 2 seeds/);
  });

  it('--metric gives one table; --combined gives B / N / HM cells with an Average row', () => {
    const only = formatMarkdown(report, { metric: 'new' });
    assert.equal((only.match(/^## Base-to-new/gm) ?? []).length, 1);
    assert.match(only, /: New \(%\)/);
    const combined = formatMarkdown(report, { combined: true });
    const rows = tableAfter(combined, 'Base / New / HM');
    assert.deepEqual(rows[0], ['Dataset', 'CoOp', 'MPL']);
    assert.deepEqual(rows.slice(2).map((r) => r[0]), ['Caltech101', 'EuroSAT', '**Average**']);
    assert.match(rows[2][1], /^97\.50±0\.50 \/ 89\.00±1\.00 \/ \d+\.\d\d±\d\.\d\d$/);
    const avg = report.base2new!.coop.average;
    assert.equal(rows[4][1], `${avg.base.toFixed(2)} / ${avg.new.toFixed(2)} / ${avg.hm.toFixed(2)}`);
  });

  it('cross-dataset table like Table III: source column, targets, Avg over targets', () => {
    const rows = tableAfter(md, 'Cross-dataset transfer');
    assert.deepEqual(rows[0], ['Method', 'ImageNet (source)', 'Caltech101', 'DTD', 'EuroSAT', 'Avg']);
    assert.equal(rows[2][0], 'CoOp');
    assert.equal(rows[2][1], '**71.25 ± 0.25**');
    assert.equal(rows[2][5], '56.25');
    assert.match(md, /trained on ImageNet/);
  });

  it('one seed: no ± at all', () => {
    const dir = tmpDir('mpl-format-one-');
    writeResult(dir, makeResult({ protocol: 'base2new', method: 'mpl', dataset: 'dtd', seed: 1, base: 80, new: 60 }));
    const text = formatMarkdown(collect([dir]));
    assert.ok(!text.includes('±'));
    assert.match(text, /\| MPL \| 80\.00 \| 80\.00 \|/);
    assert.match(text, /one seed/);
  });

  it('a method missing a dataset gets – and a starred, non-bold Avg', () => {
    const dir = tmpDir('mpl-format-partial-');
    writeResult(dir, makeResult({ protocol: 'base2new', method: 'mpl', dataset: 'dtd', seed: 1, base: 80, new: 60 }));
    writeResult(dir, makeResult({ protocol: 'base2new', method: 'mpl', dataset: 'eurosat', seed: 1, base: 90, new: 70 }));
    writeResult(dir, makeResult({ protocol: 'base2new', method: 'coop', dataset: 'dtd', seed: 1, base: 99, new: 50 }));
    const rows = tableAfter(formatMarkdown(collect([dir]), { metric: 'base' }), 'Base (%)');
    assert.deepEqual(rows[2], ['CoOp', '**99.00**', '–', '99.00\\*']);
    assert.deepEqual(rows[3], ['MPL', '80.00', '90.00', '85.00']);
  });
});

describe('CSV and JSON', () => {
  it('CSV: header, one row per method × dataset × metric (mean) and per seed, averages', () => {
    const rows = parseCsv(formatCsv(report));
    assert.deepEqual(rows[0], CSV_HEADER);
    assert.ok(rows.every((r) => r.length === CSV_HEADER.length));
    // base2new: 2 methods × 2 datasets × 4 metrics (base, new, hm, train_seconds) × (mean + 2 seeds) + 2 × 4 averages;
    // xd: 2 methods × [4 evaluated datasets × 3 + 1 target average + train_seconds 3 + 3 method averages].
    assert.equal(rows.length, 1 + (2 * 2 * 4 * 3 + 2 * 4) + 2 * (4 * 3 + 1 + 3 + 3));
    const col = (name: string) => CSV_HEADER.indexOf(name);
    const find = (pred: (r: string[]) => boolean) => rows.filter(pred);
    const coopCalBase = find((r) => r[col('protocol')] === 'base2new' && r[col('method')] === 'coop' && r[col('dataset')] === 'caltech101' && r[col('metric')] === 'base');
    assert.deepEqual(coopCalBase.map((r) => [r[col('row')], r[col('seed')], r[col('value')], r[col('std')], r[col('n_seeds')]]), [
      ['mean', '', '97.5', '0.5', '2'],
      ['seed', '1', '98', '', '1'],
      ['seed', '2', '97', '', '1'],
    ]);
    // Full precision: the value parses back to the exact number.
    const hm = find((r) => r[col('method')] === 'coop' && r[col('dataset')] === 'eurosat' && r[col('metric')] === 'hm' && r[col('row')] === 'mean');
    assert.equal(Number(hm[0][col('value')]), report.base2new!.coop.datasets.eurosat.mean.hm);
    const xdAvg = find((r) => r[col('protocol')] === 'xd' && r[col('method')] === 'coop' && r[col('dataset')] === 'imagenet' && r[col('target')] === 'average');
    assert.equal(xdAvg[0][col('value')], '56.25');
  });

  it('CSV quotes fields with commas and quotes', () => {
    const dir = tmpDir('mpl-format-quote-');
    writeResult(dir, makeResult({ protocol: 'base2new', method: 'my,"method"', dataset: 'dtd', seed: 1, base: 80, new: 60 }));
    const rows = parseCsv(formatCsv(collect([dir])));
    assert.equal(rows[1][1], 'my,"method"');
  });

  it('formatReport json is the JSON view with full precision', () => {
    const j = JSON.parse(formatReport(report, 'json'));
    assert.equal(j.base2new.coop.eurosat.mean.hm, report.base2new!.coop.datasets.eurosat.mean.hm);
    assert.equal(j.base2new.coop.eurosat.seeds[0].file, path.join(out, 'base2new', 'eurosat', 'coop', 'seed1', 'result.json'));
  });
});

describe('LaTeX tables and 95% confidence intervals', () => {
  it('--ci95: mean ± 1.96·std/√n, and the note says so', () => {
    const md = formatMarkdown(report, { ci95: true });
    const base = tableAfter(md, 'Base (%)');
    // coop caltech101 base: std 0.5 over 2 seeds -> 1.96 · 0.5 / √2
    assert.equal(base[2][1], `97.50 ± ${((1.96 * 0.5) / Math.sqrt(2)).toFixed(2)}`);
    assert.match(md, /mean ± 95% confidence interval \(1\.96·std\/√n\) over 2 seeds/);
  });

  it('--format latex: booktabs tables with the same numbers as the Markdown, bold bests, escaped names', () => {
    const tex = formatReport(report, 'latex');
    const md = formatMarkdown(report);
    assert.equal((tex.match(/\\begin\{tabular\}/g) ?? []).length, (md.match(/^## /gm) ?? []).length);
    assert.match(tex, /\\toprule\nMethod & Caltech101 & EuroSAT & Avg \\\\\n\\midrule/);
    const base = tableAfter(md, 'Base (%)');
    // the Markdown row "CoOp | 97.50 ± 0.50 | ... " is "CoOp & 97.50$\pm$0.50 & ..." in LaTeX
    const coop = base[2].map((c) => c.replace(' ± ', '$\\pm$').replace(/\*\*(.*)\*\*/, '\\textbf{$1}').replace('–', '--'));
    assert.ok(tex.includes(`${coop.join(' & ')} \\\\`), `${coop.join(' & ')} in\n${tex}`);
    assert.match(tex, /\\bottomrule\n\\end\{tabular\}/);
    assert.match(latexText('a_b & 50%'), /^a\\_b \\& 50\\%$/);
    assert.throws(() => formatReport(report, 'latex', { combined: true }), /--combined is a Markdown layout/);
  });
});

describe('one formatter for every figure (issue 21)', () => {
  it('a figure at an exact tie reads the same as Python prints it, in Markdown, LaTeX, CSV and JSON', () => {
    const dir = tmpDir('mpl-format-tie-');
    // 74.125 and 12.625 are exact in binary: Python's '%.2f' gives 74.12 and 12.62, JavaScript's toFixed 74.13 and 12.63
    writeResult(dir, makeResult({ protocol: 'fewshot', method: 'coop', dataset: 'dtd', seed: 1, accuracy: { dtd: 74.125 } }));
    writeResult(dir, makeResult({ protocol: 'base2new', method: 'mpl', dataset: 'dtd', seed: 1, base: 74.125, new: 12.625 }));
    const r = collect([dir]);
    const md = formatReport(r, 'md');
    assert.match(md, /\| CoOp \| 74\.12 \| 74\.12 \|/);
    assert.match(md, /\| MPL \| 74\.12 \| 74\.12 \|/);
    assert.match(md, /\| MPL \| 12\.62 \| 12\.62 \|/);
    assert.doesNotMatch(md, /74\.13|12\.63/);
    assert.doesNotMatch(formatReport(r, 'latex'), /74\.13|12\.63/);
    // a seed enters as its log prints it (two decimals): CSV and JSON carry that value, and its HM unrounded
    const json = JSON.parse(formatReport(r, 'json'));
    assert.equal(json.base2new.mpl.dtd.seeds[0].base, 74.12);
    assert.equal(json.base2new.mpl.dtd.mean.hm, (2 * 74.12 * 12.62) / (74.12 + 12.62));
    assert.ok(formatCsv(r).includes('base2new,mpl,dtd,,base,seed,1,74.12,,1'));
  });
});
