/** One labelled image, as Dassl's `Datum`: absolute path, 0-based label, cleaned class name. */
export interface Datum {
  impath: string;
  label: number;
  classname: string;
}

/** One entry of a split file: path relative to the dataset's image folder (as written in the file). */
export interface SplitEntry {
  relpath: string;
  label: number;
  classname: string;
}

/** The three lists of a split file, in file order (the order matters: it drives few-shot sampling). */
export interface SplitLists<T> {
  train: T[];
  val: T[];
  test: T[];
}

export type Subsample = 'all' | 'base' | 'new';

/** A dataset ready for training/evaluation. */
export interface LoadedDataset {
  /** Canonical CLI name, e.g. `eurosat`. */
  name: string;
  /** Dassl's DATASET.NAME, e.g. `EuroSAT`. */
  displayName: string;
  /** The image folder that split paths are relative to. */
  root: string;
  /** Class names by label (after base/new relabelling), as Dassl's `get_lab2cname`. */
  classnames: string[];
  train: Datum[];
  val: Datum[];
  test: Datum[];
  /** The zero-shot CLIP template (CoOp `CUSTOM_TEMPLATES`), with `{}` for the class name. */
  template: string;
  /** ZeroshotCLIP2's template ensemble adds `template` (not for ImageNet and its variants) */
  ensembleAddsTemplate: boolean;
  /** Where the lists came from (split file, generated split, folder listing) — for logs. */
  source: string;
  /** The few-shot subset actually used, if any: shots, seed and the cache file. */
  fewshot?: { shots: number; seed: number; cacheFile?: string; fromCache: boolean };
  subsample: Subsample;
}
