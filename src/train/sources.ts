/** BatchSource over a list of images, backed by the worker-thread DataLoader of src/data. */
import { DataLoader, type LoaderOptions } from '../data/loader.js';
import type { Datum } from '../data/types.js';
import type { BatchSource } from './batches.js';

export function batchSource(items: Datum[], options: LoaderOptions): BatchSource {
  const loader = new DataLoader(
    items.map((d) => ({ impath: d.impath, label: d.label })),
    options,
  );
  return {
    length: items.length,
    batches: (epoch) => loader.batches(epoch),
    batchesPerEpoch: () => loader.length,
    skippedImages: () => loader.skippedCount,
    close: () => loader.close(),
  };
}
