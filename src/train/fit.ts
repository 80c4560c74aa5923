/**
 * Fitting the feature-head methods beyond epochs of gradient steps, for train() (they read the design's
 * capabilities, never the method's name):
 *  - Tip-Adapter's cache, built from every training image before anything else (and kept in the run folder's
 *    cache.safetensors, so a resumed run does not rebuild it), as build_cache_model;
 *  - Tip-Adapter-F's choice of the best epoch, on validation images by default or on test images where the
 *    design says so (--select-on-test-set, the official code's behaviour), with the initial α and β;
 *  - the α/β search on validation images after training (search_hp), and the linear probe's C search and fit
 *    (lpclip), each on features encoded once: the image encoder is frozen.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { CACHE_KEYS, CACHE_VALUES, type PromptLearner } from '../prompting/learner.js';
import { Tensor, allFinite, noGrad, tensor, tidy } from '../torch/index.js';
import { configDiff, describeDiff } from '../util/config.js';
import { UserError } from '../util/errors.js';
import { silentReporter } from '../util/reporter.js';
import type { BatchSource } from './batches.js';
import { buildFeatureCache, collectFeatures, searchCacheHyperparameters, type SplitFeatures } from './feature-heads.js';
import { lpclipSearch } from './logistic.js';
import type { TrainOptions, TrainResult } from './trainer.js';

/** Tip-Adapter's cache in the run folder: keys [N, E] (before transposing) and labels, with the run's configuration. */
export const CACHE_FILE = 'cache.safetensors';

function needs(learner: PromptLearner, source: BatchSource | undefined, what: string, option: string): BatchSource {
  if (!source) throw new UserError(`${learner.method} ${what}: pass TrainOptions.${option} (the protocols pass it)`);
  return source;
}

/** A line for the run's log (and, `say`, for the terminal too). */
function logTo(options: TrainOptions): (line: string, say?: boolean) => void {
  return (line, say = true) => {
    if (say) options.reporter?.info(line);
    if (options.logFile) fs.appendFileSync(options.logFile, `${new Date().toISOString()} ${line}\n`);
  };
}

/** The cache's identity: what a saved cache must have been built with to be reused. */
function cacheConfig(learner: PromptLearner, options: TrainOptions): Record<string, unknown> {
  return JSON.parse(JSON.stringify({ ...options.config, method: learner.method, method_options: learner.design.options, classes: learner.classnames })) as Record<string, unknown>;
}

/**
 * Builds Tip-Adapter's cache from `options.cacheSource` (or reads the run folder's, built with the same
 * configuration, when resuming); returns the seconds it took.
 */
export async function prepareFeatureCache(learner: PromptLearner, options: TrainOptions): Promise<number> {
  const t0 = Date.now();
  const log = logTo(options);
  const file = options.checkpointDir ? path.join(options.checkpointDir, CACHE_FILE) : null;
  const config = cacheConfig(learner, options);
  if (file && options.resume && fs.existsSync(file)) {
    const bad = (why: string): never => {
      throw new UserError(`${file}: unusable feature cache (${why}); delete it to build the cache again`);
    };
    let read: ReturnType<typeof readSafetensors>;
    try {
      read = readSafetensors(file);
    } catch (e) {
      return bad((e as Error).message);
    }
    let saved: unknown;
    try {
      saved = JSON.parse(read.metadata.config ?? 'null');
    } catch {
      bad('its configuration is not valid JSON');
    }
    const diff = configDiff(saved, config);
    if (diff.length) throw new UserError(`${file} was built with another configuration (${describeDiff(diff)}); start over with --force, or delete it`);
    const keys = read.tensors.get('keys');
    const labels = read.tensors.get('labels');
    if (!keys || !labels || keys.dtype !== 'float32' || labels.dtype !== 'int64' || keys.shape.length !== 2 || keys.shape[0] !== labels.shape[0]) bad('its keys or labels are missing or malformed');
    const y = Array.from(new BigInt64Array(labels!.data.buffer.slice(labels!.data.byteOffset, labels!.data.byteOffset + labels!.data.byteLength)), Number);
    tidy(() => learner.setCache(tensor(keys!.data, keys!.shape, 'float32'), y));
    if (!allFinite([learner.buffers.get(CACHE_KEYS)!])) bad('its keys hold NaN or infinite values');
    log(`feature cache: ${y.length} entries read from ${file}`);
    return (Date.now() - t0) / 1000;
  }
  const source = needs(learner, options.cacheSource, 'builds its cache from every training image in a fixed order', 'cacheSource');
  const passes = learner.design.featureCache!.passes;
  await buildFeatureCache(learner, source, passes, options.reporter ?? silentReporter);
  const seconds = (Date.now() - t0) / 1000;
  log(`feature cache: ${learner.cacheSize} entries, the mean of ${passes} augmented pass${passes === 1 ? '' : 'es'} (${seconds.toFixed(1)} s)`);
  if (file) {
    const keys = learner.buffers.get(CACHE_KEYS)!;
    const values = learner.buffers.get(CACHE_VALUES)!;
    const raw = tidy(() => keys.T.contiguous().toRawFloat32());
    const labels = noGrad(() => tidy(() => values.argmax(1).toArray() as number[]));
    const y = new BigInt64Array(labels.map((v) => BigInt(v)));
    writeSafetensors(file, new Map([['keys', raw], ['labels', { dtype: 'int64' as const, shape: [labels.length], data: new Uint8Array(y.buffer) }]]), { format: 'mpl-feature-cache/1', config: JSON.stringify(config) });
  }
  return seconds;
}

