/**
 * The synthetic image–caption world the tiny CLIP is pretrained on (and its classification datasets are
 * drawn from): one object per image — a shape in a colour, a fill pattern and a size, rotated and placed
 * anywhere — on a cluttered background (gradients, waves, lines, specks, grain), with a caption that names
 * a random subset of its attributes ("a photo of a small red striped star.", "a heart.").
 *
 * Everything is a function of (seed, stream, index): sample i of a stream is the same whatever order the
 * samples are drawn in, so pretraining can resume at any step and datasets are reproducible.
 *
 * Some (shape, colour) combinations are held out: pretraining never shows them, the classification
 * datasets do, so zero-shot accuracy on them measures transfer to unseen combinations.
 */
import { PyRandom } from '../data/pyrandom.js';
import { SHAPE_NAMES } from './shapes.js';

export type Rgb = [number, number, number];

/** Caption word → base colour (0-255); each object jitters its colour around it. */
export const COLOURS: Readonly<Record<string, Rgb>> = {
  red: [205, 30, 35],
  orange: [240, 125, 20],
  yellow: [238, 212, 40],
  green: [40, 158, 60],
  blue: [35, 80, 220],
  purple: [128, 50, 170],
  pink: [245, 135, 195],
  brown: [118, 72, 36],
  white: [245, 245, 245],
  black: [22, 22, 22],
};
export const COLOUR_NAMES: readonly string[] = Object.keys(COLOURS);

export const PATTERNS = ['plain', 'striped', 'dotted', 'outlined'] as const;
export type Pattern = (typeof PATTERNS)[number];

export const SIZES = ['small', 'medium', 'large'] as const;
export type Size = (typeof SIZES)[number];

/** Object radius range in pixels per size, at a 48-pixel image (scaled with the image size). */
const RADIUS: Record<Size, [number, number]> = { small: [11.5, 12.5], medium: [15, 16], large: [18.5, 19.5] };

export interface Scene {
  shape: string;
  colour: string;
  pattern: Pattern;
  size: Size;
  /** everything the renderer needs beyond the named attributes, drawn from the same stream */
  look: Look;
}

export interface Look {
  /** object colour after jitter, and the pattern's second colour */
  fill: Rgb;
  accent: Rgb;
  /** centre and radius in units of the image side; rotation in radians */
  cx: number;
  cy: number;
  radius: number;
  angle: number;
  /** pattern period (in object radii) and orientation */
  period: number;
  patternAngle: number;
  /** background: base colour, a linear gradient, two waves, clutter strokes and specks, grain */
  background: Rgb;
  gradient: { dx: number; dy: number; amount: number };
  waves: Array<{ fx: number; fy: number; phase: number; amount: number }>;
  strokes: Array<{ x0: number; y0: number; x1: number; y1: number; width: number; colour: Rgb; alpha: number }>;
  specks: Array<{ x: number; y: number; r: number; colour: Rgb; alpha: number }>;
  grain: number;
  /** light falling across the object: brightness change over its diameter */
  shade: { dx: number; dy: number; amount: number };
}

/** How busy the backgrounds are; datasets can ask for more clutter than pretraining saw. */
export interface WorldOptions {
  /** multiplies the number and opacity of clutter strokes and specks (1 = pretraining) */
  clutter?: number;
  /** largest rotation of the object either way, in radians (default 0.14, about 8°) */
  rotation?: number;
  /** largest offset of the object's centre from the image centre, in image sides (default 0.03) */
  offset?: number;
  /** include the held-out (shape, colour) combinations (datasets: true; pretraining: false) */
  heldOut?: boolean;
}

/** Streams keep pretraining, its validation set and each dataset split independent. */
export const STREAMS = { pretrain: 1, validation: 2, train: 3, val: 4, test: 5 } as const;
export type Stream = keyof typeof STREAMS;

/** The random stream of sample `index` of `stream` under `seed`. */
export function sampleRandom(seed: number, stream: Stream, index: number): PyRandom {
  return PyRandom.fromWords([seed >>> 0, STREAMS[stream], index >>> 0, Math.floor(index / 2 ** 32), 0x73796e74 /* 'synt' */]);
}

/**
 * The held-out combinations: shape i with colour (3i + 1) mod |colours| (12 of the 120 combinations, one
 * per shape, every colour used at least once).
 */
export function isHeldOut(shape: string, colour: string): boolean {
  return heldOutColour(shape) === colour;
}

/** The colour `shape` is never drawn in during pretraining. */
export function heldOutColour(shape: string): string {
  const i = SHAPE_NAMES.indexOf(shape);
  if (i < 0) throw new Error(`unknown shape "${shape}"`);
  return COLOUR_NAMES[(3 * i + 1) % COLOUR_NAMES.length];
}

const pick = <T>(rng: PyRandom, items: readonly T[]): T => items[rng.randbelow(items.length)];
const uniform = (rng: PyRandom, a: number, b: number): number => a + (b - a) * rng.random();
const clampByte = (v: number): number => Math.max(0, Math.min(255, Math.round(v)));

function luminance([r, g, b]: Rgb): number {
  return (0.299 * r + 0.587 * g + 0.114 * b) / 255;
}

function jitter(rng: PyRandom, [r, g, b]: Rgb, brightness: number, channel: number): Rgb {
  const k = uniform(rng, 1 - brightness, 1 + brightness);
  return [r, g, b].map((c) => clampByte(c * k + uniform(rng, -channel, channel))) as Rgb;
}

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return a.map((c, i) => clampByte(c * (1 - t) + b[i] * t)) as Rgb;
}

