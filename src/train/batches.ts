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
  /** batches of one epoch (training: shuffled by (seed, epoch); evaluation: in order) */
  batches(epoch: number): AsyncIterable<Batch>;
  batchesPerEpoch(): number;
  /** images left out so far because they could not be read (skipBadImages) */
  skippedImages?(): number;
  close(): Promise<void>;
}
