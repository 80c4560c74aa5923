import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import sharp from 'sharp';
import { tmpDir } from '../helpers.js';
import type { PlanLayout } from '../../src/prompting/layout.js';
import { collect } from '../../src/report/collect.js';
import { readPlanLayout, renderLayoutSvg } from '../../src/report/layout-svg.js';
import { renderDatasetsSvg, renderTimeSvg } from '../../src/report/plots.js';
import { esc, niceTicks, PNG_SCALE, writeFigure } from '../../src/report/svg.js';
import { accuracyViews, b2nView, timePoints } from '../../src/report/views.js';
import { UserError } from '../../src/util/errors.js';
import { countElements, makeResult, parseXml, writeFixtureResults, writeResult, xmlTexts } from './fixtures.js';

const out = tmpDir('mpl-plot-');
writeFixtureResults(out);
const report = collect([out]);
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function checkSvg(svg: string) {
  const root = parseXml(svg);
  assert.equal(root.name, 'svg');
  assert.equal(root.attrs.xmlns, 'http://www.w3.org/2000/svg');
  const vb = root.attrs.viewBox.split(' ').map(Number);
  assert.equal(vb.length, 4);
  assert.equal(vb[2], Number(root.attrs.width));
  assert.equal(vb[3], Number(root.attrs.height));
  assert.equal(root.attrs['font-family'], 'sans-serif');
  return root;
}

/** A hand-made MPL-like plan: cls + 196 patches + prompts growing by one per layer; text with one prompt. */
const layout: PlanLayout = {
  method: 'mpl',
  trainable_parameters: 12345,
  vision: [0, 1, 2].map((l) => ({
    layer: l,
    length: 1 + 196 + 2 + l,
    segments: [
      { kind: 'cls' as const, count: 1 },
      { kind: 'patch' as const, count: 196 },
      ...(l > 0 ? [{ kind: 'prompt-carried' as const, count: l }] : []),
      { kind: 'prompt-added' as const, count: 2, label: `a0^${l}` },
    ],
  })),
  text: [0, 1, 2].map((l) => ({
    layer: l,
    length: 8,
    segments: [
      { kind: 'sos' as const, count: 1 },
      { kind: l === 0 ? ('prompt-added' as const) : ('prompt-carried' as const), count: 1, label: 'ctx' },
      { kind: 'word' as const, count: 5 },
      { kind: 'eot' as const, count: 1 },
    ],
  })),
};