/** A muted colour (low saturation) at lightness `l` in 0..1. */
function muted(rng: PyRandom, l: number): Rgb {
  const hue: Rgb = [rng.random(), rng.random(), rng.random()].map((v) => v * 255) as Rgb;
  return mix([l * 255, l * 255, l * 255], hue, uniform(rng, 0, 0.35));
}

/**
 * One scene, with the shape and the colour optionally fixed (classification datasets fix the shape).
 * Held-out combinations are redrawn unless `options.heldOut`.
 */
export function sampleScene(rng: PyRandom, options: WorldOptions = {}, fixed: { shape?: string; colour?: string } = {}): Scene {
  const shape = fixed.shape ?? pick(rng, SHAPE_NAMES);
  let colour = pick(rng, COLOUR_NAMES); // drawn even when fixed, so the rest of the stream is the same
  while (!options.heldOut && isHeldOut(shape, colour)) colour = pick(rng, COLOUR_NAMES);
  if (fixed.colour !== undefined) {
    if (!COLOURS[fixed.colour]) throw new Error(`unknown colour "${fixed.colour}"`);
    colour = fixed.colour;
  }
  const pattern = pick(rng, PATTERNS);
  const size = pick(rng, SIZES);
  const clutter = options.clutter ?? 1;

  const fill = jitter(rng, COLOURS[colour], 0.12, 14);
  const lum = luminance(fill);
  // patterns are drawn in a shade of the object's colour: the silhouette stays the dominant cue
  const accent = mix(fill, lum > 0.5 ? [0, 0, 0] : [255, 255, 255], uniform(rng, 0.25, 0.4));
  const [rmin, rmax] = RADIUS[size];
  const radius = uniform(rng, rmin, rmax) / 48;
  const margin = radius + 1 / 48;
  // the background contrasts with the object: dark behind light objects and the other way round
  const background = muted(rng, lum > 0.55 ? uniform(rng, 0.1, 0.42) : uniform(rng, 0.58, 0.92));
  const strokes = Array.from({ length: rng.randbelow(Math.round(3 * clutter) + 1) }, () => ({
    x0: rng.random(),
    y0: rng.random(),
    x1: rng.random(),
    y1: rng.random(),
    width: uniform(rng, 0.5, 1.6) / 48,
    colour: muted(rng, rng.random()),
    alpha: Math.min(1, uniform(rng, 0.15, 0.45) * clutter),
  }));
  const specks = Array.from({ length: rng.randbelow(Math.round(4 * clutter) + 1) }, () => ({
    x: rng.random(),
    y: rng.random(),
    r: uniform(rng, 0.6, 1.5) / 48,
    colour: muted(rng, rng.random()),
    alpha: Math.min(1, uniform(rng, 0.2, 0.6) * clutter),
  }));
  const look: Look = {
    fill,
    accent,
    cx: 0.5 + uniform(rng, -1, 1) * Math.min(options.offset ?? 0.03, 0.5 - margin),
    cy: 0.5 + uniform(rng, -1, 1) * Math.min(options.offset ?? 0.03, 0.5 - margin),
    radius,
    angle: uniform(rng, -(options.rotation ?? 0.14), options.rotation ?? 0.14),
    period: uniform(rng, 0.45, 0.7),
    patternAngle: uniform(rng, 0, Math.PI),
    background,
    gradient: { dx: uniform(rng, -1, 1), dy: uniform(rng, -1, 1), amount: uniform(rng, 0, 0.25) },
    waves: Array.from({ length: 2 }, () => ({
      fx: uniform(rng, -6, 6),
      fy: uniform(rng, -6, 6),
      phase: uniform(rng, 0, 2 * Math.PI),
      amount: uniform(rng, 0, 0.06),
    })),
    strokes,
    specks,
    grain: uniform(rng, 0, 7),
    shade: { dx: uniform(rng, -1, 1), dy: uniform(rng, -1, 1), amount: uniform(rng, 0, 0.25) },
  };
  return { shape, colour, pattern, size, look };
}

// ---- captions -------------------------------------------------------------------------------------

/** Caption templates; "a photo of a {}." (the zero-shot template) is drawn most often. */
const TEMPLATES: readonly string[] = [
  'a photo of a {}.',
  'a photo of a {}.',
  'a photo of a {}.',
  'a {}.',
  'a {}.',
  'a picture of a {}.',
  'an image of a {}.',
  'a drawing of a {}.',
  'a rendering of a {}.',
  'a photo of the {}.',
  'a {} on a cluttered background.',
  'there is a {} in the picture.',
];

const PATTERN_ADJECTIVE: Record<Pattern, string> = { plain: 'plain', striped: 'striped', dotted: 'dotted', outlined: 'outlined' };
const PATTERN_PHRASE: Record<Pattern, string> = {
  plain: 'in one colour',
  striped: 'with stripes',
  dotted: 'with dots',
  outlined: 'drawn as an outline',
};

/**
 * A caption naming the shape and a random subset of the other attributes, in a random template. Each
 * attribute is named about half of the time, so short prompts ("a photo of a star.") match every star.
 */
export function caption(scene: Scene, rng: PyRandom): string {
  const words: string[] = [];
  if (scene.size !== 'medium' && rng.random() < 0.5) words.push(scene.size === 'large' && rng.random() < 0.3 ? 'big' : scene.size);
  if (rng.random() < 0.6) words.push(scene.colour);
  let suffix = '';
  const namePattern = rng.random() < (scene.pattern === 'plain' ? 0.15 : 0.55);
  if (namePattern) {
    if (rng.random() < 0.6) words.push(PATTERN_ADJECTIVE[scene.pattern]);
    else suffix = ` ${PATTERN_PHRASE[scene.pattern]}`;
  }
  words.push(scene.shape);
  return pick(rng, TEMPLATES).replace('{}', words.join(' ') + suffix);
}
