/**
 * The shapes of the synthetic world as signed distance functions: distance from a point to the shape's
 * outline, negative inside, in units of the shape's radius (the shape fits the unit disc). Signed distances
 * give anti-aliased edges, outlines and patterns with one function per shape (the polygon distance is
 * Inigo Quilez's exact formula).
 */

type Point = readonly [number, number];
export type Sdf = (x: number, y: number) => number;

/** Exact signed distance to a closed polygon (any simple polygon, convex or not). */
function polygon(vertices: readonly Point[]): Sdf {
  const n = vertices.length;
  const vx = Float64Array.from(vertices, (v) => v[0]);
  const vy = Float64Array.from(vertices, (v) => v[1]);
  return (x, y) => {
    let d = (x - vx[0]) ** 2 + (y - vy[0]) ** 2;
    let s = 1;
    for (let i = 0, j = n - 1; i < n; j = i, i++) {
      const ex = vx[j] - vx[i];
      const ey = vy[j] - vy[i];
      const wx = x - vx[i];
      const wy = y - vy[i];
      const t = Math.min(1, Math.max(0, (wx * ex + wy * ey) / (ex * ex + ey * ey)));
      const bx = wx - ex * t;
      const by = wy - ey * t;
      d = Math.min(d, bx * bx + by * by);
      const c1 = y >= vy[i];
      const c2 = y < vy[j];
      const c3 = ex * wy > ey * wx;
      if ((c1 && c2 && c3) || (!c1 && !c2 && !c3)) s = -s;
    }
    return s * Math.sqrt(d);
  };
}

/** Regular polygon with `n` corners on the unit circle, one corner pointing up (y grows downwards). */
function regular(n: number, radius = 1, phase = -Math.PI / 2): Point[] {
  return Array.from({ length: n }, (_, i) => {
    const a = phase + (2 * Math.PI * i) / n;
    return [radius * Math.cos(a), radius * Math.sin(a)] as Point;
  });
}

function star(points: number, inner: number): Point[] {
  const outer = regular(points);
  const inside = regular(points, inner, -Math.PI / 2 + Math.PI / points);
  return outer.flatMap((p, i) => [p, inside[i]]);
}

function box(hx: number, hy: number): Sdf {
  return (x, y) => {
    const dx = Math.abs(x) - hx;
    const dy = Math.abs(y) - hy;
    const ox = Math.max(dx, 0);
    const oy = Math.max(dy, 0);
    return Math.sqrt(ox * ox + oy * oy) + Math.min(Math.max(dx, dy), 0);
  };
}

function circle(r: number, cx = 0, cy = 0): Sdf {
  return (x, y) => Math.hypot(x - cx, y - cy) - r;
}

/** Heart (IQ's exact heart, scaled and flipped so it points down in image coordinates). */
function heart(): Sdf {
  const k = 1.15; // heart spans y in [0, ~1.1] in its own units: scale to fit the unit disc
  return (x, y) => {
    const px = Math.abs(x) * k;
    const py = (-y + 0.85) * k * 0.6 + 0.05; // flip (image y grows downwards) and centre
    let d: number;
    if (py + px > 1) d = Math.hypot(px - 0.25, py - 0.75) - Math.SQRT2 / 4;
    else {
      const m = 0.5 * Math.max(px + py, 0);
      d = Math.sqrt(Math.min(px * px + (py - 1) ** 2, (px - m) ** 2 + (py - m) ** 2)) * Math.sign(px - py);
    }
    return d / (k * 0.6);
  };
}

const cross = ((a: Sdf, b: Sdf): Sdf => (x, y) => Math.min(a(x, y), b(x, y)))(box(0.95, 0.3), box(0.3, 0.95));
const ring = ((c: Sdf): Sdf => (x, y) => Math.abs(c(x, y)) - 0.22)(circle(0.72));
const moon = ((outer: Sdf, bite: Sdf): Sdf => (x, y) => Math.max(outer(x, y), -bite(x, y)))(circle(0.95), circle(0.8, 0.5, -0.2));

/**
 * The shape vocabulary: caption word → signed distance function. Each is drawn at a random rotation, so
 * names describe the outline, not its orientation (the arrow points anywhere).
 */
export const SHAPES: Readonly<Record<string, Sdf>> = {
  arrow: polygon([[-0.95, -0.22], [0.15, -0.22], [0.15, -0.6], [0.95, 0], [0.15, 0.6], [0.15, 0.22], [-0.95, 0.22]]),
  circle: circle(0.9),
  cross,
  diamond: polygon([[0, -1], [0.58, 0], [0, 1], [-0.58, 0]]),
  heart: heart(),
  hexagon: polygon(regular(6, 0.95)),
  moon,
  pentagon: polygon(regular(5, 0.97)),
  ring,
  square: box(0.72, 0.72),
  star: polygon(star(5, 0.42)),
  triangle: polygon(regular(3, 1, -Math.PI / 2).map(([x, y]) => [x, y + 0.18] as Point)),
};

export const SHAPE_NAMES: readonly string[] = Object.keys(SHAPES);
