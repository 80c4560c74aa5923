/**
 * The result file every run writes (atomically) next to its checkpoint:
 *   <out>/<protocol>/<dataset>/<method>/seed<seed>/result.json
 * `mpl table` and `mpl plot` read nothing else, so results from any machine can be merged by copying folders.
 * Accuracies are percentages (0-100), unrounded.
 */
export type Protocol = 'base2new' | 'xd' | 'dg' | 'fewshot' | 'zeroshot';

export interface RunResult {
  schema: 'mpl-result/1';
  protocol: Protocol;
  /** method name as on the CLI: zeroshot, coop, cocoop, vpt, ivlp, maple, mpl, promptsrc */
  method: string;
  /** the dataset trained on (the source dataset for xd/dg) */
  dataset: string;
  seed: number;
  /** shots per class used for training (0 for zero-shot, -1 for the full training set) */
  shots: number;
  /** backbone name, e.g. "ViT-B/16", or the weights file's base name */
  backbone: string;
  /** base2new: accuracy on the base classes, on the new classes, and their harmonic mean */
  base?: number;
  new?: number;
  hm?: number;
  /** xd / dg / fewshot / zeroshot: top-1 accuracy per evaluated dataset (the source dataset included) */
  accuracy?: Record<string, number>;
  /** per-class accuracy for each evaluation: key = "base" | "new" | dataset name */
  per_class?: Record<string, Record<string, number>>;
  /** wall-clock seconds spent training (0 for zero-shot) and evaluating */
  train_seconds: number;
  eval_seconds: number;
  /** images per second during training, when trained */
  train_images_per_s?: number;
  /** unreadable images left out (--skip-bad-images), training and evaluation together */
  skipped_images?: number;
  /** the full, JSON-serialisable run configuration: enough to re-run it exactly */
  config: Record<string, unknown>;
  /** ISO time the result was written */
  finished_at: string;
}

/** Harmonic mean of base and new accuracy, as the papers compute it (0 when either is 0). */
export function harmonicMean(base: number, novel: number): number {
  return base + novel === 0 ? 0 : (2 * base * novel) / (base + novel);
}
