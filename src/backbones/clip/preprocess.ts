/**
 * CLIP's evaluation transform for one image, as open_clip's `preprocess`: bicubic resize of the short side to
 * the model's input size, centre crop, RGB, normalised with CLIP's mean and std. The result is CHW float32,
 * ready to be stacked into a batch (`tensor(pixels, [1, 3, S, S])`). It is the exact transform the evaluation
 * batches use (src/data/image.ts, Pillow-exact resampling).
 */
import { CLIP_PIXELS, loadEvalImage, loadEvalImageBytes, type DecodeOptions, type PixelSpec } from '../../data/image.js';

export interface Preprocess {
  /** decodes an image file and returns its [3, S, S] pixels */
  (file: string, options?: DecodeOptions): Promise<Float32Array>;
  /** the same for an image's bytes (`mpl serve`); `name` is what errors call it */
  bytes(name: string, bytes: Buffer, options?: DecodeOptions): Promise<Float32Array>;
  /** S: the model's input side */
  readonly imageSize: number;
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

/**
 * The preprocess for a model whose images are `imageSize` pixels square (loadClip returns one); `pixels` is the
 * family's resize and normalisation (default CLIP's; SigLIP resizes to the square, mean = std = 0.5).
 */
export function makePreprocess(imageSize: number, pixels: PixelSpec = CLIP_PIXELS): Preprocess {
  const fn = (file: string, options?: DecodeOptions) => loadEvalImage(file, imageSize, options, pixels);
  const bytes = (name: string, data: Buffer, options?: DecodeOptions) => loadEvalImageBytes(name, data, imageSize, options, pixels);
  return Object.assign(fn, { bytes, imageSize, mean: pixels.mean, std: pixels.std });
}

/** One image file through CLIP's evaluation transform at `imageSize` (default 224): [3, S, S] float32. */
export function preprocessImage(file: string, imageSize = 224, options?: DecodeOptions): Promise<Float32Array> {
  return loadEvalImage(file, imageSize, options);
}
