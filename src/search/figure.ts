/**
 * The search's figure: objective against trainable parameters (left) and against measured time per training
 * step (right), one point per candidate at the largest budget it reached (darker = trained longer), the
 * Pareto front of each panel (no other candidate scores higher at a lower cost), the paper's default and
 * MaPLe's replacement marked, the best ringed. Plain SVG with the report figures' helpers (src/report/).
 */
import { axes } from '../report/plots.js';
import { esc, niceTicks, r2, svgDocument, text, textWidth } from '../report/svg.js';
import { paretoFront } from './halving.js';
import type { SearchResult } from './search.js';

const FRONT = '#D55E00';
const PAPER = '#E69F00';
const MAPLE = '#009E73';

/** Light grey to dark blue, one shade per rung. */
function rungColour(i: number, n: number): string {
  const t = n <= 1 ? 1 : i / (n - 1);
  const mix = (a: number, b: number) => Math.round(a + (b - a) * t).toString(16).padStart(2, '0');
  return `#${mix(0xc8, 0x1f)}${mix(0xc8, 0x4e)}${mix(0xc8, 0x9c)}`;
}

interface Panel {
  xLabel: string;
  x: (c: SearchResult['candidates'][number]) => number | null;
  format: (v: number) => string;
}

export function renderSearchSvg(r: SearchResult, title: string): string {
  const points = r.candidates.filter((c) => c.objective !== null);
  const panels: Panel[] = [
    { xLabel: 'Trainable parameters', x: (c) => c.parameters, format: (v) => v.toLocaleString('en-US') },
    { xLabel: 'Time per training step (ms, measured)', x: (c) => c.step_ms, format: (v) => `${v.toFixed(1)} ms` },
  ];
  const refId = (name: string) => r.references.find((x) => x.name === name)?.candidate ?? null;
  const paper = refId('paper-default');
  const maple = refId('maple-replacement');
  const bestId = r.best?.id ?? null;
  const left = 72;
  const top = 48;
  const plotW = 380;
  const plotH = 300;
  const gap = 96;
  const body: string[] = [text(left + plotW + gap / 2, 28, title, { size: 15, anchor: 'middle', weight: 'bold' })];
  const ys = points.map((c) => c.objective!);
  const yPad = Math.max((Math.max(...ys) - Math.min(...ys)) * 0.1, 1);
  const yt = niceTicks(Math.max(0, Math.min(...ys) - yPad), Math.min(100, Math.max(...ys) + yPad), 6);

  panels.forEach((panel, p) => {
    const x0 = left + p * (plotW + gap);
    const data = points.map((c) => ({ c, x: panel.x(c), y: c.objective! })).filter((d): d is { c: typeof d.c; x: number; y: number } => d.x !== null);
    if (data.length === 0) return;
    const xs = data.map((d) => d.x);
    const xPad = Math.max((Math.max(...xs) - Math.min(...xs)) * 0.08, Math.abs(Math.max(...xs)) * 0.02, 1e-6);
    const xt = niceTicks(Math.max(0, Math.min(...xs) - xPad), Math.max(...xs) + xPad, 5);
    const sx = (v: number) => x0 + ((v - xt[0]) / (xt[xt.length - 1] - xt[0])) * plotW;
    const sy = (v: number) => top + plotH - ((v - yt[0]) / (yt[yt.length - 1] - yt[0])) * plotH;
    body.push(...axes(x0, top, plotW, plotH, xt, yt, sx, sy));
    body.push(text(x0 + plotW / 2, top + plotH + 42, panel.xLabel, { size: 13, anchor: 'middle' }));
    if (p === 0) body.push(text(x0 - 52, top + plotH / 2, r.objective.protocol === 'base2new' ? 'Objective: pseudo HM (%)' : 'Objective: val accuracy (%)', { size: 13, anchor: 'middle', rotate: -90 }));
    // the front as a staircase: each front point holds until the next one improves on it
    const front = paretoFront(data).map((i) => data[i]);
    if (front.length > 1) {
      let d = `M${r2(sx(front[0].x))} ${r2(sy(front[0].y))}`;
      for (const f of front.slice(1)) d += `H${r2(sx(f.x))}V${r2(sy(f.y))}`;
      body.push(`<path d="${d}" fill="none" stroke="${FRONT}" stroke-width="1.5" stroke-dasharray="5 3"/>`);
    }
    const onFront = new Set(front.map((f) => f.c.id));
    for (const { c, x, y } of data) {
      const cx = sx(x);
      const cy = sy(y);
      const rung = r.rungs.indexOf(c.epochs);
      const tip = esc(`${c.id} ${c.flags}: ${y.toFixed(2)} after ${c.epochs} epochs, ${panel.format(x)}${onFront.has(c.id) ? ' (Pareto front)' : ''}`);
      if (c.id === paper || c.id === maple) {
        const colour = c.id === paper ? PAPER : MAPLE;
        const s = 7;
        const shape = c.id === paper ? `M${r2(cx)} ${r2(cy - s)}L${r2(cx + s)} ${r2(cy)}L${r2(cx)} ${r2(cy + s)}L${r2(cx - s)} ${r2(cy)}Z` : `M${r2(cx - s + 1)} ${r2(cy - s + 1)}h${2 * s - 2}v${2 * s - 2}h${-(2 * s - 2)}Z`;
        body.push(`<path d="${shape}" fill="${colour}" stroke="#222222" stroke-width="1.2"><title>${tip}</title></path>`);
        // labels stay inside the plot: to the left of points in its right third;
        const right = cx > x0 + plotW * 0.66;
        // the paper's default labelled below its point, MaPLe's above: the two never collide
        body.push(text(right ? cx - 10 : cx + 10, c.id === paper ? cy + 18 : cy - 8, c.id === paper ? 'paper default' : 'MaPLe repl.', { size: 11, fill: '#222222', anchor: right ? 'end' : 'start' }));
      } else {
        const edge = onFront.has(c.id) ? `stroke="${FRONT}" stroke-width="1.6"` : 'stroke="#333333" stroke-width="0.8"';
        body.push(`<circle cx="${r2(cx)}" cy="${r2(cy)}" r="4.5" fill="${rungColour(rung, r.rungs.length)}" ${edge}><title>${tip}</title></circle>`);
      }
      if (c.id === bestId) {
        body.push(`<circle cx="${r2(cx)}" cy="${r2(cy)}" r="10" fill="none" stroke="${FRONT}" stroke-width="2"/>`);
        body.push(text(cx, cy - 14, 'best', { size: 12, anchor: 'middle', weight: 'bold', fill: FRONT }));
      }
    }
  });

  // legend and notes under the panels
  let y = top + plotH + 72;
  const legend: string[] = [];
  let x = left;
  const item = (marker: string, label: string) => {
    legend.push(marker.replace(/\{x\}/g, r2(x + 6)).replace(/\{y\}/g, r2(y - 4)));
    legend.push(text(x + 16, y, label, { size: 11 }));
    x += textWidth(label, 11) + 34;
  };
  r.rungs.forEach((e, i) => item(`<circle cx="{x}" cy="{y}" r="4.5" fill="${rungColour(i, r.rungs.length)}" stroke="#333333" stroke-width="0.8"/>`, i + 1 < r.rungs.length ? `stopped after ${e} epochs` : `trained the full ${e} epochs`));
  body.push(...legend);
  x = left;
  y += 20;
  legend.length = 0;
  item(`<path d="M{x} {y}m0 -7l7 7l-7 7l-7 -7Z" fill="${PAPER}" stroke="#222222"/>`, 'paper default');
  item(`<rect x="{x}" y="{y}" width="12" height="12" transform="translate(-6 -6)" fill="${MAPLE}" stroke="#222222"/>`, "MaPLe's replacement");
  item(`<path d="M{x} {y}m-8 0h16" stroke="${FRONT}" stroke-width="1.5" stroke-dasharray="5 3"/>`, 'Pareto front (its points ringed thin)');
  item(`<circle cx="{x}" cy="{y}" r="7" fill="none" stroke="${FRONT}" stroke-width="2"/>`, 'best');
  body.push(...legend);
  const notes = [
    `Each point: a candidate at the largest budget it reached (${r.rungs.join(' / ')} epochs; only the best 1/${r.eta} of a rung continue).`,
    `Objective: ${r.objective.metric}; seed${r.seeds.length > 1 ? 's' : ''} ${r.seeds.join(', ')}; never the test split or the new classes.`,
    r.best ? `Best: ${r.best.flags} (${r.best.objective!.toFixed(2)}, ${r.best.parameters.toLocaleString('en-US')} parameters)` : 'No candidate reached the full budget.',
  ];
  y += 12;
  for (const n of notes) {
    y += 16;
    body.push(text(left - 48, y, n, { size: 11 }));
  }
  const width = Math.max(left + 2 * plotW + gap + 24, ...notes.map((n) => textWidth(n, 11) + left));
  return svgDocument(width, y + 14, body, title);
}
