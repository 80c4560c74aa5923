/**
 * modular-prompt-learning: the public API. The `mpl` CLI is a thin shell over exactly these functions.
 *
 *   const { model } = await loadClip('ViT-B/16');
 *   const data = loadDataset('eurosat', { root, shots: 16, seed: 1, subsample: 'base' });
 *   const learner = new PromptLearner(model, ClipTokenizer.default(), 'mpl', data.classnames, { seed: 1 });
 *   await train(learner, batchSource(data.train, { mode: 'train', seed: 1 }), { epochs: 5, lr: 0.0035 });
 *   const { accuracy } = await evaluate(learner, batchSource(data.test, { mode: 'eval' }));
 *   savePrompts('out', learner);
 */
export * as torch from './torch/index.js';
export { ClipModel, type ClipArchitecture, type EncoderHooks } from './clip/model.js';
export { loadClip, type LoadClipOptions, type LoadedClip } from './clip/load.js';
export { loadClipWeights, readClipConfig } from './clip/weights.js';
export { knownArchitectures, type ClipConfig } from './clip/config.js';
export { ClipTokenizer, tokenize } from './clip/tokenizer.js';
export { PromptLearner, gpaWeights, type ForwardOutput, type LearnerOptions } from './prompting/learner.js';
export { METHODS, RECIPES, designMethod, countParameters, type MethodName, type MethodOptions } from './prompting/methods.js';
export { validatePlan, planLayout, describeLayout, parseSchedule, type PromptPlan } from './prompting/plan.js';
export { savePrompts, loadPrompts } from './prompting/checkpoint.js';
export { loadDataset } from './data/dataset.js';
export { DataLoader } from './data/loader.js';
export { train, type TrainOptions, type TrainResult } from './train/trainer.js';
export { evaluate, type EvalResult } from './train/evaluate.js';
export { batchSource } from './train/sources.js';
export { lrAt, schedule } from './train/schedule.js';
export { runBase2New, runTransfer } from './eval/protocols.js';
export { harmonicMean, type RunResult } from './eval/results.js';
export { UserError } from './util/errors.js';
