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

/**
 * How a backbone family wants its pixels (the family says it, the loaders apply it): CLIP resizes the shorter
 * side and centre-crops (`crop`), SigLIP resizes to a square without keeping the aspect ratio (`square`); each
 * normalises with its own mean and std. Training augmentation (random resized crop, flip) is the same for all.
 */
export interface PixelSpec {
  resize: 'crop' | 'square';
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** CLIP's evaluation transform: the default everywhere a spec is not given. */
export const CLIP_PIXELS: PixelSpec = { resize: 'crop', mean: CLIP_MEAN, std: CLIP_STD };

/** Images with a side shorter than this are rejected as broken (e.g. 1x1 placeholder files). */
export const DEFAULT_MIN_IMAGE_SIDE = 2;

/**
 * PIL's `Image.MAX_IMAGE_PIXELS` (1024 * 1024 * 1024 // 4 // 3): above it PIL warns (DecompressionBombWarning),
 * above twice it PIL refuses the image (DecompressionBombError). A 400 KB PNG can declare 60000x60000 pixels
 * and decode to 10 GB; the limit is checked from the header, before anything is decoded.
 */
export const MAX_IMAGE_PIXELS = 89_478_485;

/** The pixel limit: `MPL_MAX_IMAGE_PIXELS` when set (the CLI's --max-image-pixels sets it), else PIL's. */
export function maxImagePixels(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.MPL_MAX_IMAGE_PIXELS;
  if (v === undefined || v === '') return MAX_IMAGE_PIXELS;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new UserError(`MPL_MAX_IMAGE_PIXELS must be a positive integer (pixels), got '${v}'`);
  }
  return n;
}

export interface DecodeOptions {
  /**
   * Rotate/flip by the EXIF Orientation tag. Off by default: the official pipeline reads images with
   * `PIL.Image.open(path).convert("RGB")`, which ignores EXIF orientation, so applying it would feed the
   * model different pixels than the published numbers were measured on.
   */
  applyExifOrientation?: boolean;
  /** Minimum width and height in pixels (default DEFAULT_MIN_IMAGE_SIDE). */
  minSide?: number;
  /** Pixel limit (default maxImagePixels()): warn above it, refuse above twice it, as PIL does. */
  maxPixels?: number;
  /** Receives warnings (an image above the pixel limit); not set: they are dropped. */
  onWarning?: (message: string) => void;
}

// Decoded files must not be served from libvips' operation cache (it keys on the file name, so an
// image rewritten in place would come back stale) and the cache would only grow in a data loader.
sharp.cache(false);

/**
 * Decodes an image file to 8-bit RGB like PIL's `Image.open(path).convert("RGB")`: greyscale is
 * replicated to three channels, alpha is dropped (not composited onto a background), palettes are
 * expanded, the first frame of an animation is used, and embedded ICC profiles are ignored (PIL does
 * not apply them either). Where libvips would differ from PIL it is steered to PIL's result
 * (test/fixtures/images holds files made by PIL and what PIL decodes them to):
 *  - CMYK JPEGs: PIL's plain formula (R = (255 - K) - C (255 - K) / 255, ...), not libvips' ICC conversion;
 *  - single-channel 16-bit images: clipped at 255 as PIL's "I" -> "RGB" does, not scaled by 1/257;
 *  - JPEGs whose compressed data holds a marker other than EOI/RSTn: refused, as PIL refuses them.
 * Any problem (missing, unreadable, truncated or corrupt file, too small, more than twice the pixel
 * limit) is a UserError whose message starts with the file name.
 */
export async function decodeImage(file: string, options: DecodeOptions = {}): Promise<RgbImage> {
  let buf: Buffer;
  try {
    buf = await fs.promises.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw fileError(file, 'image file not found');
    if (code === 'EISDIR') throw fileError(file, 'is a folder, not an image file');
    throw fileError(file, `cannot read image file (${(e as Error).message})`);
  }
  return decodeImageBytes(file, buf, options);
}

