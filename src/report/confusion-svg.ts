import { esc, r2, svgDocument, text, textColourOn, textWidth, widthForTitle } from './svg.js';
import { fixed } from '../util/format.js';

/**
 * A confusion matrix as a heat map: rows = true class, columns = predicted class, each cell shaded by the
 * share of its row (so classes with few images read the same as large ones), the count written in the cell
 * while cells are big enough to hold it. Class names label rows and columns up to 60 classes; beyond that the
 * cells are too small for text and only the tooltips name them.
 */

export interface ConfusionFigureOptions {
  title?: string;
}

/** White → dark blue by the share of the row (0..1). */
function shade(share: number): string {
  const t = Math.max(0, Math.min(1, share));
  const from = [255, 255, 255];
  const to = [8, 48, 107];
  const c = from.map((f, i) => Math.round(f + (to[i] - f) * t));
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

export function renderConfusionSvg(classes: string[], confusion: number[][], options: ConfusionFigureOptions = {}): string {
  const C = classes.length;
  const labelled = C <= 60;
  const cell = Math.max(6, Math.min(36, Math.floor(560 / Math.max(1, C))));
  const fontSize = Math.min(11, Math.max(7, cell * 0.45));
  const labelW = labelled ? Math.max(...classes.map((c) => textWidth(c, fontSize))) + 10 : 10;
  const title = options.title ?? `Confusion matrix (${C} classes)`;
  const titleH = 40;
  const left = 40 + labelW;
  const top = titleH + (labelled ? labelW * 0.75 + 12 : 12);
  const gridW = cell * C;
  const legendW = 80;
  const width = widthForTitle(Math.max(left + gridW + legendW + 20, left + gridW + labelW * 0.75 + 10), title);
  const height = top + gridW + 48;
  const body: string[] = [text(width / 2, 26, title, { size: 15, anchor: 'middle', weight: 'bold' })];
  const rowTotals = confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const showCounts = cell >= 18;
  for (let i = 0; i < C; i++) {
    for (let j = 0; j < C; j++) {
      const n = confusion[i]?.[j] ?? 0;
      const share = rowTotals[i] ? n / rowTotals[i] : 0;
      const fill = shade(share);
      const x = left + j * cell;
      const y = top + i * cell;
      const tip = `true ${classes[i]}, predicted ${classes[j]}: ${n} of ${rowTotals[i]} (${fixed(100 * share, 1)} %)`;
      body.push(`<rect x="${r2(x)}" y="${r2(y)}" width="${cell}" height="${cell}" fill="${fill}" stroke="#dddddd" stroke-width="0.5"><title>${esc(tip)}</title></rect>`);
      if (showCounts && n > 0) body.push(text(x + cell / 2, y + cell / 2, String(n), { size: fontSize, anchor: 'middle', valign: 'middle', fill: textColourOn(fill) }));
    }
  }
  body.push(`<rect x="${r2(left)}" y="${r2(top)}" width="${gridW}" height="${gridW}" fill="none" stroke="#333333" stroke-width="1"/>`);
  if (labelled) {
    classes.forEach((c, i) => {
      body.push(text(left - 6, top + i * cell + cell / 2, c, { size: fontSize, anchor: 'end', valign: 'middle' }));
      const x = left + i * cell + cell / 2;
      body.push(text(x + fontSize * 0.35, top - 6, c, { size: fontSize, anchor: 'start', rotate: -45 }));
    });
  }
  body.push(text(left + gridW / 2, top + gridW + 30, 'predicted class', { size: 12, anchor: 'middle' }));
  body.push(text(14, top + gridW / 2, 'true class', { size: 12, anchor: 'middle', rotate: -90 }));
  // colour scale: share of the row
  const lx = left + gridW + 24;
  const steps = 10;
  for (let s = 0; s < steps; s++) {
    const h = gridW / steps;
    body.push(`<rect x="${r2(lx)}" y="${r2(top + s * h)}" width="14" height="${r2(h + 0.5)}" fill="${shade(1 - s / (steps - 1))}"/>`);
  }
  body.push(`<rect x="${r2(lx)}" y="${r2(top)}" width="14" height="${gridW}" fill="none" stroke="#333333" stroke-width="0.8"/>`);
  body.push(text(lx + 20, top + 8, '100 %', { size: 10 }));
  body.push(text(lx + 20, top + gridW, '0 %', { size: 10 }));
  body.push(text(lx + 20, top + gridW / 2, 'of row', { size: 10, valign: 'middle' }));
  return svgDocument(width, height, body, title);
}
