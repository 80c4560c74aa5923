import type { METRICS_COLUMNS } from '../train/trainer.js';
import { esc, niceTicks, r2, svgDocument, text, tickLabel, widthForTitle } from './svg.js';
import { fixed } from '../util/format.js';

/**
 * A run's training curves from its metrics.csv: one small panel per quantity (loss, training accuracy,
 * learning rate) against the epoch, each point with a tooltip.
 */

/** One row of metrics.csv, by its columns (src/train/trainer.ts METRICS_COLUMNS). */
export type MetricsRow = Record<(typeof METRICS_COLUMNS)[number], number>;

/** Parses metrics.csv (src/train/trainer.ts writes it); rows with a non-numeric field are refused. */
export function parseMetricsCsv(textIn: string, where: string): MetricsRow[] {
  const lines = textIn.trim().split(/\r?\n/);
  const header = lines[0].split(',');
  const need = ['epoch', 'lr', 'loss', 'accuracy'];
  for (const k of need) if (!header.includes(k)) throw new Error(`${where}: no "${k}" column`);
  return lines.slice(1).map((l, i) => {
    const cells = l.split(',');
    const row: Record<string, number> = {};
    header.forEach((h, j) => (row[h] = Number(cells[j])));
    for (const k of need) if (!Number.isFinite(row[k])) throw new Error(`${where}: line ${i + 2}: "${k}" is not a number`);
    return row as unknown as MetricsRow;
  });
}

const PANEL_W = 260;

/** Tick labels with the decimals the step needs; values all below 0.001 (learning rates) in exponent form. */
function tickText(v: number, ticks: number[]): string {
  return Math.max(...ticks.map(Math.abs)) < 1e-3 ? v.toExponential(1) : tickLabel(v, ticks);
}
const PANEL_H = 170;

function panel(x0: number, y0: number, title: string, rows: MetricsRow[], value: (r: MetricsRow) => number, format: (v: number) => string, colour: string): string[] {
  const ys = rows.map(value);
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  const yt = niceTicks(lo, hi === lo ? lo + Math.abs(lo || 1) * 0.1 : hi, 4);
  const epochs = rows.map((r) => r.epoch);
  const xt = niceTicks(Math.min(...epochs), Math.max(...epochs) === Math.min(...epochs) ? Math.min(...epochs) + 1 : Math.max(...epochs), 5).filter((v) => Number.isInteger(v));
  const xLo = Math.min(xt[0], ...epochs);
  const xHi = Math.max(xt[xt.length - 1], ...epochs);
  const left = x0 + 56;
  const top = y0 + 24;
  const w = PANEL_W - 66;
  const h = PANEL_H - 60;
  const sx = (v: number) => left + ((v - xLo) / (xHi - xLo || 1)) * w;
  const sy = (v: number) => top + h - ((v - yt[0]) / (yt[yt.length - 1] - yt[0])) * h;
  const out = [text(x0 + PANEL_W / 2, y0 + 14, title, { size: 12, anchor: 'middle', weight: 'bold' })];
  for (const v of yt) {
    out.push(`<line x1="${r2(left)}" y1="${r2(sy(v))}" x2="${r2(left + w)}" y2="${r2(sy(v))}" stroke="#e3e3e3" stroke-width="1"/>`);
    out.push(text(left - 6, sy(v), tickText(v, yt), { size: 10, anchor: 'end', valign: 'middle' }));
  }
  for (const v of xt) out.push(text(sx(v), top + h + 15, String(v), { size: 10, anchor: 'middle' }));
  out.push(text(left + w / 2, top + h + 32, 'epoch', { size: 11, anchor: 'middle' }));
  out.push(`<rect x="${r2(left)}" y="${r2(top)}" width="${r2(w)}" height="${r2(h)}" fill="none" stroke="#333333" stroke-width="1"/>`);
  if (rows.length > 1) out.push(`<path d="${rows.map((r, i) => `${i ? 'L' : 'M'}${r2(sx(r.epoch))} ${r2(sy(value(r)))}`).join('')}" fill="none" stroke="${colour}" stroke-width="2"/>`);
  for (const r of rows) {
    out.push(`<circle cx="${r2(sx(r.epoch))}" cy="${r2(sy(value(r)))}" r="3" fill="${colour}"><title>${esc(`epoch ${r.epoch}: ${format(value(r))}`)}</title></circle>`);
  }
  return out;
}

/** Loss, training accuracy and learning rate per epoch, side by side. */
export function renderCurvesSvg(rows: MetricsRow[], title = 'Training curves (metrics.csv)'): string {
  const body: string[] = [];
  const gap = 16;
  const width = widthForTitle(3 * PANEL_W + 2 * gap + 20, title);
  body.push(text(width / 2, 24, title, { size: 15, anchor: 'middle', weight: 'bold' }));
  const x0 = (width - (3 * PANEL_W + 2 * gap)) / 2;
  body.push(...panel(x0, 40, 'training loss', rows, (r) => r.loss, (v) => fixed(v, 3), '#0072B2'));
  body.push(...panel(x0 + PANEL_W + gap, 40, 'training accuracy (%)', rows, (r) => r.accuracy, (v) => fixed(v, 1), '#D55E00'));
  body.push(...panel(x0 + 2 * (PANEL_W + gap), 40, 'learning rate', rows, (r) => r.lr, (v) => v.toExponential(1), '#009E73'));
  return svgDocument(width, 40 + PANEL_H + 10, body, title);
}
