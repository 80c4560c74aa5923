import * as fs from 'node:fs';
import { fileError } from '../util/errors.js';
import type { LayerLayout, LayoutSegment, PlanLayout, TokenKind } from '../prompting/layout.js';
import { methodDisplayName } from './names.js';
import { esc, r2, svgDocument, text, textColourOn, textWidth } from './svg.js';

/**
 * The per-layer token layout of a prompt plan as a figure: one row per transformer block, the sequence
 * entering it drawn left to right as segments coloured by token kind, one panel per encoder. It makes the
 * difference between methods visible at a glance (MPL's vision sequence grows by add−remove tokens a layer;
 * MaPLe's stays constant; CoOp's prompts sit at layer 0 only).
 */

export const TOKEN_KINDS: readonly TokenKind[] = ['cls', 'patch', 'sos', 'word', 'eot', 'prompt-carried', 'prompt-added'];

export const TOKEN_COLOURS: Record<TokenKind, string> = {
  cls: '#666666',
  patch: '#D0D0D0',
  sos: '#009E73',
  word: '#F0E442',
  eot: '#CC79A7',
  'prompt-carried': '#0072B2',
  'prompt-added': '#D55E00',
};

export const TOKEN_NAMES: Record<TokenKind, string> = {
  cls: 'class token',
  patch: 'image patches',
  sos: 'start token',
  word: 'template words',
  eot: 'end token',
  'prompt-carried': 'prompt (carried)',
  'prompt-added': 'prompt (added)',
};

export interface LayoutFigureOptions {
  /** pixels per token for segments drawn to scale */
  tokenWidth?: number;
  /** segments longer than this are drawn compressed, with a break mark (196 patches would dwarf the prompts) */
  compressAbove?: number;
}

const ROW_H = 18;
const ROW_GAP = 5;

/** Drawn width of a segment: to scale, or a fixed width with a break mark when compressed. */
function segWidth(s: LayoutSegment, unit: number, compressAbove: number): { w: number; compressed: boolean } {
  if (s.count > compressAbove) return { w: unit * 6, compressed: true };
  return { w: unit * s.count, compressed: false };
}

function rowWidth(layer: LayerLayout, unit: number, compressAbove: number): number {
  return layer.segments.reduce((a, s) => a + segWidth(s, unit, compressAbove).w, 0);
}

