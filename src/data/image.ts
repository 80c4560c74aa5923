import * as fs from 'node:fs';
import sharp from 'sharp';
import { UserError, fileError } from '../util/errors.js';
import { PyRandom, pyRound } from './pyrandom.js';
import { resizeBicubicPil, type RgbImage } from './resample.js';

export type { RgbImage } from './resample.js';
export { pyRound } from './pyrandom.js';

/** CLIP's normalisation (openai/CLIP `_transform`, MPL config INPUT.PIXEL_MEAN / PIXEL_STD). */
export const CLIP_MEAN: readonly [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD: readonly [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

/** Images with a side shorter than this are rejected as broken (e.g. 1x1 placeholder files). */
export const DEFAULT_MIN_IMAGE_SIDE = 2;

export interface DecodeOptions {
  /**
   * Rotate/flip by the EXIF Orientation tag. Off by default: the official pipeline reads images with
   * `PIL.Image.open(path).convert("RGB")`, which ignores EXIF orientation, so applying it would feed the
   * model different pixels than the published numbers were measured on.
   */
  applyExifOrientation?: boolean;
  /** Minimum width and height in pixels (default DEFAULT_MIN_IMAGE_SIDE). */
  minSide?: number;
}

// Decoded files must not be served from libvips' operation cache (it keys on the file name, so an
// image rewritten in place would come back stale) and the cache would only grow in a data loader.
sharp.cache(false);

/**
 * Decodes an image file to 8-bit RGB like PIL's `Image.open(path).convert("RGB")`: greyscale is
 * replicated to three channels, alpha is dropped (not composited onto a background), palettes are
 * expanded, the first frame of an animation is used, and embedded ICC profiles are ignored (PIL does
 * not apply them either). Any problem (missing, unreadable, truncated or corrupt file, image too small)
 * is a UserError whose message starts with the file name.
 */
export async function decodeImage(file: string, options: DecodeOptions = {}): Promise<RgbImage> {
  const minSide = options.minSide ?? DEFAULT_MIN_IMAGE_SIDE;
  let buf: Buffer;
  try {
    buf = await fs.promises.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw fileError(file, 'image file not found');
    if (code === 'EISDIR') throw fileError(file, 'is a folder, not an image file');
    throw fileError(file, `cannot read image file (${(e as Error).message})`);
  }
  if (buf.length === 0) throw fileError(file, 'image file is empty (0 bytes)');
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    out = await sharp(buf, {
      // 'error' rejects truncated and corrupt pixel data (PIL raises on those too) but tolerates the
      // harmless libjpeg warnings ("extraneous bytes before marker") that PIL also accepts.
      failOn: 'error',
      ignoreIcc: true,
      autoOrient: Boolean(options.applyExifOrientation),
      limitInputPixels: false,
    })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw fileError(file, `cannot decode image (${oneLine((e as Error).message)}); the file is corrupt, truncated or not an image`);
  }
  const { width, height, channels } = out.info;
  if (width < minSide || height < minSide) {
    throw fileError(file, `image is too small (${width}x${height}; the minimum side is ${minSide} pixels)`);
  }
  let data = new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length);
  if (channels !== 3) {
    // removeAlpha + sRGB output should always give 3 bands; convert defensively if not.
    const rgb = new Uint8Array(width * height * 3);
    for (let i = 0, n = width * height; i < n; i++) {
      for (let c = 0; c < 3; c++) rgb[i * 3 + c] = data[i * channels + Math.min(c, channels - 1)];
    }
    data = rgb;
  }
  return { width, height, data };
}

/** libvips messages can repeat a line many times; keep one line of distinct parts, bounded. */
function oneLine(s: string): string {
  const parts = [...new Set(s.split(/\n+/).map((p) => p.trim()).filter(Boolean))];
  const text = parts.join('; ').replace(/\s+/g, ' ');
  return text.length > 200 ? text.slice(0, 197) + '...' : text;
}


/**
 * torchvision `Resize(S)` output size for an int S: the shorter side becomes S and the longer one
 * int(S * long / short) (truncated, computed in double precision like Python).
 */
export function resizeShorterSide(width: number, height: number, size: number): [number, number] {
  if (width <= height) return [size, Math.floor((size * height) / width)];
  return [Math.floor((size * width) / height), size];
}

/**
 * ToTensor + Normalize into `out` (CHW float32) at `offset`, from an RGB HWC image of exactly
 * size x size. Each step is rounded to float32 like torch: x/255, then (x - mean) / std.
 * `flip` mirrors horizontally (RandomHorizontalFlip).
 */
