/**
 * The learning checks: base-to-new on the generated SynthShapes dataset with the shipped tiny CLIP, for
 * zero-shot CLIP and every prompt method, at schedules short enough for the test suite. One definition
 * serves test/e2e/learning.slow.test.ts (one seed, thresholds) and scripts/measure-learning.js (many seeds: the
 * spreads the thresholds come from, recorded in assets/tiny-clip/README.md).
 */
import type { ClipModel } from '../backbones/clip/model.js';
import { runBase2New, runTransfer } from '../eval/protocols.js';
import type { RunResult } from '../eval/results.js';
import type { MethodName, MethodOptions } from '../prompting/methods/index.js';
import type { SynthDatasetOptions } from '../synth/dataset.js';
import type { Reporter } from '../util/reporter.js';
import { TINY_CLIP_METHOD_OPTIONS, TINY_CLIP_MPL_EPOCHS } from './recipe.js';

/** The dataset of the checks: 32 training images per class (each seed draws its own 16 shots), 30 test images per class. */
export const LEARNING_DATA: SynthDatasetOptions = { seed: 1, train: 32, val: 4, test: 30 };

/**
 * Epochs per method: the official base-to-new schedules, except CoOp (200), CoCoOp (10), PromptSRC (20) and
 * ProGrad (100), shortened so the suite stays fast, and MPL (5), lengthened for the tiny CLIP
 * (TINY_CLIP_MPL_EPOCHS); KgCoOp keeps its 100 (with fewer, W 8 holds its context at the start on this model:
 * 40 epochs measured +1.7 points on seed 1, 100 epochs +11.2 ± 2.5 over seeds 1-10); learning rates and batch
 * sizes are the official ones (but LEARNING_BATCH_SIZES).
 */
export const LEARNING_EPOCHS: Record<Exclude<MethodName, 'zeroshot' | FeatureMethod>, number> = {
  coop: 20,
  cocoop: 4,
  vpt: 5,
  ivlp: 5,
  maple: 5,
  mpl: TINY_CLIP_MPL_EPOCHS,
  promptsrc: 5,
  prograd: 20,
  kgcoop: 100,
};

/**
 * Batch sizes other than the official base-to-new recipe's: KgCoOp's 128 exceeds the 96 base-class training
 * images, so each epoch would be one step; its few-shot recipe's 32 gives three, as CoOp's.
 */
export const LEARNING_BATCH_SIZES: Partial<Record<MethodName, number>> = { kgcoop: 32 };

/** The adapter, cache and probe methods: checked in the few-shot protocol of their papers (FEATURE_LEARNING). */
export type FeatureMethod = 'linear-probe' | 'clip-adapter' | 'tip-adapter' | 'tip-adapter-f';

/**
 * The adapter, cache and probe methods in the few-shot protocol (16 shots, all 12 classes): their official
 * recipes, except CLIP-Adapter's learning rate and epochs (CoOp's SGD at 0.002 for 200 epochs barely moves a
 * residual adapter at ratio 0.2 on the tiny CLIP in a short schedule: 0.1 for 50 epochs).
 */
export const FEATURE_LEARNING: Record<FeatureMethod, { epochs?: number; lr?: number }> = {
  'linear-probe': {},
  'clip-adapter': { epochs: 50, lr: 0.1 },
  'tip-adapter': {},
  'tip-adapter-f': {},
};

/** The few-shot checks' dataset: LEARNING_DATA with 8 validation images per class (what α, β and C are chosen on). */
export const FEATURE_LEARNING_DATA: SynthDatasetOptions = { ...LEARNING_DATA, val: 8 };

/** Few-shot runs (16 shots) of one method on SynthShapes with the check's settings (zero-shot CLIP: none). */
export function runFeatureLearningCheck(o: LearningRun & { methodOptions?: MethodOptions }): Promise<RunResult[]> {
  const settings = o.method in FEATURE_LEARNING ? FEATURE_LEARNING[o.method as FeatureMethod] : {};
  return runTransfer(
    {
      model: o.model,
      backbone: o.backbone,
      method: o.method,
      methodOptions: o.methodOptions ?? {},
      root: o.root,
      dataset: 'synthshapes',
      seeds: o.seeds,
      shots: 16,
      ...settings,
      out: o.out,
      numWorkers: 1,
      augment: false,
      reporter: o.reporter,
    },
    'fewshot',
    [],
  );
}

export interface LearningRun {
  model: ClipModel;
  backbone: string;
  /** the data root holding synthshapes/ (written with LEARNING_DATA) */
  root: string;
  out: string;
  method: MethodName;
  seeds: number[];
  reporter?: Reporter;
}

/** Base-to-new runs of one method with the tiny CLIP's method options and the check's schedule. */
export function runLearningCheck(o: LearningRun): Promise<RunResult[]> {
  return runBase2New({
    model: o.model,
    backbone: o.backbone,
    method: o.method,
    methodOptions: TINY_CLIP_METHOD_OPTIONS[o.method] ?? {},
    root: o.root,
    dataset: 'synthshapes',
    seeds: o.seeds,
    // zero-shot CLIP has no entry: it trains nothing
    epochs: o.method in LEARNING_EPOCHS ? LEARNING_EPOCHS[o.method as keyof typeof LEARNING_EPOCHS] : undefined,
    batchSize: LEARNING_BATCH_SIZES[o.method],
    out: o.out,
    numWorkers: 1,
    augment: false, // the tiny CLIP never saw crops (src/eval/protocols.ts)
    reporter: o.reporter,
  });
}
