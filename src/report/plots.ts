import { datasetDisplayName, methodColour, methodDisplayName } from './names.js';
import { esc, niceTicks, PALETTE, r2, svgDocument, text, textWidth, tickLabel, widthForTitle } from './svg.js';
import type { MetricView, TimePoint } from './views.js';
import { fixed, percent } from '../util/format.js';

/**
 * The two result figures as SVG strings: the paper's Figure 2 (average accuracy against average training
 * time per method) and a grouped bar chart of accuracy per dataset. Both take already-aggregated numbers
 * (views.ts), so they show exactly what the tables show.
 */

const AXIS = '#333333';
const GRID = '#e3e3e3';

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}
const overlaps = (a: Box, b: Box): boolean => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

/** Seconds shown in the unit that keeps the numbers readable. */
export function timeUnit(maxSeconds: number): { unit: string; divisor: number } {
  if (maxSeconds < 180) return { unit: 's', divisor: 1 };
  if (maxSeconds < 3 * 3600) return { unit: 'min', divisor: 60 };
  return { unit: 'h', divisor: 3600 };
}

/**
 * Colours of the methods in one figure: each known method keeps its own colour across figures; unknown
 * methods, and a second variant of one method, take the first palette colour not yet used.
 */
export function methodColours(keys: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const used = new Set<string>();
  for (const k of keys) {
    const fixed = methodColour(k);
    if (fixed && !used.has(fixed)) {
      out.set(k, fixed);
      used.add(fixed);
    }
  }
  let next = 0;
  for (const k of keys) {
    if (out.has(k)) continue;
    let c = PALETTE[next % PALETTE.length];
    for (let tries = 0; used.has(c) && tries < PALETTE.length; tries++) c = PALETTE[++next % PALETTE.length];
    next++;
    out.set(k, c);
    used.add(c);
  }
  return out;
}

export interface TimeFigureOptions {
  /** y axis label, e.g. "Average HM (%)" */
  yLabel: string;
  title?: string;
  /** lines under the figure, e.g. which configuration each method is (see configNotes) */
  notes?: string[];
}

/** The lines under a figure: its height and the SVG text, and the width they need. */
function notesBlock(notes: string[] | undefined, y: number): { height: number; width: number; body: string[] } {
  if (!notes?.length) return { height: 0, width: 0, body: [] };
  return {
    height: notes.length * 16 + 6,
    width: Math.max(...notes.map((n) => textWidth(n, 11))) + 24,
    body: notes.map((n, i) => text(12, y + 14 + i * 16, n, { size: 11, anchor: 'start' })),
  };
}

/**
 * Figure 2: one labelled point per method at (mean training seconds per dataset, average accuracy), with
 * axes, ticks, gridlines and a legend that repeats the two numbers.
 */
export function renderTimeSvg(points: TimePoint[], options: TimeFigureOptions): string {
  const colours = methodColours(points.map((p) => p.key));
  const { unit, divisor } = timeUnit(Math.max(...points.map((p) => p.train_seconds)));
  const xs = points.map((p) => p.train_seconds / divisor);
  const ys = points.map((p) => p.accuracy);
  const pad = (lo: number, hi: number) => Math.max((hi - lo) * 0.12, Math.abs(hi) * 0.02, 0.5);
  const xPad = pad(Math.min(...xs), Math.max(...xs));
  const yPad = pad(Math.min(...ys), Math.max(...ys));
  const xt = niceTicks(Math.max(0, Math.min(...xs) - xPad), Math.max(...xs) + xPad, 6);
  const yt = niceTicks(Math.min(...ys) - yPad, Math.min(100, Math.max(...ys) + yPad), 6);

  const legendLines = points.map(
    (p, i) => `${methodDisplayName(p.key)}: ${percent(ys[i])} %, ${fixed(xs[i], unit === 's' ? 1 : 2)} ${unit}`,
  );
  const legendW = Math.max(...legendLines.map((l) => textWidth(l, 12))) + 40;
  const left = 72;
  const top = options.title ? 48 : 20;
  const plotW = 460;
  const plotH = 320;
  const right = legendW + 44;
  const bottom = 56;
  const notes = notesBlock(options.notes, top + plotH + bottom);
  const width = widthForTitle(Math.max(left + plotW + right, notes.width), options.title);
  const height = top + plotH + bottom + notes.height;
  const sx = (v: number) => left + ((v - xt[0]) / (xt[xt.length - 1] - xt[0])) * plotW;
  const sy = (v: number) => top + plotH - ((v - yt[0]) / (yt[yt.length - 1] - yt[0])) * plotH;

  const body: string[] = [];
  if (options.title) body.push(text(width / 2, 28, options.title, { size: 15, anchor: 'middle', weight: 'bold' }));
  body.push(...axes(left, top, plotW, plotH, xt, yt, sx, sy));
  body.push(text(left + plotW / 2, top + plotH + 44, `Average training time per dataset (${unit})`, { size: 13, anchor: 'middle' }));
  body.push(text(left - 52, top + plotH / 2, options.yLabel, { size: 13, anchor: 'middle', rotate: -90 }));

  // Points first, then labels placed where they collide with no other label or point.
  const placed: Box[] = points.map((_, i) => {
    const x = sx(xs[i]);
    const y = sy(ys[i]);
    return { x0: x - 7, y0: y - 7, x1: x + 7, y1: y + 7 };
  });
  points.forEach((p, i) => {
    body.push(
      `<circle cx="${r2(sx(xs[i]))}" cy="${r2(sy(ys[i]))}" r="6.5" fill="${colours.get(p.key)}" stroke="#222222" stroke-width="1"><title>${esc(legendLines[i])}</title></circle>`,
    );
  });
  points.forEach((p, i) => {
    const label = methodDisplayName(p.key);
    const w = textWidth(label, 12);
    const x = sx(xs[i]);
    const y = sy(ys[i]);
    const candidates: Array<[number, number, 'start' | 'end' | 'middle']> = [
      [x + 10, y + 4, 'start'],
      [x - 10, y + 4, 'end'],
      [x, y - 11, 'middle'],
      [x, y + 20, 'middle'],
      [x + 10, y - 8, 'start'],
      [x + 10, y + 16, 'start'],
      [x - 10, y - 8, 'end'],
      [x - 10, y + 16, 'end'],
    ];
    const boxOf = ([cx, cy, a]: [number, number, string]): Box => {
      const x0 = a === 'start' ? cx : a === 'end' ? cx - w : cx - w / 2;
      return { x0, y0: cy - 11, x1: x0 + w, y1: cy + 3 };
    };
    const inside = (b: Box) => b.x0 >= left && b.x1 <= left + plotW && b.y0 >= top && b.y1 <= top + plotH;
    const choice =
      candidates.find((c) => inside(boxOf(c)) && !placed.some((b) => overlaps(b, boxOf(c)))) ??
      candidates.find((c) => inside(boxOf(c))) ??
      candidates[0];
    placed.push(boxOf(choice));
    body.push(text(choice[0], choice[1], label, { size: 12, anchor: choice[2] }));
  });

  body.push(...legend(left + plotW + 24, top, points.map((p) => p.key), legendLines, colours, 'circle'));
  body.push(...notes.body);
  return svgDocument(width, height, body, options.title);
}

