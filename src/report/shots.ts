/**
 * CoOp's few-shot figure: accuracy against the number of training images per class (1, 2, 4, 8, 16), one line
 * per method, zero-shot CLIP as a star at 0 shots. Built from the few-shot result files themselves: a line
 * joins runs of one method with one configuration (backbone, precision, method options), only their shots
 * differ; each point is the mean over seeds (±std whiskers), averaged over datasets when several are shown.
 */
import { UserError } from '../util/errors.js';
import { learnsPrompts } from '../prompting/methods/index.js';
import { mean, populationStd } from './collect.js';
import type { LoadedResult } from './result-files.js';
import { datasetDisplayName, methodDisplayName, sortDatasets, sortMethods } from './names.js';
import { methodColours } from './plots.js';
import { esc, niceTicks, r2, svgDocument, text, textWidth, tickLabel, widthForTitle } from './svg.js';
import { percent } from '../util/format.js';

export interface ShotsPoint {
  shots: number;
  /** mean over datasets of the mean over seeds */
  mean: number;
  /** population std over seeds (one dataset), or null when averaging several datasets */
  std: number | null;
  n_seeds: number;
}

export interface ShotsSeries {
  /** method plus, when one method has several configurations, what tells them apart */
  key: string;
  label: string;
  method: string;
  points: ShotsPoint[];
}

export interface ShotsData {
  series: ShotsSeries[];
  /** the datasets every point averages over */
  datasets: string[];
  /** zero-shot CLIP on the same datasets (mean), when there are zero-shot results for all of them */
  zeroShot: number | null;
}

/** The accuracy a result reports on its own (training) dataset. */
function ownAccuracy(r: LoadedResult['result']): number | undefined {
  const acc = r.accuracy ?? {};
  return acc[r.dataset] ?? Object.values(acc)[0];
}

/** What must be equal for runs to sit on one line: everything but the shots, seed and epochs (CoOp's epochs follow K). */
function configOf(r: LoadedResult['result']): string {
  const c = (r.config ?? {}) as Record<string, unknown>;
  return JSON.stringify([r.backbone, r.precision ?? 'fp32', c.method_options ?? null]);
}

/** The series of the figure; `dataset` restricts it to one dataset (else the datasets all series share). */
export function shotsData(results: LoadedResult[], dataset?: string): ShotsData {
  const few = results.filter((x) => x.result.protocol === 'fewshot' && learnsPrompts(x.result.method) && (!dataset || x.result.dataset === dataset));
  if (few.length === 0) throw new UserError(dataset ? `no few-shot results on ${dataset}` : 'no few-shot results (mpl fewshot writes them)');
  // series key → dataset → shots → accuracies over seeds
  const byKey = new Map<string, { method: string; config: string; cells: Map<string, Map<number, number[]>> }>();
  for (const { result: r } of few) {
    const acc = ownAccuracy(r);
    if (acc === undefined) continue;
    const config = configOf(r);
    const key = `${r.method}\u0000${config}`;
    let s = byKey.get(key);
    if (!s) byKey.set(key, (s = { method: r.method, config, cells: new Map() }));
    let byShots = s.cells.get(r.dataset);
    if (!byShots) s.cells.set(r.dataset, (byShots = new Map()));
    const xs = byShots.get(r.shots) ?? [];
    xs.push(acc);
    byShots.set(r.shots, xs);
  }
  // the datasets that every series has (at some shots): a point averages the same datasets on every line
  const all = [...byKey.values()];
  const datasets = sortDatasets([...all[0].cells.keys()].filter((d) => all.every((s) => s.cells.has(d))));
  if (datasets.length === 0) throw new UserError('the few-shot results of different methods share no dataset: choose one with --dataset');
  const perMethod = new Map<string, number>();
  for (const s of all) perMethod.set(s.method, (perMethod.get(s.method) ?? 0) + 1);
  const order = sortMethods(new Set(all.map((s) => s.method)));
  const series: ShotsSeries[] = [];
  let variant = 0;
  for (const method of order) {
    for (const s of all.filter((x) => x.method === method)) {
      const shots = [...new Set(datasets.flatMap((d) => [...s.cells.get(d)!.keys()]))].filter((k) => datasets.every((d) => s.cells.get(d)!.has(k))).sort((a, b) => a - b);
      const points = shots.map((k): ShotsPoint => {
        const perDataset = datasets.map((d) => s.cells.get(d)!.get(k)!);
        return {
          shots: k,
          mean: mean(perDataset.map(mean)),
          std: datasets.length === 1 ? populationStd(perDataset[0]) : null,
          n_seeds: Math.min(...perDataset.map((xs) => xs.length)),
        };
      });
      const several = perMethod.get(method)! > 1;
      const label = several ? `${methodDisplayName(method)} (${++variant})` : methodDisplayName(method);
      series.push({ key: several ? `${method}#${variant}` : method, label, method, points });
    }
  }
  // zero-shot CLIP: zeroshot-protocol results, or few-shot runs of the zeroshot method, on every dataset
  const zs = results.filter((x) => !learnsPrompts(x.result.method) && (x.result.protocol === 'zeroshot' || x.result.protocol === 'fewshot'));
  const zsPer = datasets.map((d) => zs.filter((x) => x.result.dataset === d).map((x) => ownAccuracy(x.result)).filter((a): a is number => a !== undefined));
  const zeroShot = zsPer.every((xs) => xs.length > 0) ? mean(zsPer.map(mean)) : null;
  return { series: series.filter((s) => s.points.length > 0), datasets, zeroShot };
}

