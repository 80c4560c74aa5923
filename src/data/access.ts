/**
 * Who read what: `loadDataset` reports every split list it hands out (with its classes), every DataLoader
 * the images it is built over, and the preflight check the images whose headers it opens, to whoever listens. Nobody listens in a normal run (a
 * report is then a no-op); the schedule search (src/search/) listens, writes what it touched beside its
 * results, and its tests assert that the test split and the real new classes were never read.
 */
import type { Subsample } from './types.js';

export type SplitName = 'train' | 'val' | 'test';

export type DataAccess =
  /** a split list handed to a caller (after few-shot sampling and base/new subsampling) */
  | { kind: 'split'; dataset: string; split: SplitName; subsample: Subsample; shots: number; seed: number; classes: string[]; images: number }
  /** the images a data loader was built to read, or whose headers a preflight check opened (absolute paths) */
  | { kind: 'images'; paths: string[] };

type Listener = (access: DataAccess) => void;
const listeners = new Set<Listener>();

/** Calls `listener` with every data access from now on; returns the function that stops it. */
export function watchDataAccess(listener: Listener): () => void {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}

export function reportDataAccess(access: DataAccess): void {
  for (const l of listeners) l(access);
}

/** True when someone listens (reporting an image list costs a copy of its paths). */
export function dataAccessWatched(): boolean {
  return listeners.size > 0;
}