/** One encoder's panel at (x, y); returns the SVG elements and the panel's size. */
function panel(
  title: string,
  layers: LayerLayout[],
  x: number,
  y: number,
  unit: number,
  compressAbove: number,
): { body: string[]; w: number; h: number } {
  const labelW = 44;
  const maxRow = Math.max(...layers.map((l) => rowWidth(l, unit, compressAbove)), unit * 4);
  const totalW = 40;
  const w = labelW + maxRow + totalW;
  const body: string[] = [];
  body.push(text(x, y + 14, title, { size: 14, weight: 'bold' }));
  body.push(text(x + labelW - 8, y + 36, 'layer', { size: 10, anchor: 'end', fill: '#555555' }));
  body.push(text(x + labelW + maxRow + 8, y + 36, 'tokens', { size: 10, fill: '#555555' }));
  const y0 = y + 44;
  layers.forEach((layer, i) => {
    const ry = y0 + i * (ROW_H + ROW_GAP);
    body.push(text(x + labelW - 8, ry + ROW_H / 2, String(layer.layer), { size: 11, anchor: 'end', valign: 'middle' }));
    let sx = x + labelW;
    // Plans list tokens made by different maps as separate segments (a0^3, a1^3); a run of adjacent
    // segments of one kind gets one count over the whole run instead of a count per segment.
    const runs: Array<{ x0: number; x1: number; count: number; segments: number; fill: string }> = [];
    let prevKind: string | null = null;
    for (const s of layer.segments) {
      if (s.count <= 0) continue;
      const { w, compressed } = segWidth(s, unit, compressAbove);
      const last = runs[runs.length - 1];
      if (!compressed && last && prevKind === s.kind) {
        last.x1 += w;
        last.count += s.count;
        last.segments++;
      } else {
        runs.push({ x0: 0, x1: w, count: s.count, segments: compressed ? 0 : 1, fill: TOKEN_COLOURS[s.kind] ?? '#ffffff' });
      }
      prevKind = compressed ? null : s.kind;
    }
    {
      let rx = x + labelW;
      for (const run of runs) {
        const w = run.x1;
        run.x0 = rx;
        run.x1 = rx + w;
        rx += w;
      }
    }
    const inMultiRun = (px: number): boolean => runs.some((r) => r.segments > 1 && px >= r.x0 - 0.01 && px < r.x1 - 0.01);
    for (const s of layer.segments) {
      if (s.count <= 0) continue;
      const { w, compressed } = segWidth(s, unit, compressAbove);
      const fill = TOKEN_COLOURS[s.kind] ?? '#ffffff';
      const tip = `layer ${layer.layer}: ${s.count} × ${TOKEN_NAMES[s.kind] ?? s.kind}${s.label ? ` (${s.label})` : ''}`;
      body.push(
        `<rect x="${r2(sx)}" y="${r2(ry)}" width="${r2(w)}" height="${ROW_H}" fill="${fill}" stroke="#333333" stroke-width="0.8"><title>${esc(tip)}</title></rect>`,
      );
      if (!compressed && s.count > 1) {
        // Token boundaries as short ticks at the top and bottom edges (the middle is left to the count),
        // so small counts can be read off by eye.
        const d: string[] = [];
        for (let k = 1; k < s.count; k++) {
          const tx = r2(sx + k * unit);
          d.push(`M${tx} ${r2(ry)}V${r2(ry + 4)}M${tx} ${r2(ry + ROW_H - 4)}V${r2(ry + ROW_H)}`);
        }
        body.push(`<path d="${d.join('')}" stroke="${textColourOn(fill)}" stroke-opacity="0.5" stroke-width="0.8"/>`);
      }
      if (compressed) {
        // Break mark: two parallel slashes in background colour cutting the bar, the usual "axis break".
        const cx = sx + w / 2;
        body.push(
          `<path d="M${r2(cx - 7)} ${r2(ry + ROW_H + 2)}L${r2(cx - 1)} ${r2(ry - 2)}M${r2(cx + 1)} ${r2(ry + ROW_H + 2)}L${r2(cx + 7)} ${r2(ry - 2)}" stroke="#ffffff" stroke-width="2.5"/>`,
          `<path d="M${r2(cx - 8.5)} ${r2(ry + ROW_H + 2)}L${r2(cx - 2.5)} ${r2(ry - 2)}M${r2(cx + 2.5)} ${r2(ry + ROW_H + 2)}L${r2(cx + 8.5)} ${r2(ry - 2)}" stroke="#333333" stroke-width="0.8"/>`,
        );
        // The count goes on either side of the break, where there is room.
        const label = String(s.count);
        const lx = textWidth(label, 10) < w / 2 - 10 ? sx + (w / 2 - 8) / 2 : cx;
        body.push(text(lx, ry + ROW_H / 2, label, { size: 10, anchor: 'middle', valign: 'middle', fill: textColourOn(fill) }));
      } else if (s.count > 1 && !inMultiRun(sx) && textWidth(String(s.count), 10) + 4 < w) {
        body.push(text(sx + w / 2, ry + ROW_H / 2, String(s.count), { size: 10, anchor: 'middle', valign: 'middle', fill: textColourOn(fill), weight: 'bold' }));
      }
      sx += w;
    }
    for (const run of runs) {
      if (run.segments > 1 && textWidth(String(run.count), 10) + 4 < run.x1 - run.x0) {
        const c = textColourOn(run.fill);
        body.push(text((run.x0 + run.x1) / 2, ry + ROW_H / 2, String(run.count), { size: 10, anchor: 'middle', valign: 'middle', fill: c, weight: 'bold' }));
      }
    }
    body.push(text(x + labelW + maxRow + 8, ry + ROW_H / 2, String(layer.length), { size: 11, valign: 'middle' }));
  });
  const h = 44 + layers.length * (ROW_H + ROW_GAP);
  return { body, w, h };
}