export interface ShotsFigureOptions {
  title?: string;
}

/** The figure: x = shots per class at even spacing (0 for zero-shot CLIP), y = accuracy, a line per series. */
export function renderShotsSvg(data: ShotsData, options: ShotsFigureOptions = {}): string {
  const shots = [...new Set(data.series.flatMap((s) => s.points.map((p) => p.shots)))].sort((a, b) => a - b);
  const xs = data.zeroShot !== null ? [0, ...shots] : shots;
  const values = data.series.flatMap((s) => s.points.flatMap((p) => [p.mean - (p.std ?? 0), p.mean + (p.std ?? 0)]));
  if (data.zeroShot !== null) values.push(data.zeroShot);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const pad = Math.max((hi - lo) * 0.08, 0.5);
  const yt = niceTicks(Math.max(0, lo - pad), Math.min(100, hi + pad), 6);
  const keys = data.series.map((s) => s.key);
  const colours = methodColours(keys);
  const where = data.datasets.length === 1 ? datasetDisplayName(data.datasets[0]) : `average over ${data.datasets.length} datasets`;
  const title = options.title ?? `Few-shot learning: accuracy vs. shots per class (${where})`;
  const legendLines = [...data.series.map((s) => s.label), ...(data.zeroShot !== null ? ['Zero-shot CLIP'] : [])];
  const legendW = Math.max(...legendLines.map((l) => textWidth(l, 12))) + 40;
  const left = 70;
  const top = 52;
  const plotW = Math.max(320, 70 * xs.length);
  const plotH = 320;
  const width = widthForTitle(left + plotW + legendW + 40, title);
  const height = top + plotH + 60;
  const sx = (i: number) => left + ((i + 0.5) / xs.length) * plotW;
  const xIndex = new Map(xs.map((k, i) => [k, i]));
  const sy = (v: number) => top + plotH - ((v - yt[0]) / (yt[yt.length - 1] - yt[0])) * plotH;
  const body: string[] = [text(width / 2, 28, title, { size: 15, anchor: 'middle', weight: 'bold' })];
  body.push('<g stroke-linecap="square">');
  for (const v of yt) body.push(`<line x1="${r2(left)}" y1="${r2(sy(v))}" x2="${r2(left + plotW)}" y2="${r2(sy(v))}" stroke="#e3e3e3" stroke-width="1"/>`);
  body.push(`<rect x="${r2(left)}" y="${r2(top)}" width="${r2(plotW)}" height="${r2(plotH)}" fill="none" stroke="#333333" stroke-width="1"/>`);
  body.push('</g>');
  for (const v of yt) body.push(text(left - 8, sy(v), tickLabel(v, yt), { size: 11, anchor: 'end', valign: 'middle' }));
  xs.forEach((k, i) => body.push(text(sx(i), top + plotH + 19, String(k), { size: 11, anchor: 'middle' })));
  body.push(text(left + plotW / 2, top + plotH + 44, 'Training images per class (shots)', { size: 13, anchor: 'middle' }));
  body.push(text(left - 50, top + plotH / 2, 'Accuracy (%)', { size: 13, anchor: 'middle', rotate: -90 }));
  for (const s of data.series) {
    const c = colours.get(s.key)!;
    const pts = s.points.map((p) => [sx(xIndex.get(p.shots)!), sy(p.mean)] as const);
    if (pts.length > 1) body.push(`<path d="${pts.map(([x, y], i) => `${i ? 'L' : 'M'}${r2(x)} ${r2(y)}`).join('')}" fill="none" stroke="${c}" stroke-width="2"/>`);
    s.points.forEach((p, i) => {
      const [x, y] = pts[i];
      if (p.std) {
        const y0 = sy(Math.max(yt[0], p.mean - p.std));
        const y1 = sy(Math.min(yt[yt.length - 1], p.mean + p.std));
        body.push(`<path d="M${r2(x)} ${r2(y0)}V${r2(y1)}M${r2(x - 3)} ${r2(y0)}H${r2(x + 3)}M${r2(x - 3)} ${r2(y1)}H${r2(x + 3)}" stroke="${c}" stroke-width="1" fill="none"/>`);
      }
      const tip = `${s.label}, ${p.shots} shots: ${percent(p.mean)} %${p.std ? ` ± ${percent(p.std)}` : ''} (${p.n_seeds} seed${p.n_seeds === 1 ? '' : 's'})`;
      body.push(`<circle cx="${r2(x)}" cy="${r2(y)}" r="4.5" fill="${c}" stroke="#222222" stroke-width="0.8"><title>${esc(tip)}</title></circle>`);
    });
  }
  const star = (cx: number, cy: number, r: number) =>
    Array.from({ length: 10 }, (_, i) => {
      const a = (Math.PI / 5) * i - Math.PI / 2;
      const rr = i % 2 ? r * 0.45 : r;
      return `${i ? 'L' : 'M'}${r2(cx + rr * Math.cos(a))} ${r2(cy + rr * Math.sin(a))}`;
    }).join('') + 'Z';
  if (data.zeroShot !== null) {
    body.push(`<path d="${star(sx(0), sy(data.zeroShot), 9)}" fill="#999999" stroke="#222222" stroke-width="0.8"><title>${esc(`Zero-shot CLIP: ${percent(data.zeroShot)} %`)}</title></path>`);
  }
  // legend
  const lx = left + plotW + 20;
  const rowH = 20;
  body.push(`<rect x="${r2(lx)}" y="${r2(top)}" width="${r2(legendW)}" height="${r2(legendLines.length * rowH + 12)}" fill="#ffffff" stroke="#bbbbbb" stroke-width="1"/>`);
  data.series.forEach((s, i) => {
    const cy = top + 6 + rowH * i + rowH / 2;
    body.push(`<path d="M${r2(lx + 6)} ${r2(cy)}H${r2(lx + 26)}" stroke="${colours.get(s.key)}" stroke-width="2"/>`);
    body.push(`<circle cx="${r2(lx + 16)}" cy="${r2(cy)}" r="4" fill="${colours.get(s.key)}" stroke="#222222" stroke-width="0.8"/>`);
    body.push(text(lx + 32, cy, s.label, { size: 12, valign: 'middle' }));
  });
  if (data.zeroShot !== null) {
    const cy = top + 6 + rowH * data.series.length + rowH / 2;
    body.push(`<path d="${star(lx + 16, cy, 7)}" fill="#999999" stroke="#222222" stroke-width="0.8"/>`);
    body.push(text(lx + 32, cy, 'Zero-shot CLIP', { size: 12, valign: 'middle' }));
  }
  return svgDocument(width, height, body, title);
}
