/**
 * modular-prompt-learning: the public API. The `mpl` CLI is a thin shell over exactly these functions.
 * Every type a public function takes or returns is exported here too.
 *
 *   const { model, tokenizer } = await loadClip('ViT-B/16');   // or loadModel('siglip-base-patch16-224'), any family
 *   const data = loadDataset('eurosat', { root, shots: 16, seed: 1, subsample: 'base' });
 *   const learner = new PromptLearner(model, tokenizer, 'mpl', data.classnames, { seed: 1 });
 *   await train(learner, batchSource(data.train, { mode: 'train', seed: 1 }), { epochs: 5, lr: 0.0035 });
 *   const { accuracy } = await evaluate(learner, batchSource(data.test, { mode: 'eval' }));
 *   savePrompts('out', learner);
 */
export * as torch from './torch/index.js';
export type { Device, DType, Precision, PrecisionName, Tensor } from './torch/index.js';
export { ClipModel, type ClipArchitecture, type ClipLoadOptions, type EncoderHooks } from './backbones/clip/model.js';
export { loadClip, type LoadClipOptions, type LoadedClip } from './backbones/clip/load.js';
export { makePreprocess, preprocessImage, type Preprocess } from './backbones/clip/preprocess.js';
export { loadClipWeights, readClipConfig } from './backbones/clip/weights.js';
export { knownArchitectures, type ClipConfig, type TextConfig, type VisionConfig } from './backbones/clip/config.js';
export { ClipTokenizer, tokenize } from './backbones/clip/tokenizer.js';
export { loadModel, families, familyOf, traitsOf, tokenizerFor, MODEL_CATALOGUE, type CatalogueEntry, type LoadModelOptions, type LoadedModel } from './backbones/index.js';
export type { BackboneArchitecture, BackboneModel, BackboneNeed, BackboneTraits, FamilyName, TextTokenizer } from './backbones/model.js';
export type { BackboneFamily } from './backbones/family.js';
export { SiglipModel } from './backbones/siglip/model.js';
export { SiglipTokenizer } from './backbones/siglip/tokenizer.js';
export type { SiglipArchitecture } from './backbones/siglip/weights.js';
export type { PixelSpec } from './data/image.js';
export { PromptLearner, type ForwardOutput, type LearnerOptions, type Tokenizer } from './prompting/learner.js';
export { METHODS, RECIPES, designMethod, gpaWeights, countParameters, type MethodConfig, type MethodDesign, type MethodName, type MethodOptions, type Recipe } from './prompting/methods/index.js';
export { validatePlan, planLayout, describeLayout, parseSchedule, type PromptPlan } from './prompting/plan.js';
export type { PlanLayout, LayerLayout, LayoutSegment, TokenKind } from './prompting/layout.js';
export { savePrompts, loadPrompts, type LoadedPrompts, type PromptsConfig } from './prompting/checkpoint.js';
export { loadDataset, type LoadOptions } from './data/dataset.js';
export type { Datum, LoadedDataset, Subsample } from './data/types.js';
export type { DecodeOptions } from './data/image.js';
export { DataLoader, type Batch as LoaderBatch, type LoaderItem, type LoaderOptions } from './data/loader.js';
export { train, type EpochSummary, type TrainOptions, type TrainResult } from './train/trainer.js';
export { evaluate, type EvalResult } from './train/evaluate.js';
export { batchSource } from './train/sources.js';
export type { Batch, BatchSource } from './train/batches.js';
export { batchTensors, createOptimizer, trainStep, type OptimizerOptions, type StepOptions, type StepResult } from './train/step.js';
export { lrAt, schedule, type ScheduleOptions } from './train/schedule.js';
export { runBase2New, runTransfer, type ProtocolOptions } from './eval/protocols.js';
export { harmonicMean, type Protocol, type RunResult } from './eval/results.js';
export { silentReporter, type ProgressHandle, type Reporter } from './util/reporter.js';
export { runSearch, type SearchResult, type SearchRunOptions } from './search/search.js';
export { loadPromptPackage, type LoadPackageOptions } from './packages/load.js';
export { readPackage, loadPromptsSource, type PackageConfig, type PackageAccuracy, type PromptsSource } from './packages/package.js';
export { exportRunPackage, type ExportPackageOptions } from './packages/export.js';
export { importDasslCheckpoint, type ImportOptions } from './packages/import.js';
export { checkBackbone, backboneOf, type BackboneIdentity, type BackboneRequirement, type LoadedBackbone } from './packages/backbone.js';
export { watchDataAccess, type DataAccess } from './data/access.js';
export { UserError } from './util/errors.js';
