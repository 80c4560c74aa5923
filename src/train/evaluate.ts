/**
 * Evaluation: top-1 accuracy and per-class accuracy. Class text features are computed once per prompt
 * state (not per batch), then every batch costs one image-encoder pass; CoCoOp, whose text depends on
 * each image, runs its full forward per batch.
 */
import type { PromptLearner } from '../prompting/learner.js';
import { noGrad, tidy, type Tensor } from '../torch/index.js';
import { silentReporter, type Reporter } from '../util/reporter.js';
import { checkBatchSize, type BatchSource } from './batches.js';
import { batchTensors } from './step.js';

export interface EvalResult {
  accuracy: number;
  correct: number;
  total: number;
  /** accuracy (%) per class name (classes with test images) */
  perClass: Record<string, number>;
  /** confusion[true][predicted]: image counts, rows and columns in the learner's class order */
  confusion: number[][];
  /** macro-averaged F1 (%) over the classes with images, as Dassl's evaluator (sklearn's f1_score, average="macro") */
  macroF1: number;
  seconds: number;
  imagesPerSecond: number;
}

/** `label` names the evaluation in its progress line ("evaluating new classes"). */
export async function evaluate(learner: PromptLearner, data: BatchSource, reporter: Reporter = silentReporter, label = 'evaluating'): Promise<EvalResult> {
  const t0 = Date.now();
  const C = learner.classnames.length;
  const hits = new Array<number>(C).fill(0);
  const counts = new Array<number>(C).fill(0);
  const confusion = Array.from({ length: C }, () => new Array<number>(C).fill(0));
  const text: Tensor | null = learner.perBatchForward ? null : noGrad(() => learner.textFeatures()).keep();
  const bar = reporter.progress(label, data.batchesPerEpoch(), 'batches');
  let done = 0;
  try {
    for await (const batch of data.batches(0, learner.model.imageSize, learner.model.pixels)) {
      checkBatchSize(batch, learner.model.imageSize);
      const pred = noGrad(() =>
        tidy(() => {
          const images = batchTensors(batch, learner.model.device).images;
          const logits = text ? learner.logitsWithText(images, text) : learner.forward(images).logits;
          return logits.argmax(1).toArray();
        }),
      );
      pred.forEach((p, i) => {
        const y = batch.labels[i];
        counts[y]++;
        confusion[y][p]++;
        if (p === y) hits[y]++;
      });
      bar.update(++done);
    }
  } finally {
    bar.stop();
    text?.dispose();
  }
  const total = counts.reduce((a, b) => a + b, 0);
  const correct = hits.reduce((a, b) => a + b, 0);
  const perClass: Record<string, number> = {};
  learner.classnames.forEach((n, i) => {
    if (counts[i] > 0) perClass[n] = (100 * hits[i]) / counts[i];
  });
  const seconds = (Date.now() - t0) / 1000;
  return { accuracy: total ? (100 * correct) / total : 0, correct, total, perClass, confusion, macroF1: macroF1(confusion), seconds, imagesPerSecond: total / Math.max(seconds, 1e-9) };
}

/**
 * Macro F1 (%) from a confusion matrix, as Dassl computes it: sklearn's f1_score(y_true, y_pred, average="macro",
 * labels=np.unique(y_true)), i.e. the mean over the classes that have images of 2·TP / (2·TP + FP + FN), where a
 * class's false positives count every image predicted as it (images of any class). 0 without images.
 */
export function macroF1(confusion: number[][]): number {
  const C = confusion.length;
  const scores: number[] = [];
  for (let c = 0; c < C; c++) {
    const row = confusion[c].reduce((a, b) => a + b, 0);
    if (row === 0) continue;
    const tp = confusion[c][c];
    let predicted = 0;
    for (let r = 0; r < C; r++) predicted += confusion[r][c];
    scores.push((2 * tp) / (row + predicted));
  }
  return scores.length ? (100 * scores.reduce((a, b) => a + b, 0)) / scores.length : 0;
}
