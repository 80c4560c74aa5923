/**
 * Draws a scene (src/synth/world.ts) into an 8-bit RGB image: background, clutter strokes, the object
 * (anti-aliased from its signed distance, shaded, filled with its pattern), specks on top, grain.
 * Pure TypeScript, deterministic: the same scene gives the same bytes on every machine.
 */
import type { RgbImage } from '../data/image.js';
import { SHAPES } from './shapes.js';
import type { Rgb, Scene } from './world.js';

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);
const frac = (v: number): number => v - Math.floor(v);

/** Fraction of the accent colour at pattern coordinates (in pattern periods). */
function accentAt(pattern: Scene['pattern'], a: number, b: number): number {
  switch (pattern) {
    case 'striped':
      return frac(a) < 0.5 ? 1 : 0;
    case 'dotted':
      return Math.hypot(frac(a) - 0.5, frac(b) - 0.5) < 0.27 ? 1 : 0;
    default:
      return 0;
  }
}

/** Distance (in the same units) from point p to the segment a-b. */
function segmentDistance(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const ex = bx - ax;
  const ey = by - ay;
  const len2 = ex * ex + ey * ey;
  const t = len2 === 0 ? 0 : clamp01(((px - ax) * ex + (py - ay) * ey) / len2);
  return Math.hypot(px - ax - ex * t, py - ay - ey * t);
}

function blend(buf: Float32Array, i: number, c: Rgb, alpha: number): void {
  if (alpha <= 0) return;
  for (let k = 0; k < 3; k++) buf[i + k] += (c[k] / 255 - buf[i + k]) * alpha;
}

/** xorshift32 for the grain (cheap, seeded from the scene so the image stays a function of the scene). */
function grainNoise(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/** Renders `scene` at `size` x `size` pixels. */
export function renderScene(scene: Scene, size = 48): RgbImage {
  const L = scene.look;
  const S = size;
  const buf = new Float32Array(S * S * 3);
  const sdf = SHAPES[scene.shape];
  if (!sdf) throw new Error(`unknown shape "${scene.shape}"`);
  const cos = Math.cos(L.angle);
  const sin = Math.sin(L.angle);
  const pcos = Math.cos(L.patternAngle);
  const psin = Math.sin(L.patternAngle);
  const radiusPx = L.radius * S;
  const outline = 2.2 * (S / 48); // outline width in pixels
  const bg = L.background.map((c) => c / 255);
  const noise = grainNoise(Math.round(L.grain * 1e6) ^ Math.round(L.cx * 1e9) ^ Math.round(L.angle * 1e7));

  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const u = (x + 0.5) / S;
      const v = (y + 0.5) / S;
      const i = (y * S + x) * 3;
      // background: base colour, gradient, waves
      let light = 1 + L.gradient.amount * ((u - 0.5) * L.gradient.dx + (v - 0.5) * L.gradient.dy);
      for (const w of L.waves) light += w.amount * Math.sin(2 * Math.PI * (w.fx * u + w.fy * v) + w.phase);
      for (let k = 0; k < 3; k++) buf[i + k] = bg[k] * light;
      // clutter strokes behind the object
      for (const s of L.strokes) {
        const d = segmentDistance(u, v, s.x0, s.y0, s.x1, s.y1) * S;
        blend(buf, i, s.colour, clamp01((s.width * S) / 2 + 0.5 - d) * s.alpha);
      }
      // the object: local coordinates in radii, rotated
      const dx = (u - L.cx) / L.radius;
      const dy = (v - L.cy) / L.radius;
      const qx = dx * cos + dy * sin;
      const qy = -dx * sin + dy * cos;
      if (qx * qx + qy * qy < 1.6) {
        const d = sdf(qx, qy) * radiusPx; // signed distance in pixels
        const cover = scene.pattern === 'outlined' ? clamp01(0.5 - (Math.abs(d + outline / 2) - outline / 2)) : clamp01(0.5 - d);
        if (cover > 0) {
          // pattern: 2x2 samples per pixel so stripes and dots do not alias
          let accent = 0;
          for (const [ox, oy] of [[-0.25, -0.25], [0.25, -0.25], [-0.25, 0.25], [0.25, 0.25]]) {
            const sx = qx + (ox * cos + oy * sin) / radiusPx;
            const sy = qy + (-ox * sin + oy * cos) / radiusPx;
            accent += accentAt(scene.pattern, (sx * pcos + sy * psin) / L.period, (-sx * psin + sy * pcos) / L.period) / 4;
          }
          const shade = 1 + (L.shade.amount * (qx * L.shade.dx + qy * L.shade.dy)) / 2;
          const c = L.fill.map((f, k) => (f * (1 - accent) + L.accent[k] * accent) * shade) as Rgb;
          blend(buf, i, c, cover);
        }
      }
      // specks on top
      for (const p of L.specks) {
        const d = Math.hypot(u - p.x, v - p.y) * S;
        blend(buf, i, p.colour, clamp01(p.r * S + 0.5 - d) * p.alpha);
      }
    }
  }
  const data = new Uint8Array(S * S * 3);
  for (let i = 0; i < data.length; i++) {
    const g = (noise() + noise() + noise() - 1.5) * L.grain; // roughly Gaussian grain, in 0..255 units
    data[i] = Math.max(0, Math.min(255, Math.round(buf[i] * 255 + g)));
  }
  return { width: S, height: S, data };
}
