/**
 * Pillow's bicubic resize (`Image.resize(size, Image.BICUBIC)`, libImaging/Resample.c, Pillow 7–10)
 * re-implemented for 8-bit RGB, including its fixed-point arithmetic, so that the official pipeline
 * (torchvision transforms over PIL images) is reproduced to the last bit once the decoded pixels agree.
 *
 * How Pillow does it, and so how this does:
 * - the filter is the cubic convolution kernel with a = -0.5, support 2, widened by the scale factor
 *   when shrinking (that widening is the anti-aliasing; torch's own bicubic has none);
 * - per output pixel, the window [xmin, xmax) of input pixels is rounded from center -/+ support, the
 *   weights are normalised to sum 1, then quantised to integers with 22 fraction bits;
 * - two passes, horizontal first (only over the rows the vertical pass will read), then vertical, each
 *   rounding to uint8 with clamping (so the intermediate image is 8-bit too);
 * - a pass is skipped when that dimension does not change (no box offset here).
 */

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

/** A decoded 8-bit RGB image, rows top to bottom, pixels interleaved (HWC). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array; // length width * height * 3
}

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coeffs {
  ksize: number;
  bounds: Int32Array; // [xmin, count] per output pixel
  kk: Int32Array; // ksize integer weights per output pixel
}

/** precompute_coeffs + normalize_coeffs_8bpc for the input range [in0, in1) mapped onto outSize pixels. */
function precomputeCoeffs(inSize: number, in0: number, in1: number, outSize: number): Coeffs {
  const scale = (in1 - in0) / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = 2 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    // C's (int) cast truncates toward zero; Math.trunc matches it for the negative values near 0.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const v = bicubic((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x] / ww : w[x];
      // normalize_coeffs_8bpc: round half away from zero, then truncate to int.
      kk[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

/** clip8: value >> PRECISION_BITS clamped to 0..255 (the sum always fits in int32, as in C). */
function clip8(v: number): number {
  const s = v >> PRECISION_BITS;
  return s < 0 ? 0 : s > 255 ? 255 : s;
}

/**
 * One output pixel of a pass: the three channels of `n` input pixels `step` bytes apart from `p`, weighted by
 * kk[kBase..kBase+n), rounded and clamped into out[o..o+2] (the same for both passes, as Pillow's ImagingResample*).
 */
function convolvePixel(src: Uint8Array, p: number, step: number, n: number, kk: Int32Array, kBase: number, out: Uint8Array, o: number): void {
  let s0 = HALF;
  let s1 = HALF;
  let s2 = HALF;
  for (let i = 0; i < n; i++, p += step) {
    const k = kk[kBase + i];
    s0 += src[p] * k;
    s1 += src[p + 1] * k;
    s2 += src[p + 2] * k;
  }
  out[o] = clip8(s0);
  out[o + 1] = clip8(s1);
  out[o + 2] = clip8(s2);
}

export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Resizes `src` (RGB) to outW x outH exactly like Pillow's `resize((outW, outH), BICUBIC)` on an RGB
 * image. `crop` optionally selects a source rectangle first (PIL `crop` followed by `resize`, which is
 * what torchvision's resized_crop does); it must lie inside the image. `window` optionally returns only
 * a rectangle of the resized image (a centre crop after the resize): every output pixel depends only on
 * its own row/column weights, so computing just the window gives exactly the pixels of resize-then-crop
 * with less work.
 */
export function resizeBicubicPil(src: RgbImage, outW: number, outH: number, crop?: Rect, window?: Rect): RgbImage {
  const left = crop ? crop.left : 0;
  const top = crop ? crop.top : 0;
  const inW = crop ? crop.width : src.width;
  const inH = crop ? crop.height : src.height;
  if (inW < 1 || inH < 1 || outW < 1 || outH < 1) throw new RangeError('resizeBicubicPil: empty image');
  if (left < 0 || top < 0 || left + inW > src.width || top + inH > src.height) {
    throw new RangeError('resizeBicubicPil: crop outside the image');
  }
  const wx = window ? window.left : 0;
  const wy = window ? window.top : 0;
  const ww = window ? window.width : outW;
  const wh = window ? window.height : outH;
  if (wx < 0 || wy < 0 || ww < 1 || wh < 1 || wx + ww > outW || wy + wh > outH) {
    throw new RangeError('resizeBicubicPil: window outside the output');
  }
  const stride = src.width * 3;
  const needH = outW !== inW;
  const needV = outH !== inH;

  if (!needH && !needV) {
    // Pillow returns a copy when the size does not change.
    const out = new Uint8Array(ww * wh * 3);
    for (let y = 0; y < wh; y++) {
      const s = (top + wy + y) * stride + (left + wx) * 3;
      out.set(src.data.subarray(s, s + ww * 3), y * ww * 3);
    }
    return { width: ww, height: wh, data: out };
  }

  const vert = precomputeCoeffs(inH, 0, inH, outH);

  // Horizontal pass (into a temporary image of ww x rows) or a plain view of the source rows.
  let tmp: Uint8Array;
  let tmpRowOffset: number; // tmp row index = (source row relative to `top`) - tmpRowOffset
  let tmpStride: number;
  let tmpColOffset: number;
  if (needH) {
    const hor = precomputeCoeffs(inW, 0, inW, outW);
    // Only the rows the vertical pass reads are resampled horizontally (Pillow does the same for the
    // whole output; here for the window's rows).
    const rowStart = needV ? vert.bounds[wy * 2] : wy;
    const last = wy + wh - 1;
    const rows = needV ? vert.bounds[last * 2] + vert.bounds[last * 2 + 1] - rowStart : wh;
    tmp = new Uint8Array(ww * rows * 3);
    const { ksize, bounds, kk } = hor;
    const sd = src.data; // locals: keeps the hot loop free of property loads
    const td = tmp;
    for (let yy = 0; yy < rows; yy++) {
      const rowBase = (top + rowStart + yy) * stride + left * 3;
      const outBase = yy * ww * 3;
      for (let xo = 0; xo < ww; xo++) {
        const xx = wx + xo;
        const xmin = bounds[xx * 2];
        const xmax = bounds[xx * 2 + 1];
        convolvePixel(sd, rowBase + xmin * 3, 3, xmax, kk, xx * ksize, td, outBase + xo * 3);
      }
    }
    if (!needV) return { width: ww, height: wh, data: tmp };
    tmpStride = ww * 3;
    tmpColOffset = 0;
    tmpRowOffset = rowStart;
  } else {
    tmp = src.data;
    tmpStride = stride;
    tmpColOffset = (left + wx) * 3;
    tmpRowOffset = -top; // tmp row r = source row r
  }

  // Vertical pass.
  const out = new Uint8Array(ww * wh * 3);
  const { ksize, bounds, kk } = vert;
  const td = tmp;
  for (let yo = 0; yo < wh; yo++) {
    const yy = wy + yo;
    const ymin = bounds[yy * 2] - tmpRowOffset;
    const ymax = bounds[yy * 2 + 1];
    const outBase = yo * ww * 3;
    for (let xo = 0; xo < ww; xo++) {
      convolvePixel(td, ymin * tmpStride + tmpColOffset + xo * 3, tmpStride, ymax, kk, yy * ksize, out, outBase + xo * 3);
    }
  }
  return { width: ww, height: wh, data: out };
}
