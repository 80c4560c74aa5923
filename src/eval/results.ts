/**
 * The result file every run writes (atomically) next to its checkpoint, in the run's folder
 * (src/eval/run-config.ts): <out>/<protocol>/<dataset>/shots_<k>/<method>/<tag>-<hash>/seed<seed>/result.json
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
  /** numerical precision of training and evaluation: fp32, fp16, amp or bf16 (absent in older files = fp32) */
  precision?: string;
  /** where it ran, e.g. "cuda:0 (NVIDIA H100 80GB HBM3)" or "cpu" */
  device?: string;
  /** the readable settings path, e.g. "shots_16/mpl/vit_b16_c1_add2_rm1_d9_ep5" (absent in older files) */
  tag?: string;
  /** the short hash of the experiment configuration (everything but the seed) in the folder name */
  config_hash?: string;
  /** base2new: accuracy on the base classes, on the new classes, and their harmonic mean */
  base?: number;
  new?: number;
  hm?: number;
  /** xd / dg / fewshot / zeroshot: top-1 accuracy per evaluated dataset (the source dataset included) */
  accuracy?: Record<string, number>;
  /** per-class accuracy for each evaluation: key = "base" | "new" | dataset name */
  per_class?: Record<string, Record<string, number>>;
  /** macro-averaged F1 (%) for each evaluation, keyed as per_class (Dassl's macro_f1; absent in older files) */
  macro_f1?: Record<string, number>;
  /** wall-clock seconds spent training (0 for zero-shot) and evaluating */
  train_seconds: number;
  eval_seconds: number;
  /** how many test images were evaluated, all evaluations together */
  eval_images?: number;
  /** images per second during training, when trained */
  train_images_per_s?: number;
  /** unreadable images left out (--skip-bad-images), training and evaluation together */
  skipped_images?: number;
  /**
   * What fitting chose on validation (or, with Tip-Adapter-F's --select-on-test-set, test) images: Tip-Adapter's
   * alpha and beta, Tip-Adapter-F's best_epoch, the linear probe's c.
   */
  fitted?: Record<string, number>;
  /** true when an evaluation used an evenly strided subset of its test split (config.max_test_images), not all of it */
  eval_subset?: boolean;
  /** the full run configuration (RunConfig in src/eval/run-config.ts, plus base/new class lists): enough to re-run it exactly */
  config: Record<string, unknown>;
  /** ISO time the result was written */
  finished_at: string;
}

/** Harmonic mean of base and new accuracy, as the papers compute it (0 when either is 0). */
export function harmonicMean(base: number, novel: number): number {
  return base + novel === 0 ? 0 : (2 * base * novel) / (base + novel);
}