/** Frame, gridlines, ticks and tick labels of a plot area (also used by the schedule search's figure). */
export function axes(
  left: number,
  top: number,
  w: number,
  h: number,
  xt: number[] | null,
  yt: number[],
  sx: (v: number) => number,
  sy: (v: number) => number,
): string[] {
  const out: string[] = ['<g stroke-linecap="square">'];
  for (const v of yt) {
    const y = sy(v);
    out.push(`<line x1="${r2(left)}" y1="${r2(y)}" x2="${r2(left + w)}" y2="${r2(y)}" stroke="${GRID}" stroke-width="1"/>`);
    out.push(`<line x1="${r2(left - 5)}" y1="${r2(y)}" x2="${r2(left)}" y2="${r2(y)}" stroke="${AXIS}" stroke-width="1"/>`);
  }
  for (const v of xt ?? []) {
    const x = sx(v);
    out.push(`<line x1="${r2(x)}" y1="${r2(top)}" x2="${r2(x)}" y2="${r2(top + h)}" stroke="${GRID}" stroke-width="1"/>`);
    out.push(`<line x1="${r2(x)}" y1="${r2(top + h)}" x2="${r2(x)}" y2="${r2(top + h + 5)}" stroke="${AXIS}" stroke-width="1"/>`);
  }
  out.push(`<rect x="${r2(left)}" y="${r2(top)}" width="${r2(w)}" height="${r2(h)}" fill="none" stroke="${AXIS}" stroke-width="1"/>`);
  out.push('</g>');
  for (const v of yt) out.push(text(left - 8, sy(v), tickLabel(v, yt), { size: 11, anchor: 'end', valign: 'middle' }));
  for (const v of xt ?? []) out.push(text(sx(v), top + h + 19, tickLabel(v, xt!), { size: 11, anchor: 'middle' }));
  return out;
}

function legend(
  x: number,
  y: number,
  keys: string[],
  lines: string[],
  colours: Map<string, string>,
  marker: 'circle' | 'square',
): string[] {
  const rowH = 20;
  const w = Math.max(...lines.map((l) => textWidth(l, 12))) + 34;
  const h = keys.length * rowH + 12;
  const out = [`<rect x="${r2(x)}" y="${r2(y)}" width="${r2(w)}" height="${r2(h)}" fill="#ffffff" stroke="#bbbbbb" stroke-width="1"/>`];
  keys.forEach((k, i) => {
    const cy = y + 6 + rowH * i + rowH / 2;
    out.push(
      marker === 'circle'
        ? `<circle cx="${r2(x + 14)}" cy="${r2(cy)}" r="5.5" fill="${colours.get(k)}" stroke="#222222" stroke-width="1"/>`
        : `<rect x="${r2(x + 8)}" y="${r2(cy - 6)}" width="12" height="12" fill="${colours.get(k)}" stroke="#222222" stroke-width="0.5"/>`,
    );
    out.push(text(x + 26, cy, lines[i], { size: 12, valign: 'middle' }));
  });
  return out;
}

