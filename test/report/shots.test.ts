/** CoOp's few-shot figure (accuracy vs shots per class), and titles that are never clipped. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import sharp from 'sharp';
import { loadResults } from '../../src/report/result-files.js';
import { renderDatasetsSvg, renderTimeSvg } from '../../src/report/plots.js';
import { renderShotsSvg, shotsData } from '../../src/report/shots.js';
import { svgToPng } from '../../src/report/svg.js';
import { tmpDir } from '../helpers.js';
import { countElements, makeResult, mean, parseXml, popStd, writeResult } from './fixtures.js';

const out = tmpDir('mpl-shots-');
const SHOTS = [1, 2, 4, 8, 16];
const acc = (method: string, dataset: string, k: number, seed: number) =>
  (method === 'mpl' ? 60 : 55) + (dataset === 'dtd' ? 0 : 10) + 4 * Math.log2(k) + seed * 0.5;
for (const method of ['coop', 'mpl']) {
  for (const dataset of ['dtd', 'eurosat']) {
    for (const k of SHOTS) {
      for (const seed of [1, 2, 3]) {
        writeResult(path.join(out, `${k}shots`), makeResult({ protocol: 'fewshot', method, dataset, seed, shots: k, accuracy: { [dataset]: acc(method, dataset, k, seed) }, config: { method_options: { nCtx: 4 } } }));
      }
    }
  }
}
// a CoOp run on one more dataset only: not on every line, so not in the average
writeResult(out, makeResult({ protocol: 'fewshot', method: 'coop', dataset: 'ucf101', seed: 1, shots: 4, accuracy: { ucf101: 50 }, config: { method_options: { nCtx: 4 } } }));
for (const dataset of ['dtd', 'eurosat']) {
  writeResult(out, makeResult({ protocol: 'zeroshot', method: 'zeroshot', dataset, seed: 1, shots: 0, accuracy: { [dataset]: dataset === 'dtd' ? 44 : 48 }, train_seconds: 0 }));
}
const results = loadResults([out]);

describe('accuracy vs shots', () => {
  it('one line per method, a point per K: mean over seeds, averaged over the shared datasets; zero-shot CLIP at 0', () => {
    const d = shotsData(results);
    assert.deepEqual(d.datasets, ['dtd', 'eurosat']);
    assert.deepEqual(d.series.map((s) => s.label), ['CoOp', 'MPL']);
    for (const s of d.series) {
      assert.deepEqual(s.points.map((p) => p.shots), SHOTS);
      for (const p of s.points) {
        const expected = mean(['dtd', 'eurosat'].map((ds) => mean([1, 2, 3].map((seed) => acc(s.method, ds, p.shots, seed)))));
        assert.ok(Math.abs(p.mean - expected) < 1e-9);
        assert.equal(p.std, null);
      }
    }
    assert.equal(d.zeroShot, 46);
    const one = shotsData(results, 'dtd');
    assert.deepEqual(one.datasets, ['dtd']);
    assert.ok(Math.abs(one.series[1].points[0].std! - popStd([1, 2, 3].map((seed) => acc('mpl', 'dtd', 1, seed)))) < 1e-9);
    assert.equal(one.zeroShot, 44);
    assert.throws(() => shotsData(results, 'sun397'), /no few-shot results on sun397/);
  });

  it('draws the lines, the points with whiskers, the star and a legend', () => {
    const svg = renderShotsSvg(shotsData(results, 'dtd'));
    const root = parseXml(svg);
    assert.equal(countElements(root, 'circle'), 2 * SHOTS.length + 2); // points + legend markers
    assert.match(svg, /<title>Zero-shot CLIP: 44\.00 %<\/title>/);
    assert.match(svg, /Training images per class \(shots\)/);
    assert.match(svg, /Few-shot learning: accuracy vs\. shots per class \(DTD\)/);
  });
});

/** Columns of the title band that hold ink: the leftmost and rightmost, in PNG pixels. */
async function titleInk(svg: string): Promise<{ left: number; right: number; width: number }> {
  const { data, info } = await sharp(await svgToPng(svg, 1)).raw().toBuffer({ resolveWithObject: true });
  let left = info.width;
  let right = -1;
  for (let y = 8; y < 36; y++) {
    for (let x = 0; x < info.width; x++) {
      const i = (y * info.width + x) * info.channels;
      if (data[i] < 128) {
        left = Math.min(left, x);
        right = Math.max(right, x);
      }
    }
  }
  return { left, right, width: info.width };
}

describe('titles are never clipped', () => {
  const long = 'Domain generalisation: accuracy per dataset, trained on ImageNet, ViT-B/16, 16 shots, MPL depth 9 vs. MaPLe';
  it('the bar chart, the time figure and the shots figure keep a margin on both sides of a long title', async () => {
    const view = { protocol: 'dg' as const, metric: 'accuracy', source: 'imagenet', columns: ['imagenet', 'imagenet_v2'], rows: [{ key: 'mpl', cells: [{ mean: 70, std: 0, n_seeds: 1 }, { mean: 64, std: 0, n_seeds: 1 }], average: 64, partial: false }] };
    const figures = [
      renderDatasetsSvg(view, { yLabel: 'Accuracy (%)', title: long }),
      renderTimeSvg([{ key: 'mpl', train_seconds: 100, accuracy: 70, n_datasets: 1 }], { yLabel: 'Average HM (%)', title: long }),
      renderShotsSvg(shotsData(results, 'dtd'), { title: long }),
    ];
    for (const svg of figures) {
      const ink = await titleInk(svg);
      assert.ok(ink.right > ink.left, 'the title was drawn');
      assert.ok(ink.left >= 8 && ink.right <= ink.width - 9, `title ink from ${ink.left} to ${ink.right} of ${ink.width} px`);
    }
  });
});