/** The layout figure as an SVG string (see the file comment); `layout` is what `mpl plan` prints. */
export function renderLayoutSvg(layout: PlanLayout, options: LayoutFigureOptions = {}): string {
  const unit = options.tokenWidth ?? 12;
  const compressAbove = options.compressAbove ?? 16;
  const margin = 20;
  const top = 58;
  const panels: Array<{ title: string; layers: LayerLayout[] }> = [];
  if (layout.vision.length) panels.push({ title: 'Vision encoder', layers: layout.vision });
  if (layout.text.length) panels.push({ title: 'Text encoder', layers: layout.text });

  const body: string[] = [];
  let x = margin;
  let maxH = 0;
  for (const p of panels) {
    const out = panel(p.title, p.layers, x, top, unit, compressAbove);
    body.push(...out.body);
    x += out.w + 36;
    maxH = Math.max(maxH, out.h);
  }
  if (panels.length === 0) {
    body.push(text(margin, top + 20, 'the plan has no layers', { size: 12 }));
    maxH = 30;
    x += 200;
  }

  // Legend: the kinds that appear, in a fixed order, wrapped to the figure's width.
  const used = TOKEN_KINDS.filter((k) => [...layout.vision, ...layout.text].some((l) => l.segments.some((s) => s.kind === k && s.count > 0)));
  const title = `${methodDisplayName(layout.method)}: token layout per layer`;
  const compressed = [...layout.vision, ...layout.text].some((l) => l.segments.some((s) => s.count > compressAbove));
  const note = compressed
    ? `Segments longer than ${compressAbove} tokens are drawn shortened (break mark); numbers are token counts.`
    : 'Numbers are token counts; each tick is one token.';
  const width = Math.max(x - 36 + margin, textWidth(title, 16) + 2 * margin, textWidth(note, 10) + 2 * margin, 360);
  let lx = margin;
  let ly = top + maxH + 18;
  for (const k of used) {
    const itemW = 22 + textWidth(TOKEN_NAMES[k], 11) + 18;
    if (lx + itemW > width - margin && lx > margin) {
      lx = margin;
      ly += 20;
    }
    body.push(`<rect x="${r2(lx)}" y="${r2(ly - 6)}" width="14" height="12" fill="${TOKEN_COLOURS[k]}" stroke="#333333" stroke-width="0.8"/>`);
    body.push(text(lx + 20, ly, TOKEN_NAMES[k], { size: 11, valign: 'middle' }));
    lx += itemW;
  }
  ly += 24;
  body.push(text(margin, ly, note, { size: 10, fill: '#555555' }));
  const height = ly + 16;

  body.unshift(
    text(margin, 28, title, { size: 16, weight: 'bold' }),
    text(margin, 46, `trainable parameters: ${layout.trainable_parameters.toLocaleString('en-US')}`, { size: 12, fill: '#444444' }),
  );
  return svgDocument(width, height, body, title);
}

/** Reads and checks a PlanLayout JSON file, or the output of `mpl plan --json` (which holds one under "layout"). */
export function readPlanLayout(file: string): PlanLayout {
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw fileError(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `not a readable JSON file (${(e as Error).message})`);
  }
  return validatePlanLayout(v, file);
}

export function validatePlanLayout(v: unknown, where: string): PlanLayout {
  const bad = (what: string): never => {
    throw fileError(where, `not a plan layout: ${what}`);
  };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('expected a JSON object');
  let o = v as Record<string, unknown>;
  // `mpl plan --json` wraps the layout: {method, trainable_parameters, vision_lengths, text_lengths, layout}.
  if (typeof o.layout === 'object' && o.layout !== null && !Array.isArray(o.layout) && !('vision' in o)) {
    o = o.layout as Record<string, unknown>;
    v = o;
  }
  if (typeof o.method !== 'string') bad('"method" must be a string');
  if (typeof o.trainable_parameters !== 'number') bad('"trainable_parameters" must be a number');
  for (const enc of ['vision', 'text'] as const) {
    if (!Array.isArray(o[enc])) bad(`"${enc}" must be an array of layers`);
    (o[enc] as unknown[]).forEach((l, i) => {
      const layer = l as Record<string, unknown>;
      if (typeof l !== 'object' || l === null) bad(`${enc}[${i}] must be an object`);
      if (!Number.isInteger(layer.layer)) bad(`${enc}[${i}].layer must be an integer`);
      if (!Number.isInteger(layer.length)) bad(`${enc}[${i}].length must be an integer`);
      if (!Array.isArray(layer.segments)) bad(`${enc}[${i}].segments must be an array`);
      (layer.segments as unknown[]).forEach((s, j) => {
        const seg = s as Record<string, unknown>;
        if (typeof s !== 'object' || s === null) bad(`${enc}[${i}].segments[${j}] must be an object`);
        if (!TOKEN_KINDS.includes(seg.kind as TokenKind)) {
          bad(`${enc}[${i}].segments[${j}].kind ${JSON.stringify(seg.kind)} is not one of ${TOKEN_KINDS.join(', ')}`);
        }
        if (!Number.isInteger(seg.count) || (seg.count as number) < 0) bad(`${enc}[${i}].segments[${j}].count must be an integer ≥ 0`);
        if (seg.label !== undefined && typeof seg.label !== 'string') bad(`${enc}[${i}].segments[${j}].label must be a string`);
      });
    });
  }
  return v as PlanLayout;
}
