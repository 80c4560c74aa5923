import type { PixelSpec } from '../data/image.js';

/** What the trainer and the evaluator consume: batches of preprocessed images and labels. */
export interface Batch {
  /** [B, 3, S, S] normalised pixels, CHW per image */
  images: Float32Array;
  labels: Int32Array;
  size: number;
  imageSize: number;
}

export interface BatchSource {
  /** number of images */
  readonly length: number;
  /**
   * Batches of one epoch (training: shuffled by (seed, epoch); evaluation: in order). `imageSize` is the
   * model's input side, passed by train() and evaluate(): a source that was not told a size uses it, one made
   * for another size refuses it. Sources written by hand may ignore it (the trainer checks every batch).
   * `pixels` is the model family's resize and normalisation (SigLIP's differ from CLIP's), passed the same way.
   */
  batches(epoch: number, imageSize?: number, pixels?: PixelSpec): AsyncIterable<Batch>;
  batchesPerEpoch(): number;
  /** images left out so far because they could not be read (skipBadImages) */
  skippedImages?(): number;
  /** Ends the worker threads behind the source (idempotent). Idle workers never keep the process alive. */
  close(): Promise<void>;
  /** `await using src = batchSource(...)` closes it at the end of the block. */
  [Symbol.asyncDispose]?(): Promise<void>;
}

/** The check train() and evaluate() make on every batch: pixels of the model's input size. */
export function checkBatchSize(batch: Batch, imageSize: number): void {
  if (batch.imageSize !== imageSize || batch.images.length !== batch.size * 3 * imageSize * imageSize) {
    throw new Error(
      `a batch holds ${batch.imageSize}-pixel images (${batch.images.length} values for ${batch.size} images), but the model takes ${imageSize}×${imageSize}: ` +
        `make the batch source for the model's size (batchSource(items, { imageSize: model.imageSize }), or leave imageSize out)`,
    );
  }
}