/** decodeImage of an image's bytes (an upload to `mpl serve`); `file` names it in errors. */
export async function decodeImageBytes(file: string, buf: Buffer, options: DecodeOptions = {}): Promise<RgbImage> {
  const minSide = options.minSide ?? DEFAULT_MIN_IMAGE_SIDE;
  if (buf.length === 0) throw fileError(file, 'image file is empty (0 bytes)');
  const cannot = (e: unknown) => fileError(file, `cannot decode image (${oneLine((e as Error).message)}); the file is corrupt, truncated or not an image`);
  let meta: sharp.Metadata;
  try {
    meta = await sharp(buf, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw cannot(e);
  }
  const maxPixels = options.maxPixels ?? maxImagePixels();
  checkPixelCount(file, meta.width ?? 0, meta.height ?? 0, maxPixels, options.onWarning);

  const cmyk = meta.space === 'cmyk';
  const grey16 = meta.channels === 1 && meta.depth === 'ushort';
  const decode = (failOn: 'error' | 'warning') => {
    const img = sharp(buf, {
      failOn,
      ignoreIcc: true,
      autoOrient: Boolean(options.applyExifOrientation),
      // checked above from the header; a backstop should the header and the decoder disagree
      limitInputPixels: 2 * maxPixels,
    });
    // CMYK stays CMYK (PIL's formula below); 16-bit grey stays 16-bit (clipped below)
    if (cmyk) return img.pipelineColourspace('cmyk').toColourspace('cmyk').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (grey16) return img.toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    return img.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  };
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    // 'error' rejects truncated and corrupt pixel data (PIL raises on those too) but tolerates the harmless
    // libjpeg warnings ("extraneous bytes before marker") that PIL also accepts. JPEGs are first decoded with
    // warnings as errors, to see the warning PIL turns into an error (see jpegAsPil).
    out = meta.format === 'jpeg' ? await jpegAsPil(file, buf, decode) : await decode('error');
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw cannot(e);
  }
  const { width, height, channels } = out.info;
  if (width < minSide || height < minSide) {
    throw fileError(file, `image is too small (${width}x${height}; the minimum side is ${minSide} pixels)`);
  }
  if (cmyk) return { width, height, data: cmykToRgbLikePil(out.data, width * height, channels) };
  if (grey16) return { width, height, data: clippedGrey16(out.data, width * height) };
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

/** PIL's decompression-bomb check, from the header's size. */
function checkPixelCount(file: string, width: number, height: number, max: number, onWarning?: (m: string) => void): void {
  const pixels = width * height;
  const size = `${width}x${height} = ${pixels.toLocaleString('en-US')} pixels`;
  const how = `--max-image-pixels N or MPL_MAX_IMAGE_PIXELS=N`;
  if (pixels > 2 * max) {
    throw fileError(file, `image is ${size}, more than twice the limit of ${max.toLocaleString('en-US')} (PIL's MAX_IMAGE_PIXELS): refused as a possible decompression bomb; if the image is genuine, raise the limit with ${how}`);
  }
  if (pixels > max) onWarning?.(`${file}: image is ${size}, above the limit of ${max.toLocaleString('en-US')} (PIL warns too); decoding it anyway (refused above twice the limit; ${how} raises it)`);
}

type Decoded = { data: Buffer; info: sharp.OutputInfo };

/**
 * A JPEG decoded as PIL would: PIL (libjpeg) accepts data that only draws libjpeg warnings, except when the
 * compressed data of the scan is cut short by a marker that is not EOI: libjpeg then reads the rest of the
 * file as markers and fails, and PIL raises "broken data stream". libvips tolerates both. So the file is
 * decoded with warnings as errors first; on the warning "premature end of data segment" the scan is looked
 * at (jpegScanEnd), and the file is refused unless its single scan simply ends at an early EOI (which PIL
 * pads, as libvips does). A progressive JPEG with that warning is refused too (stricter than PIL: which of
 * its scans was cut short is not known without decoding).
 */
async function jpegAsPil(file: string, buf: Buffer, decode: (failOn: 'error' | 'warning') => Promise<Decoded>): Promise<Decoded> {
  try {
    return await decode('warning');
  } catch (strict) {
    const out = await decode('error'); // a real error throws here
    const warning = oneLine((strict as Error).message);
    if (/premature end of data segment/i.test(warning)) {
      const end = jpegScanEnd(buf);
      if (!end || !end.singleScan || end.marker !== 0xd9) {
        const what = end && end.marker !== 0xd9 ? `a marker 0xFF${end.marker.toString(16).toUpperCase().padStart(2, '0')} inside the compressed image data` : 'the compressed data ends early';
        throw fileError(file, `corrupt JPEG data (${what}); PIL refuses this file too ("broken data stream")`);
      }
    }
    return out;
  }
}

/**
 * The marker that ends the entropy-coded data of a JPEG's first scan (RSTn, stuffed 0xFF00 and fill bytes are
 * part of the data), and whether that scan is the only one (a sequential frame whose scan holds every
 * component). null when the file does not parse that far.
 */
export function jpegScanEnd(b: Uint8Array): { marker: number; singleScan: boolean } | null {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return null;
  let p = 2;
  let components = 0;
  let sequential = false;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) return null;
    const m = b[p + 1];
    if (m === 0xff) {
      p++; // fill byte
      continue;
    }
    if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      p += 2;
      continue;
    }
    if (m === 0xd9) return null;
    const len = (b[p + 2] << 8) | b[p + 3];
    if (len < 2) return null;
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (p + 9 >= b.length) return null;
      components = b[p + 9];
      sequential = m === 0xc0 || m === 0xc1;
    }
    if (m === 0xda) {
      const ns = p + 4 < b.length ? b[p + 4] : 0;
      for (let q = p + 2 + len; q + 1 < b.length; q++) {
        if (b[q] !== 0xff) continue;
        const n = b[q + 1];
        if (n === 0x00 || n === 0xff || (n >= 0xd0 && n <= 0xd7)) continue;
        return { marker: n, singleScan: sequential && ns === components };
      }
      return null;
    }
    p += 2 + len;
  }
  return null;
}