/** The best epoch of a training, on features encoded once (Tip-Adapter-F). */
export interface EpochSelection {
  what: 'validation' | 'test';
  /** epoch 0: none yet; params: copies of the trainable tensors after the best epoch */
  best: { epoch: number; accuracy: number; params: Tensor[] | null };
  /** scores the learner after `epoch` (accuracy %, initial α and β as the official loop), keeping a copy if strictly better */
  consider(epoch: number): number;
  /** the best so far as a checkpoint recorded it (takes the tensors) */
  restore(epoch: number, accuracy: number, params: Tensor[]): void;
  /** copies the best epoch's tensors into the learner */
  restoreBest(): void;
  /** accuracy (%) of the learner on the selection images, at the given α and β */
  accuracy(alpha?: number, beta?: number): number;
  dispose(): void;
}

function accuracyOf(learner: PromptLearner, f: SplitFeatures, text: Tensor, alpha?: number, beta?: number): number {
  return noGrad(() =>
    tidy(() => {
      const y = tensor(BigInt64Array.from(f.labels, (v) => BigInt(v)), [f.labels.length], 'int64', f.features.device);
      const hits = learner.headLogits(f.features, text, alpha, beta).argmax(1).eq(y).sum().item();
      return (100 * hits) / f.labels.length;
    }),
  );
}

export async function epochSelection(learner: PromptLearner, options: TrainOptions): Promise<EpochSelection> {
  const what = learner.design.selectEpochOn!;
  const source = what === 'test'
    ? needs(learner, options.testImages, 'picks its best epoch on the test images (selectOnTestSet)', 'testImages')
    : needs(learner, options.validation, 'picks its best epoch on validation images', 'validation');
  const f = await collectFeatures(learner, source, { what: `${what} images`, reporter: options.reporter });
  const text = noGrad(() => learner.textFeatures()).keep();
  const cache = learner.design.featureCache!;
  const best: EpochSelection['best'] = { epoch: 0, accuracy: -Infinity, params: null };
  const dropBest = () => best.params?.forEach((t) => t.dispose());
  return {
    what,
    best,
    accuracy: (alpha, beta) => accuracyOf(learner, f, text, alpha, beta),
    consider(epoch) {
      const acc = accuracyOf(learner, f, text, cache.alpha, cache.beta);
      if (acc > best.accuracy) {
        dropBest();
        best.params = noGrad(() => tidy(() => learner.parameters().map((p) => p.detach().clone().keep()))); // tidy frees the detached views
        best.epoch = epoch;
        best.accuracy = acc;
      }
      return acc;
    },
    restore(epoch, accuracy, params) {
      dropBest();
      best.params = params.map((t) => t.keep());
      best.epoch = epoch;
      best.accuracy = accuracy;
    },
    restoreBest() {
      const saved = best.params;
      if (saved) noGrad(() => learner.parameters().forEach((p, i) => p.copy_(saved[i])));
    },
    dispose() {
      dropBest();
      best.params = null;
      f.features.dispose();
      text.dispose();
    },
  };
}