export interface DatasetsFigureOptions {
  /** y axis label, e.g. "HM (%)" */
  yLabel: string;
  title?: string;
  /** lines under the figure (as TimeFigureOptions.notes) */
  notes?: string[];
}

/**
 * Grouped bar chart: one group per dataset column of the view plus an "Avg" group, one bar per method, with
 * ±std whiskers when a bar averages more than one seed. Bars start at 0 so their lengths compare honestly.
 */
export function renderDatasetsSvg(view: MetricView, options: DatasetsFigureOptions): string {
  const keys = view.rows.map((r) => r.key);
  const colours = methodColours(keys);
  const groups = [
    ...view.columns.map((c) => (c === view.source ? `${datasetDisplayName(c)} (source)` : datasetDisplayName(c))),
    'Avg',
  ];
  const values = (g: number, i: number): { mean: number; std: number } | null => {
    const row = view.rows[i];
    if (g < view.columns.length) {
      const c = row.cells[g];
      return c ? { mean: c.mean, std: c.n_seeds > 1 ? c.std : 0 } : null;
    }
    return row.average === null ? null : { mean: row.average, std: 0 };
  };
  let maxV = 0;
  groups.forEach((_, g) => keys.forEach((_, i) => {
    const v = values(g, i);
    if (v) maxV = Math.max(maxV, v.mean + v.std);
  }));
  const yt = niceTicks(0, maxV > 0 ? Math.min(100, maxV * 1.04) : 1, 5);

  const barW = Math.max(5, Math.min(16, 90 / keys.length));
  const groupW = barW * keys.length + 14;
  const labelW = Math.max(...groups.map((g) => textWidth(g, 11)));
  const rotate = labelW > groupW - 4;
  const left = 64;
  const top = options.title ? 48 : 20;
  const plotW = Math.max(groups.length * groupW, 300);
  const plotH = 300;
  const legendLines = keys.map((k) => methodDisplayName(k));
  const legendW = Math.max(...legendLines.map((l) => textWidth(l, 12))) + 34;
  const bottom = (rotate ? labelW * 0.72 + 24 : 34) + 8;
  const notes = notesBlock(options.notes, top + plotH + bottom);
  const width = widthForTitle(Math.max(left + plotW + legendW + 44, notes.width), options.title);
  const height = top + plotH + bottom + notes.height;
  const gw = plotW / groups.length;
  const sy = (v: number) => top + plotH - ((v - yt[0]) / (yt[yt.length - 1] - yt[0])) * plotH;

  const body: string[] = [];
  if (options.title) body.push(text(width / 2, 28, options.title, { size: 15, anchor: 'middle', weight: 'bold' }));
  body.push(...axes(left, top, plotW, plotH, null, yt, () => 0, sy));
  body.push(text(left - 46, top + plotH / 2, options.yLabel, { size: 13, anchor: 'middle', rotate: -90 }));
  // A dashed rule sets the Avg group apart from the datasets.
  const avgX = left + gw * (groups.length - 1);
  body.push(`<line x1="${r2(avgX)}" y1="${r2(top)}" x2="${r2(avgX)}" y2="${r2(top + plotH)}" stroke="#999999" stroke-width="1" stroke-dasharray="4 3"/>`);
  groups.forEach((label, g) => {
    const gx = left + gw * g + (gw - barW * keys.length) / 2;
    keys.forEach((k, i) => {
      const v = values(g, i);
      if (!v) return;
      const x = gx + i * barW;
      const y = sy(Math.max(0, v.mean));
      const tip = `${methodDisplayName(k)}, ${label}: ${percent(v.mean)}${v.std ? ` ± ${percent(v.std)}` : ''}`;
      body.push(
        `<rect x="${r2(x)}" y="${r2(y)}" width="${r2(barW - 1)}" height="${r2(sy(0) - y)}" fill="${colours.get(k)}"><title>${esc(tip)}</title></rect>`,
      );
      if (v.std > 0) {
        const cx = x + (barW - 1) / 2;
        const y0 = sy(Math.max(0, v.mean - v.std));
        const y1 = sy(Math.min(yt[yt.length - 1], v.mean + v.std));
        body.push(
          `<path d="M${r2(cx)} ${r2(y0)}V${r2(y1)}M${r2(cx - 2.5)} ${r2(y0)}H${r2(cx + 2.5)}M${r2(cx - 2.5)} ${r2(y1)}H${r2(cx + 2.5)}" stroke="#222222" stroke-width="1" fill="none"/>`,
        );
      }
    });
    const lx = left + gw * g + gw / 2;
    body.push(
      rotate
        ? text(lx + 4, top + plotH + 14, label, { size: 11, anchor: 'end', rotate: -40 })
        : text(lx, top + plotH + 18, label, { size: 11, anchor: 'middle', weight: label === 'Avg' ? 'bold' : 'normal' }),
    );
  });
  body.push(...legend(left + plotW + 20, top, keys, legendLines, colours, 'square'));
  body.push(...notes.body);
  return svgDocument(width, height, body, options.title);
}
