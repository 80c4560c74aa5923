/** BatchSource over a list of images, backed by the worker-thread DataLoader of src/data. */
import { DataLoader, type LoaderOptions } from '../data/loader.js';
import type { PixelSpec } from '../data/image.js';
import type { Datum } from '../data/types.js';
import { UserError } from '../util/errors.js';
import type { BatchSource } from './batches.js';

/**
 * Batches of `items` for training or evaluation. Without `options.imageSize` the images are made at the size
 * of the model that consumes them (train() and evaluate() say it, with the model family's resize and normalisation), so
 * one source suits any CLIP or SigLIP. The worker
 * threads start on the first batch; `close()` (or `await using`) ends them, and idle ones never keep the
 * process alive.
 */
export function batchSource(items: Datum[], options: LoaderOptions): BatchSource {
  const list = items.map((d) => ({ impath: d.impath, label: d.label }));
  const fixed = options.imageSize;
  let loader: DataLoader | undefined;
  let loaderPixels: PixelSpec | undefined;
  let closed = false;
  const skippedEarlier = new Set<number>(); // by loaders replaced for another image size or pixels (the same items)
  const loaderFor = (imageSize: number | undefined, pixels: PixelSpec | undefined): DataLoader => {
    if (closed) throw new Error('batch source is closed');
    const size = imageSize ?? fixed ?? loader?.imageSize ?? 224;
    const px = pixels ?? options.pixels;
    if (fixed !== undefined && imageSize !== undefined && imageSize !== fixed) {
      throw new UserError(`this batch source makes ${fixed}-pixel images but the model takes ${imageSize}: leave imageSize out of batchSource() to follow the model`);
    }
    if (loader && (loader.imageSize !== size || JSON.stringify(loaderPixels) !== JSON.stringify(px))) {
      for (const i of loader.skippedItems) skippedEarlier.add(i);
      void loader.close();
      loader = undefined;
    }
    if (!loader) {
      loader = new DataLoader(list, { ...options, imageSize: size, pixels: px });
      loaderPixels = px;
    }
    return loader;
  };
  // validate the options now (batch size, seed, ...), not at the first batch
  const probe = new DataLoader(list, { ...options, imageSize: fixed ?? 224, numWorkers: 0 });
  const close = async () => {
    closed = true;
    const l = loader;
    loader = undefined;
    if (l) await l.close();
  };
  return {
    length: items.length,
    batches: (epoch, imageSize, pixels) => loaderFor(imageSize, pixels).batches(epoch),
    batchesPerEpoch: () => probe.length,
    // each bad image once per run, not once per epoch that read it
    skippedImages: () => new Set([...skippedEarlier, ...(loader?.skippedItems ?? [])]).size,
    close,
    [Symbol.asyncDispose]: close,
  };
}