export function normalizeInto(img: RgbImage, out: Float32Array, offset: number, flip = false): void {
  const { width, height, data } = img;
  const plane = width * height;
  const f = Math.fround;
  for (let c = 0; c < 3; c++) {
    const mean = f(CLIP_MEAN[c]);
    const std = f(CLIP_STD[c]);
    const base = offset + c * plane;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const sx = flip ? width - 1 - x : x;
        const v = f(data[(y * width + sx) * 3 + c] / 255);
        out[base + y * width + x] = f(v - mean) / std;
      }
    }
  }
}

/**
 * The evaluation transform (Dassl test transform = openai/CLIP `_transform`): bicubic resize of the
 * shorter side to `size`, centre crop `size` x `size` (offsets round((h - size) / 2) with Python's
 * rounding), to [0, 1], CLIP normalisation. Returns CHW float32 (3 * size * size).
 */
export function evalTransform(img: RgbImage, size: number, out?: Float32Array, offset = 0): Float32Array {
  const [w, h] = resizeShorterSide(img.width, img.height, size);
  const top = pyRound((h - size) / 2);
  const left = pyRound((w - size) / 2);
  // Resize then centre-crop, computing only the pixels the crop keeps (identical result).
  const cropped = resizeBicubicPil(img, w, h, undefined, { left, top, width: size, height: size });
  const target = out ?? new Float32Array(3 * size * size);
  normalizeInto(cropped, target, offset);
  return target;
}

export function cropRgb(img: RgbImage, left: number, top: number, width: number, height: number): RgbImage {
  if (left === 0 && top === 0 && width === img.width && height === img.height) return img;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const s = ((top + y) * img.width + left) * 3;
    data.set(img.data.subarray(s, s + width * 3), y * width * 3);
  }
  return { width, height, data };
}

export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/**
 * torchvision `RandomResizedCrop.get_params` (scale (0.08, 1), ratio (3/4, 4/3) by default): up to 10
 * attempts at a random area and log-uniform aspect ratio, then the fallback centre crop clamped to the
 * ratio range. Random numbers come from `rng` (uniform = rng.random()), so a seeded stream gives a
 * reproducible crop.
 */
export function randomResizedCropParams(
  width: number,
  height: number,
  rng: PyRandom,
  scale: readonly [number, number] = [0.08, 1.0],
  ratio: readonly [number, number] = [3 / 4, 4 / 3],
): CropBox {
  const area = height * width;
  const logRatio0 = Math.log(ratio[0]);
  const logRatio1 = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * (scale[0] + (scale[1] - scale[0]) * rng.random());
    const aspect = Math.exp(logRatio0 + (logRatio1 - logRatio0) * rng.random());
    const w = pyRound(Math.sqrt(targetArea * aspect));
    const h = pyRound(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      // torch.randint(0, n + 1) is uniform on 0..n
      const top = rng.randbelow(height - h + 1);
      const left = rng.randbelow(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  // Fallback to a central crop.
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = width;
    h = pyRound(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = height;
    w = pyRound(h * Math.max(ratio[0], ratio[1]));
  } else {
    w = width;
    h = height;
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/**
 * The training transform (Dassl `random_resized_crop, random_flip, normalize`):
 * RandomResizedCrop(size, scale=(0.08, 1), bicubic) -> RandomHorizontalFlip(0.5) -> ToTensor ->
 * Normalize(CLIP). Draws from `rng` in a fixed order: crop parameters, then the flip.
 */
export function trainTransform(img: RgbImage, size: number, rng: PyRandom, out?: Float32Array, offset = 0): Float32Array {
  const box = randomResizedCropParams(img.width, img.height, rng);
  const resized = resizeBicubicPil(img, size, size, box);
  const flip = rng.random() < 0.5;
  const target = out ?? new Float32Array(3 * size * size);
  normalizeInto(resized, target, offset, flip);
  return target;
}

/**
 * The random stream for one training sample: MT19937 seeded (init_by_array) with the words
 * [runSeed, epoch, sampleIndex, tag]. It depends only on these numbers, never on which worker handles
 * the sample or in which order, so an epoch's augmentations are reproducible for a given run seed.
 */
export function sampleRng(runSeed: number, epoch: number, sampleIndex: number): PyRandom {
  for (const [name, v] of [['seed', runSeed], ['epoch', epoch], ['sample index', sampleIndex]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new UserError(`${name} must be an integer in 0..2^32-1, got ${v}`);
  }
  return PyRandom.fromWords([runSeed, epoch, sampleIndex, 0x61756731 /* 'aug1' */]);
}

/** Decodes a file and applies the evaluation transform (one image, no worker). */
export async function loadEvalImage(file: string, size: number, options: DecodeOptions = {}): Promise<Float32Array> {
  return evalTransform(await decodeImage(file, options), size);
}