/**
 * What follows (or replaces) the epochs: the linear probe's C search and fit on the training and validation
 * features; Tip-Adapter's α/β search on the validation features (after Tip-Adapter-F's training, with its best
 * epoch's keys). Sets `learner.fitted` and returns it in a TrainResult.
 */
export async function fitFeatureHead(learner: PromptLearner, data: BatchSource, options: TrainOptions, selection: EpochSelection | null = null): Promise<TrainResult> {
  const t0 = Date.now();
  const log = logTo(options);
  const reporter = options.reporter ?? silentReporter;
  const probe = learner.design.linearProbe;
  const validation = needs(learner, options.validation, probe ? 'chooses C on validation images' : 'searches α and β on validation images', 'validation');
  if (probe) {
    const train = await collectFeatures(learner, data, { raw: true, complete: true, what: 'training images', reporter });
    const val = await collectFeatures(learner, validation, { raw: true, what: 'validation images', reporter });
    try {
      const classes = learner.classnames.length;
      const present = new Set(train.labels);
      if (present.size !== classes) throw new UserError(`the linear probe needs training images of every class: ${classes - present.size} of the ${classes} classes have none`);
      const x = tidy(() => train.features.to('float64')).keep();
      const vx = tidy(() => val.features.to('float64')).keep();
      try {
        let fits = 0;
        const r = lpclipSearch({ x, y: train.labels, classes }, { x: vx, y: val.labels }, probe.grid, probe.steps, { maxIter: probe.maxIter }, (c, fit) => {
          fits++;
          log(`linear probe: C ${c.toPrecision(6)}: ${fit.iterations} L-BFGS iterations (${fit.stop})`, false);
        });
        log(`linear probe: validation accuracy over C = ${probe.grid.join(', ')}: ${r.gridAccuracy.map((a) => (100 * a).toFixed(2)).join(', ')}`, false);
        r.steps.forEach((s, i) => log(`linear probe: step ${i + 1}: C ${s.cLeft.toPrecision(6)} ${(100 * s.accLeft).toFixed(2)} / C ${s.cRight.toPrecision(6)} ${(100 * s.accRight).toFixed(2)} -> C ${s.c.toPrecision(6)}`, false));
        noGrad(() => {
          learner.params.get(probe.weights)!.copy_(r.fit.coef);
          learner.params.get(probe.bias)!.copy_(r.fit.intercept);
        });
        r.fit.coef.dispose();
        r.fit.intercept.dispose();
        learner.fitted = { c: r.c };
        log(`linear probe: C = ${r.c} (${fits} fits)`);
      } finally {
        x.dispose();
        vx.dispose();
      }
    } finally {
      train.features.dispose();
      val.features.dispose();
    }
    const seconds = (Date.now() - t0) / 1000;
    return { epochs: [], seconds, imagesPerSecond: data.length / Math.max(seconds, 1e-9), resumedFrom: 0, fitted: { ...learner.fitted } };
  }
  // Tip-Adapter: search_hp on the validation features
  const cache = learner.design.featureCache!;
  const val = await collectFeatures(learner, validation, { what: 'validation images', reporter });
  const text = noGrad(() => learner.textFeatures()).keep();
  try {
    const s = searchCacheHyperparameters(learner, val.features, val.labels, text);
    log(`α/β search on ${val.labels.length} validation images: β ${s.beta}, α ${s.alpha} (validation accuracy ${s.accuracy.toFixed(2)})`);
    let fitted: Record<string, number> = { alpha: s.alpha, beta: s.beta };
    if (selection) {
      fitted.best_epoch = selection.best.epoch;
      if (selection.what === 'test') {
        // the official code reports the larger test accuracy: the best epoch's at the initial α, β or the searched α, β
        const searched = selection.accuracy(s.alpha, s.beta);
        if (selection.best.accuracy > searched) {
          fitted = { ...fitted, alpha: cache.alpha, beta: cache.beta };
          log(`test-set selection: the initial α, β (test accuracy ${selection.best.accuracy.toFixed(2)}) beat the searched ones (${searched.toFixed(2)}), as the official code reports`);
        }
      }
    }
    learner.fitted = fitted;
  } finally {
    val.features.dispose();
    text.dispose();
  }
  const seconds = (Date.now() - t0) / 1000;
  return { epochs: [], seconds, imagesPerSecond: 0, resumedFrom: 0, fitted: { ...learner.fitted } };
}
