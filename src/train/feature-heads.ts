/**
 * What the feature-head methods do besides epochs of gradient steps, on a frozen image encoder whose features
 * can be computed once: encoding a whole split (collectFeatures), Tip-Adapter's cache (buildFeatureCache:
 * build_cache_model of utils.py), its α/β search on validation features (searchCacheHyperparameters: search_hp)
 * and Tip-Adapter-F's learning-rate schedule (cosinePerStepLr: CosineAnnealingLR stepped per batch).
 */
import type { PromptLearner } from '../prompting/learner.js';
import { Tensor, cat, nn, noGrad, tensor, tidy } from '../torch/index.js';
import { UserError } from '../util/errors.js';
import { silentReporter, type Reporter } from '../util/reporter.js';
import { checkBatchSize, type BatchSource } from './batches.js';
import { batchTensors } from './step.js';

export interface SplitFeatures {
  /** [N, E] float32 on the model's device: normalised (the learner's imageFeatures) or raw (rawImageFeatures) */
  features: Tensor;
  labels: number[];
}

/** Encodes every image of one pass of `source` (its epoch `epoch`): features [N, E] in order, and the labels. */
export async function collectFeatures(
  learner: PromptLearner,
  source: BatchSource,
  options: { raw?: boolean; epoch?: number; what?: string; reporter?: Reporter; complete?: boolean } = {},
): Promise<SplitFeatures> {
  const reporter = options.reporter ?? silentReporter;
  const parts: Tensor[] = [];
  const labels: number[] = [];
  const bar = reporter.progress(options.what ?? 'encoding images', source.batchesPerEpoch(), 'batches');
  let done = 0;
  try {
    for await (const batch of source.batches(options.epoch ?? 0, learner.model.imageSize)) {
      checkBatchSize(batch, learner.model.imageSize);
      parts.push(
        noGrad(() =>
          tidy(() => {
            const { images } = batchTensors(batch, learner.model.device);
            return (options.raw ? learner.rawImageFeatures(images) : learner.imageFeatures(images)).as('float32');
          }),
        ).keep(),
      );
      labels.push(...batch.labels);
      bar.update(++done);
    }
    if (parts.length === 0) throw new UserError(`${options.what ?? 'the split'}: no image to encode`);
    const expected = source.length - (source.skippedImages?.() ?? 0);
    if (options.complete && labels.length !== expected) {
      throw new Error(`${options.what ?? 'the split'}: ${labels.length} of ${expected} images encoded; every one is needed (a training source drops its last partial batch: make it with dropLast false, or in eval mode)`);
    }
    const features = tidy(() => (parts.length === 1 ? parts[0].clone() : cat(parts, 0))).keep();
    return { features, labels };
  } finally {
    bar.stop();
    for (const p of parts) p.dispose();
  }
}

/**
 * Tip-Adapter's cache (build_cache_model): `passes` passes over the training images, in order and augmented
 * (`source` is unshuffled; its epoch p gives pass p's augmentations); keys = the mean over the passes of each
 * image's un-normalised features, normalised; values = the one-hot labels. Sets them on the learner.
 */
export async function buildFeatureCache(learner: PromptLearner, source: BatchSource, passes: number, reporter: Reporter = silentReporter): Promise<void> {
  let sum: Tensor | null = null;
  let labels: number[] | null = null;
  try {
    for (let p = 0; p < passes; p++) {
      const f = await collectFeatures(learner, source, { raw: true, epoch: p, what: `cache pass ${p + 1}/${passes}`, reporter, complete: true });
      if (labels && (labels.length !== f.labels.length || labels.some((y, i) => y !== f.labels[i]))) {
        f.features.dispose();
        throw new Error('the cache passes must see the training images in the same order (an unshuffled source)');
      }
      labels = f.labels;
      if (sum === null) sum = f.features;
      else {
        const prev: Tensor = sum;
        sum = tidy(() => prev.add(f.features)).keep();
        prev.dispose();
        f.features.dispose();
      }
    }
    const total = sum!;
    tidy(() => learner.setCache(nn.l2normalize(total.div(passes)), labels!));
  } finally {
    sum?.dispose();
  }
}

/** search_hp's grid: value_i = i·(max − 0.1)/steps + 0.1 for i = 0..steps-1 (Python's float arithmetic). */
export function searchGrid(max: number, steps: number): number[] {
  return Array.from({ length: steps }, (_, i) => (i * (max - 0.1)) / steps + 0.1);
}

export interface CacheSearch {
  beta: number;
  alpha: number;
  /** validation accuracy (%) at the chosen α, β */
  accuracy: number;
  /** accuracy (%) of every (β, α), β-major as the official loops */
  grid: number[][];
}

/**
 * search_hp: the validation accuracy of every (β, α) of the design's grid, β in the outer loop, α in the inner;
 * the first strictly better one wins, starting from accuracy 0 (so a grid of zeros chooses (0, 0), as the
 * official code). `features` are normalised validation features [N, E]; the affinity is the learner's (the
 * keys, or Tip-Adapter-F's trained keys). Computed on at most `chunk` images at a time.
 */
export function searchCacheHyperparameters(learner: PromptLearner, features: Tensor, labels: readonly number[], text: Tensor, chunk = 4096): CacheSearch {
  const s = learner.design.featureCache!.search;
  const betas = searchGrid(s.betaMax, s.betaSteps);
  const alphas = searchGrid(s.alphaMax, s.alphaSteps);
  const correct = betas.map(() => new Array<number>(alphas.length).fill(0));
  const N = features.shape[0];
  if (N !== labels.length || N === 0) throw new UserError(`the α/β search needs validation images (got ${N} features, ${labels.length} labels)`);
  noGrad(() => {
    for (let start = 0; start < N; start += chunk) {
      const n = Math.min(chunk, N - start);
      tidy(() => {
        const f = features.narrow(0, start, n);
        const y = tensor(BigInt64Array.from(labels.slice(start, start + n), (v) => BigInt(v)), [n], 'int64', f.device);
        const clip = learner.textLogits(f, text);
        const A = learner.cacheAffinity(f);
        betas.forEach((beta, i) =>
          tidy(() => {
            const cache = learner.cacheLogits(f, beta, A);
            alphas.forEach((alpha, j) => {
              correct[i][j] += tidy(() => clip.add(cache, alpha).argmax(1).eq(y).sum().item());
            });
          }),
        );
      });
    }
  });
  const grid = correct.map((row) => row.map((c) => (100 * c) / N));
  let best = { beta: 0, alpha: 0, accuracy: 0 };
  betas.forEach((beta, i) =>
    alphas.forEach((alpha, j) => {
      if (grid[i][j] > best.accuracy) best = { beta, alpha, accuracy: grid[i][j] };
    }),
  );
  return { ...best, grid };
}

/** CosineAnnealingLR(T_max = total steps, eta_min 0) stepped after every batch: the rate of step t (0-based). */
export function cosinePerStepLr(lr: number, step: number, totalSteps: number): number {
  return (lr * (1 + Math.cos((Math.PI * step) / totalSteps))) / 2;
}
