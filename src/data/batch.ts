/**
 * Assembling one batch: decode + transform each image into one Float32Array. Runs inside the loader's
 * worker threads (worker.ts) or, with numWorkers 0, on the calling thread.
 */
import { UserError } from '../util/errors.js';
import { CLIP_PIXELS, decodeImage, evalTransform, sampleRng, trainTransform, type DecodeOptions, type PixelSpec } from './image.js';

export interface BatchTask {
  id: number;
  mode: 'train' | 'eval';
  imageSize: number;
  /** the model family's resize and normalisation (default CLIP's) */
  pixels?: PixelSpec;
  seed: number;
  epoch: number;
  /** the random resized crop's area range (default [0.08, 1]) */
  cropScale?: readonly [number, number];
  skipBadImages: boolean;
  decode: DecodeOptions;
  /** `index` is the sample's position in the loader's item list (labels, augmentation stream). */
  items: { impath: string; label: number; index: number }[];
}

export interface BatchResult {
  id: number;
  /** n * 3 * S * S floats, CHW per image, images in task order (skipped ones left out). */
  images: Float32Array;
  labels: Int32Array;
  indices: Int32Array;
  skipped: { index: number; impath: string; reason: string }[];
  /** decoder warnings (an image above the pixel limit), for the loader's reporter */
  warnings: string[];
}

/** Decodes at most this many images of a batch at once (sharp runs them on the libuv pool). */
const DECODE_AHEAD = 4;

export async function processBatch(task: BatchTask): Promise<BatchResult> {
  const S = task.imageSize;
  const plane = 3 * S * S;
  const n = task.items.length;
  const images = new Float32Array(n * plane);
  const labels = new Int32Array(n);
  const indices = new Int32Array(n);
  const skipped: BatchResult['skipped'] = [];
  const warnings: string[] = [];
  // the callback cannot travel in the task (it is cloned into the worker): attached here
  const decodeOptions = { ...task.decode, onWarning: (m: string) => warnings.push(m) };

  // Start decodes a few images ahead so decoding overlaps with the (synchronous) resize of the current one.
  const decodes: Promise<unknown>[] = new Array(n);
  const start = (i: number) => {
    if (i < n && !decodes[i]) {
      const p = decodeImage(task.items[i].impath, decodeOptions);
      p.catch(() => {}); // awaited below; avoid an unhandled-rejection warning meanwhile
      decodes[i] = p;
    }
  };
  for (let i = 0; i < Math.min(DECODE_AHEAD, n); i++) start(i);

  let k = 0;
  for (let i = 0; i < n; i++) {
    start(i + DECODE_AHEAD);
    const item = task.items[i];
    let img;
    try {
      img = (await decodes[i]) as Awaited<ReturnType<typeof decodeImage>>;
    } catch (e) {
      if (task.skipBadImages && e instanceof UserError) {
        skipped.push({ index: item.index, impath: item.impath, reason: e.message });
        continue;
      }
      throw e;
    }
    const pixels = task.pixels ?? CLIP_PIXELS;
    if (task.mode === 'train') trainTransform(img, S, sampleRng(task.seed, task.epoch, item.index), images, k * plane, pixels, task.cropScale);
    else evalTransform(img, S, images, k * plane, pixels);
    labels[k] = item.label;
    indices[k] = item.index;
    k++;
  }
  return {
    id: task.id,
    images: k === n ? images : images.slice(0, k * plane),
    labels: k === n ? labels : labels.slice(0, k),
    indices: k === n ? indices : indices.slice(0, k),
    skipped,
    warnings,
  };
}