/** PIL's cmyk2rgb (Convert.c): nk = 255 - K; R = nk - round(C * nk / 255), likewise G from M and B from Y. */
function cmykToRgbLikePil(cmyk: Uint8Array, pixels: number, channels: number): Uint8Array {
  const rgb = new Uint8Array(pixels * 3);
  const mulDiv255 = (a: number, b: number) => {
    const t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (let i = 0; i < pixels; i++) {
    const nk = 255 - cmyk[i * channels + 3];
    for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.max(0, nk - mulDiv255(cmyk[i * channels + c], nk));
  }
  return rgb;
}

/** PIL opens 16-bit greyscale as mode "I"; convert("RGB") clips each value at 255 (it does not rescale). */
function clippedGrey16(bytes: Buffer, pixels: number): Uint8Array {
  const rgb = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const v = Math.min(255, bytes.readUInt16LE(i * 2));
    rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = v;
  }
  return rgb;
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
export function normalizeInto(img: RgbImage, out: Float32Array, offset: number, flip = false, pixels: PixelSpec = CLIP_PIXELS): void {
  const { width, height, data } = img;
  const plane = width * height;
  const f = Math.fround;
  for (let c = 0; c < 3; c++) {
    const mean = f(pixels.mean[c]);
    const std = f(pixels.std[c]);
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
export function evalTransform(img: RgbImage, size: number, out?: Float32Array, offset = 0, pixels: PixelSpec = CLIP_PIXELS): Float32Array {
  if (pixels.resize === 'square') {
    // SiglipImageProcessor: PIL bicubic resize to size x size (aspect ratio not kept), no crop
    const target = out ?? new Float32Array(3 * size * size);
    normalizeInto(resizeBicubicPil(img, size, size), target, offset, false, pixels);
    return target;
  }
  const [w, h] = resizeShorterSide(img.width, img.height, size);
  const top = pyRound((h - size) / 2);
  const left = pyRound((w - size) / 2);
  // Resize then centre-crop, computing only the pixels the crop keeps (identical result).
  const cropped = resizeBicubicPil(img, w, h, undefined, { left, top, width: size, height: size });
  const target = out ?? new Float32Array(3 * size * size);
  normalizeInto(cropped, target, offset, false, pixels);
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
 * Normalize(CLIP). Draws from `rng` in a fixed order: crop parameters, then the flip. `cropScale`: another area
 * range (Tip-Adapter's transform is the same with scale (0.5, 1)).
 */
export function trainTransform(img: RgbImage, size: number, rng: PyRandom, out?: Float32Array, offset = 0, pixels: PixelSpec = CLIP_PIXELS, cropScale?: readonly [number, number]): Float32Array {
  const box = randomResizedCropParams(img.width, img.height, rng, cropScale);
  const resized = resizeBicubicPil(img, size, size, box);
  const flip = rng.random() < 0.5;
  const target = out ?? new Float32Array(3 * size * size);
  normalizeInto(resized, target, offset, flip, pixels);
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
export async function loadEvalImage(file: string, size: number, options: DecodeOptions = {}, pixels: PixelSpec = CLIP_PIXELS): Promise<Float32Array> {
  return evalTransform(await decodeImage(file, options), size, undefined, 0, pixels);
}

/** loadEvalImage of an image's bytes (`mpl serve`: the same decoding and transform as `mpl predict`). */
export async function loadEvalImageBytes(name: string, bytes: Buffer, size: number, options: DecodeOptions = {}, pixels: PixelSpec = CLIP_PIXELS): Promise<Float32Array> {
  return evalTransform(await decodeImageBytes(name, bytes, options), size, undefined, 0, pixels);
}