describe('figures', () => {
  it('niceTicks covers the range with round steps', () => {
    assert.deepEqual(niceTicks(0, 100, 5), [0, 20, 40, 60, 80, 100]);
    assert.deepEqual(niceTicks(71.3, 79.2, 5), [70, 72, 74, 76, 78, 80]);
    const t = niceTicks(3, 3);
    assert.ok(t[0] <= 3 && t[t.length - 1] >= 3 && t.length >= 2);
  });

  it('time figure (Figure 2): well-formed SVG with axes, labels and a legend', () => {
    const { points, metric } = timePoints(report, 'base2new');
    assert.equal(metric, 'hm');
    assert.deepEqual(points.map((p) => p.key), ['coop', 'mpl']);
    assert.equal(points[0].accuracy, report.base2new!.coop.average.hm);
    assert.equal(points[0].train_seconds, report.base2new!.coop.average.train_seconds);
    const svg = renderTimeSvg(points, { yLabel: 'Average HM (%)', title: 'HM vs time' });
    const root = checkSvg(svg);
    const texts = xmlTexts(root);
    for (const label of ['CoOp', 'MPL', 'Average HM (%)', 'HM vs time']) assert.ok(texts.includes(label), `missing ${label}`);
    assert.ok(texts.some((t) => /Average training time per dataset \(min\)/.test(t)));
    assert.ok(texts.some((t) => t.startsWith('CoOp: ') && t.includes(report.base2new!.coop.average.hm.toFixed(2))));
    assert.equal(countElements(root, 'circle'), 4); // 2 points + 2 legend markers
  });

  it('time figure for xd uses the target average', () => {
    const { points, metric } = timePoints(report, 'xd');
    assert.equal(metric, 'targets');
    assert.equal(points[0].accuracy, 56.25);
    assert.throws(() => timePoints(report, 'xd', 'hm'), UserError);
  });

  it('datasets figure: one bar per method and dataset plus Avg, whiskers for 2 seeds', () => {
    const svg = renderDatasetsSvg(b2nView(report, 'hm'), { yLabel: 'HM (%)', title: 'HM per dataset' });
    const root = checkSvg(svg);
    const texts = xmlTexts(root);
    for (const label of ['Caltech101', 'EuroSAT', 'Avg', 'CoOp', 'MPL', 'HM (%)']) assert.ok(texts.includes(label), `missing ${label}`);
    // background + frame + legend box + 2 legend swatches + 2 methods × 3 groups of bars
    assert.equal(countElements(root, 'rect'), 3 + 2 + 6);
    const xd = renderDatasetsSvg(accuracyViews(report, 'xd')[0], { yLabel: 'Accuracy (%)' });
    assert.ok(xmlTexts(checkSvg(xd)).includes('ImageNet (source)'));
  });

  it('names with markup characters are escaped', () => {
    const dir = tmpDir('mpl-plot-esc-');
    writeResult(dir, makeResult({ protocol: 'base2new', method: 'a<b>&"c\'', dataset: 'x&y', seed: 1, base: 50, new: 40 }));
    const r = collect([dir]);
    const svg = renderDatasetsSvg(b2nView(r, 'hm'), { yLabel: 'HM <%>' });
    const texts = xmlTexts(checkSvg(svg));
    assert.ok(texts.includes('a<b>&"c\''));
    assert.ok(texts.includes('x&y'));
    checkSvg(renderTimeSvg(timePoints(r, 'base2new').points, { yLabel: 'y', title: '<&>' }));
    assert.equal(esc('<&>"\''), '&lt;&amp;&gt;&quot;&apos;');
  });

  it('layout figure: panels, compressed patches, counts and a legend', () => {
    const svg = renderLayoutSvg(layout);
    const root = checkSvg(svg);
    const texts = xmlTexts(root);
    for (const label of ['MPL: token layout per layer', 'Vision encoder', 'Text encoder', '196', 'prompt (added)', 'prompt (carried)', 'image patches', 'template words', 'trainable parameters: 12,345']) {
      assert.ok(texts.includes(label), `missing ${label}`);
    }
    // The lengths of each layer are annotated.
    for (const n of ['199', '200', '201', '8']) assert.ok(texts.includes(n), `missing length ${n}`);
    // Patches are shortened: the patch rectangle is narrower than 196 tokens at 12 px.
    assert.ok(svg.includes('196 × image patches'));
    // Vision and text rows: 3 + 3 layers; one rect per segment with a tooltip.
    const segRects = (svg.match(/<rect [^>]*><title>layer /g) ?? []).length;
    assert.equal(segRects, 3 + 4 + 4 + 4 * 3);
    // Adjacent one-token segments of one kind (tokens of different coupling maps) get one count for the run.
    const split: PlanLayout = {
      method: 'mpl',
      trainable_parameters: 1,
      vision: [{ layer: 1, length: 200, segments: [
        { kind: 'cls', count: 1 }, { kind: 'patch', count: 196 }, { kind: 'prompt-carried', count: 1 },
        { kind: 'prompt-added', count: 1, label: 'a0^1' }, { kind: 'prompt-added', count: 1, label: 'a1^1' },
      ] }],
      text: [],
    };
    const splitTexts = xmlTexts(checkSvg(renderLayoutSvg(split)));
    assert.ok(splitTexts.includes('2'), 'run of two added tokens labelled 2');
    assert.equal(splitTexts.filter((t) => t === '1').length, 1, 'single tokens carry no count (the one "1" is the layer)');
    // A plan with no text prompting layers still renders.
    checkSvg(renderLayoutSvg({ ...layout, text: [] }));
  });

  it('PNG output: signature and 2× the SVG size; SVG output written as is', async () => {
    const svg = renderLayoutSvg(layout);
    const root = parseXml(svg);
    const png = path.join(out, 'figs', 'layout.png');
    await writeFigure(svg, png);
    const bytes = fs.readFileSync(png);
    assert.deepEqual(bytes.subarray(0, 8), PNG_SIGNATURE);
    const meta = await sharp(bytes).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, Math.round(Number(root.attrs.width) * PNG_SCALE));
    assert.equal(meta.height, Math.round(Number(root.attrs.height) * PNG_SCALE));
    const svgFile = path.join(out, 'figs', 'layout.svg');
    await writeFigure(svg, svgFile);
    assert.equal(fs.readFileSync(svgFile, 'utf8'), svg);
    await assert.rejects(writeFigure(svg, path.join(out, 'figs', 'layout.jpg')), UserError);
  });

  it('PDF output: one vector page of the SVG\'s size, every text drawn in Helvetica', async () => {
    const svg = renderLayoutSvg(layout);
    const root = parseXml(svg);
    const pdfFile = path.join(out, 'figs', 'layout.pdf');
    await writeFigure(svg, pdfFile);
    const pdf = fs.readFileSync(pdfFile);
    assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
    assert.match(pdf.subarray(-8).toString('latin1'), /%%EOF/);
    const text = pdf.toString('latin1');
    const box = /\/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]/.exec(text);
    assert.ok(box, 'a page with a MediaBox');
    assert.ok(Math.abs(Number(box[1]) - Number(root.attrs.width)) < 0.01 && Math.abs(Number(box[2]) - Number(root.attrs.height)) < 0.01);
    assert.equal((text.match(/\/Type \/Page\b/g) ?? []).length, 1);
    assert.match(text, /\/BaseFont \/Helvetica/);
    // the page content (deflated streams): one text object at least per <text> of the SVG, and vector paths
    let content = '';
    for (const m of text.matchAll(/stream\r?\n/g)) {
      const start = m.index! + m[0].length;
      const end = text.indexOf('endstream', start);
      try {
        content += zlib.inflateSync(pdf.subarray(start, end)).toString('latin1');
      } catch {
        // not a deflated stream (fonts metrics, ...)
      }
    }
    const texts = (svg.match(/<text /g) ?? []).length;
    assert.ok((content.match(/\bBT\b/g) ?? []).length >= texts, `${texts} texts in the SVG`);
    assert.match(content, / re\b| l\b/, 'rectangles or lines are drawn as vector paths');
  });

  it('readPlanLayout checks the file and names it', () => {
    const good = path.join(out, 'plan.json');
    fs.writeFileSync(good, JSON.stringify(layout));
    assert.deepEqual(readPlanLayout(good), layout);
    const bad = path.join(out, 'bad-plan.json');
    fs.writeFileSync(bad, JSON.stringify({ ...layout, vision: [{ layer: 0, length: 1, segments: [{ kind: 'pixel', count: 1 }] }] }));
    assert.throws(() => readPlanLayout(bad), (e: Error) => e instanceof UserError && e.message.startsWith(bad) && /pixel/.test(e.message));
    // The output of `mpl plan --json` holds the layout under "layout".
    const wrapped = path.join(out, 'plan-cli.json');
    fs.writeFileSync(wrapped, JSON.stringify({ method: 'mpl', trainable_parameters: 12345, vision_lengths: [], text_lengths: [], layout }));
    assert.deepEqual(readPlanLayout(wrapped), layout);
    assert.throws(() => readPlanLayout(path.join(out, 'missing.json')), (e: Error) => e instanceof UserError && /missing\.json: no such file/.test(e.message));
  });
});
