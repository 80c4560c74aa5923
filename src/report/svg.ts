import * as path from 'node:path';
import { UserError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';

/**
 * Small helpers for hand-written SVG figures. The figures are plain SVG 1.1 (no scripts, no CSS beyond
 * presentation attributes, generic `sans-serif` font) so that every viewer and librsvg (sharp's SVG
 * renderer) draw them the same way.
 */

export const FONT = 'sans-serif';

/** Escapes text and attribute values: names come from result files and may hold anything. */
export function esc(s: string | number): string {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** Rounds coordinates to 0.01 px: shorter files, no float noise like 12.000000000001. */
export const r2 = (x: number): string => String(Math.round(x * 100) / 100);

/**
 * Approximate rendered width of a text in a sans-serif font (DejaVu Sans-like metrics). There is no text
 * measurement without a font engine; this estimate only decides margins and label placement, so being a few
 * percent off is harmless.
 */
export function textWidth(text: string, size: number): number {
  let w = 0;
  for (const ch of text) {
    if ('il.,:;!|\'`'.includes(ch)) w += 0.3;
    else if ('fjrt()[] -'.includes(ch)) w += 0.4;
    else if ('mwMW@%'.includes(ch)) w += 0.9;
    else if (ch >= 'A' && ch <= 'Z') w += 0.72;
    else w += 0.62;
  }
  return w * size;
}

/**
 * Colours for methods without a fixed colour (names.ts gives the known methods theirs, Okabe & Ito based):
 * distinct from those fixed ones, so a new method never looks like MaPLe.
 */
export const PALETTE = ['#8C564B', '#E73F74', '#3969AC', '#BCBD22', '#17BECF', '#444444', '#F2B701', '#80BA5A'];

/** Black or white, whichever reads better on the background colour (#rrggbb). */
export function textColourOn(fill: string): string {
  const n = Number.parseInt(fill.slice(1), 16);
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? '#000000' : '#ffffff';
}

/**
 * "Nice" axis ticks covering [lo, hi]: steps of 1, 2, 2.5 or 5 × 10^k, about `count` of them. Returns the
 * tick values, the first ≤ lo and the last ≥ hi, so the axis range is the first and last tick.
 */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.05 : 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(lo / step + 1e-9) * step;
  const ticks: number[] = [];
  for (let v = first; v < hi + step * (1 - 1e-9); v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks.length < 2) ticks.push(Number((first + step).toPrecision(12)));
  return ticks;
}

/** Tick label with as many decimals as the tick step needs (step 2.5 → one decimal, step 20 → none). */
export function tickLabel(v: number, ticks: number[]): string {
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1;
  let decimals = 0;
  while (decimals < 6 && Math.abs(Math.round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6) decimals++;
  return v.toFixed(decimals);
}

/** The SVG root element with a viewBox, a white background and the generic font. */
export function svgDocument(width: number, height: number, body: string[], title?: string): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${r2(width)}" height="${r2(height)}" viewBox="0 0 ${r2(width)} ${r2(height)}" font-family="${FONT}">`,
    title ? `<title>${esc(title)}</title>` : '',
    `<rect x="0" y="0" width="${r2(width)}" height="${r2(height)}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ]
    .filter((l) => l !== '')
    .join('\n');
}

export interface TextOptions {
  size?: number;
  anchor?: 'start' | 'middle' | 'end';
  weight?: 'normal' | 'bold';
  fill?: string;
  /** rotation in degrees around (x, y) */
  rotate?: number;
  /** vertical alignment relative to y: 'middle' centres the text on y (dominant-baseline is not used by
   *  every renderer, so this shifts y by about a third of the font size instead) */
  valign?: 'baseline' | 'middle';
}

export function text(x: number, y: number, s: string, o: TextOptions = {}): string {
  const size = o.size ?? 12;
  const yy = o.valign === 'middle' ? y + size * 0.35 : y;
  const attrs = [
    `x="${r2(x)}"`,
    `y="${r2(yy)}"`,
    `font-size="${size}"`,
    o.anchor && o.anchor !== 'start' ? `text-anchor="${o.anchor}"` : '',
    o.weight === 'bold' ? 'font-weight="bold"' : '',
    o.fill ? `fill="${o.fill}"` : '',
    o.rotate ? `transform="rotate(${o.rotate} ${r2(x)} ${r2(y)})"` : '',
  ].filter(Boolean);
  return `<text ${attrs.join(' ')}>${esc(s)}</text>`;
}

/**
 * The width a figure needs for its title (15 px bold, centred): titles are never clipped, however long the
 * generated one (dataset and metric names) or the user's --title is.
 */
export function widthForTitle(width: number, title: string | undefined, size = 15): number {
  return title ? Math.max(width, textWidth(title, size) * 1.08 + 40) : width;
}

/** Pixel scale of PNG output: 2 px per SVG unit, sharp enough for slides and papers. */
export const PNG_SCALE = 2;

/** Renders an SVG to PNG bytes through sharp (librsvg); `scale` multiplies the SVG's width and height. */
export async function svgToPng(svg: string, scale = PNG_SCALE): Promise<Buffer> {
  // sharp is loaded lazily: it is a native module, and only figures need it.
  const { default: sharp } = await import('sharp');
  return sharp(Buffer.from(svg), { density: 72 * scale }).png().toBuffer();
}

/**
 * Renders an SVG to a one-page vector PDF (page = the SVG's size in points) through PDFKit and svg-to-pdfkit;
 * text in Helvetica (the PDF base font closest to the SVG's generic sans-serif), so nothing is embedded.
 */
export async function svgToPdf(svg: string): Promise<Buffer> {
  const { default: PDFDocument } = await import('pdfkit');
  const { default: SVGtoPDF } = await import('svg-to-pdfkit');
  const size = /<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(svg);
  if (!size) throw new Error('svgToPdf: the SVG has no width and height');
  const [width, height] = [Number(size[1]), Number(size[2])];
  const title = /<title>([^<]*)<\/title>/.exec(svg)?.[1];
  const doc = new PDFDocument({ size: [width, height], margin: 0, info: { Title: title ? unescapeXml(title) : 'figure', Creator: 'modular-prompt-learning' } });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  SVGtoPDF(doc, svg, 0, 0, {
    width,
    height,
    assumePt: true,
    fontCallback: (_family: string, bold: boolean) => (bold ? 'Helvetica-Bold' : 'Helvetica'),
  });
  doc.end();
  return done;
}

function unescapeXml(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/** The figure formats `--out` accepts, by extension. */
export const FIGURE_EXTENSIONS = ['.svg', '.png', '.pdf'];

/** Writes a figure atomically as .svg, .png or .pdf, chosen by the file's extension. */
export async function writeFigure(svg: string, out: string, scale = PNG_SCALE): Promise<void> {
  const ext = path.extname(out).toLowerCase();
  if (ext === '.svg') writeFileAtomic(out, svg);
  else if (ext === '.png') writeFileAtomic(out, await svgToPng(svg, scale));
  else if (ext === '.pdf') writeFileAtomic(out, await svgToPdf(svg));
  else throw new UserError(`--out ${out}: the figure file must end in .svg, .png or .pdf`);
}
