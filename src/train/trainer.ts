/**
 * The training loop of the official trainers (Dassl TrainerX.run_epoch + each method's forward_backward):
 * SGD(momentum 0.9, weight decay 5e-4), per-epoch LR from the warm-up + cosine schedule, cross-entropy (or
 * PromptSRC's loss), PromptSRC's Gaussian prompt aggregation. After every epoch a checkpoint holding the
 * prompts, the momentum buffers, the aggregation state and the epoch is written atomically as ONE file,
 * so a killed run resumes from the last complete epoch with exactly the state it had (its format: checkpoint.ts).
 *
 * Randomness: the data order and augmentation are a function of (seed, epoch, sample), so resuming needs
 * only the epoch number, and a resumed run ends with the same prompts as an uninterrupted one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PromptLearner } from '../prompting/learner.js';
import { GradScaler, Tensor, allFinite, isCuda, noGrad, releaseFreedMemory, tidy, zeros } from '../torch/index.js';
import { methodDef } from '../prompting/methods/index.js';
import { UserError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { silentReporter, type Reporter } from '../util/reporter.js';
import { scientific } from '../util/format.js';
import type { BatchSource } from './batches.js';
import { BatchRecorder, type DeviceSums, type TrainObserver } from './observer.js';
import { lrAt } from './schedule.js';
import { createOptimizer, trainStep, type OptimizerOptions } from './step.js';
import { checkpointTarget, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { cosinePerStepLr } from './feature-heads.js';
import { epochSelection, fitFeatureHead, prepareFeatureCache, type EpochSelection } from './fit.js';

export interface TrainOptions {
  epochs: number;
  lr: number;
  momentum?: number;
  weightDecay?: number;
  warmupEpochs?: number;
  warmupLr?: number;
  /** folder for the per-epoch checkpoint (checkpoint.safetensors); none = no checkpoints */
  checkpointDir?: string;
  /**
   * continue from the checkpoint in checkpointDir when it exists; a checkpoint saved with another
   * configuration (see `config`) or that fails validation is refused with a one-line error
   */
  resume?: boolean;
  /**
   * the run's configuration (JSON values: dataset, seed, batch size, ...), stored in the checkpoint beside
   * what the trainer knows itself (method, method options, optimiser, schedule, parameter shapes); a resume
   * whose configuration differs in any field is refused, naming the differences
   */
  config?: Record<string, unknown>;
  reporter?: Reporter;
  /**
   * Stop after this epoch of the `epochs`-epoch schedule (its checkpoint written) and return; a later call
   * with `resume` continues the same schedule. The schedule search trains candidates in such steps
   * (successive halving). Default: `epochs`.
   */
  stopAfterEpoch?: number;
  /** called after each epoch with its summary (after the checkpoint is on disk) */
  onEpoch?: (summary: EpochSummary) => void;
  /** told every batch's running loss (and its parts), accuracy and lr, and every epoch's summary (TensorBoard) */
  observers?: TrainObserver[];
  /** append-only text log of the run */
  logFile?: string;
  /** the optimiser, when not the method's (createOptimizer): 'sgd', or AdamW's settings */
  optimizer?: OptimizerOptions['optimizer'];
  /** the learning-rate schedule, when not the method's: Dassl's (warm-up, cosine per epoch) or CosineAnnealingLR stepped per batch */
  schedule?: 'dassl' | 'cosine-per-step';
  /**
   * Validation images (evaluation transform): what Tip-Adapter searches α and β on, Tip-Adapter-F picks its best
   * epoch on, and the linear probe chooses C on. Required by those methods.
   */
  validation?: BatchSource;
  /** Every training image in a fixed order (unshuffled, nothing dropped): the augmented passes of Tip-Adapter's cache. */
  cacheSource?: BatchSource;
  /**
   * Test images, only for a method set to pick its best epoch on them (Tip-Adapter-F with selectOnTestSet: the
   * official code's behaviour, which the result records).
   */
  testImages?: BatchSource;
  /**
   * A progress line (loss, accuracy, lr, ETA) every N batches, as Dassl's TRAIN.PRINT_FREQ (default 20; every
   * batch when an epoch has fewer): written to the log file and given to `reporter.line` (the CLI prints it
   * when its output is not a terminal: SLURM logs, CI). 0 = none.
   */
  printFreq?: number;
  /**
   * Read the running loss and accuracy from the device every N batches (default: every batch on the CPU,
   * every 10 on a GPU, where each read waits for the queued work and stalls the pipeline).
   */
  syncEvery?: number;
}

export interface EpochSummary {
  epoch: number;
  lr: number;
  loss: number;
  accuracy: number;
  images: number;
  seconds: number;
  imagesPerSecond: number;
}

export interface TrainResult {
  epochs: EpochSummary[];
  seconds: number;
  imagesPerSecond: number;
  resumedFrom: number;
  /** what was chosen on validation (or test) data while fitting: Tip-Adapter's alpha and beta, its best_epoch, the linear probe's c */
  fitted?: Record<string, number>;
}

/**
 * Test seam: called after each epoch, once its checkpoint is on disk. The resume tests preload a module
 * (test/seams/kill-after-epoch.ts) that kills the process here like `kill -9`; nothing else registers one.
 */
export const epochEndSeams: Array<(epoch: number) => void> = [];
/** Per-epoch metrics written beside the checkpoint (rewritten from the history after every epoch). */
export const METRICS_FILE = 'metrics.csv';
export const METRICS_COLUMNS = ['epoch', 'lr', 'loss', 'accuracy', 'images', 'seconds', 'images_per_s'] as const;

/** metrics.csv: one row per finished epoch, full precision (the report draws the training curves from it). */
export function metricsCsv(history: EpochSummary[]): string {
  const rows = history.map((h) => [h.epoch, h.lr, h.loss, h.accuracy, h.images, h.seconds, h.imagesPerSecond].join(','));
  return [METRICS_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

/** h:mm:ss, as Dassl prints its ETA. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** Trains the learner's prompts on `data`. */
export async function train(learner: PromptLearner, data: BatchSource, options: TrainOptions): Promise<TrainResult> {
  // the linear probe is fitted in closed form on the features (src/train/fit.ts), not trained by epochs
  if (learner.design.linearProbe) return fitFeatureHead(learner, data, options);
  const reporter = options.reporter ?? silentReporter;
  // Tip-Adapter's cache comes first: Tip-Adapter-F's trainable keys are made from it
  const cacheSeconds = learner.design.featureCache ? await prepareFeatureCache(learner, options) : 0;
  const params = learner.parameters();
  const keys = [...learner.params.keys()];
  const opt = createOptimizer(learner, options);
  const perStep = (options.schedule ?? methodDef(learner.method).recipe.schedule) === 'cosine-per-step';
  // the best epoch on validation (or test) images (Tip-Adapter-F), when the design picks one
  const selection: EpochSelection | null = learner.design.selectEpochOn && options.epochs > 0 && params.length ? await epochSelection(learner, options) : null;
  // weight averaging over epochs (PromptSRC's GPA): the prompts training ends with are Σ_e w_e·θ_e
  const gpa = learner.epochWeights(options.epochs);
  let gpaSum: Tensor[] | null = null;
  const history: EpochSummary[] = [];
  let startEpoch = 1;
  const ckpt = options.checkpointDir ? checkpointTarget(options.checkpointDir, learner, options) : null;
  const log = (line: string) => {
    if (!options.logFile) return;
    try {
      fs.appendFileSync(options.logFile, `${new Date().toISOString()} ${line}\n`);
    } catch (e) {
      throw new UserError(`${options.logFile}: cannot append to the run log (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); free space or fix the folder's permissions, then run the same command again to resume`);
    }
  };

  const precision = learner.model.precision;
  const device = learner.model.device;
  const scaler = precision.lossScaling ? new GradScaler() : null;
  if (ckpt && options.resume && fs.existsSync(ckpt.file)) {
    const state = loadCheckpoint(ckpt, learner, opt, keys, options.epochs, selection);
    startEpoch = state.epoch + 1;
    history.push(...state.history);
    if (state.gpa) gpaSum = state.gpa;
    if (scaler && state.scaler) Object.assign(scaler, state.scaler);
    reporter.info(`resuming from ${ckpt.file} after epoch ${state.epoch}`);
    log(`resume after epoch ${state.epoch}`);
  }

  const syncEvery = Math.max(1, options.syncEvery ?? (isCuda(device) ? 10 : 1));
  const imageSize = learner.model.imageSize;
  const printFreq = options.printFreq ?? 20;
  const batchesPerEpoch = data.batchesPerEpoch();
  const t0 = Date.now();
  let trainedImages = 0;
  let batchesRun = 0; // in this process (a resumed run's ETA counts only what it timed itself)
  // running sums stay on the device; reading them is what waits for the device
  const observers = options.observers ?? [];
  const sums: DeviceSums = { loss: zeros([], 'float32', device).keep(), hits: zeros([], 'int64', device).keep(), terms: observers.length ? new Map() : undefined };
  const recorder = new BatchRecorder(observers, sums);
  const lastEpoch = Math.min(options.epochs, options.stopAfterEpoch ?? options.epochs);
  try {
    const totalSteps = options.epochs * batchesPerEpoch;
    for (let epoch = startEpoch; epoch <= lastEpoch; epoch++) {
      const lr = perStep ? cosinePerStepLr(options.lr, (epoch - 1) * batchesPerEpoch, totalSteps) : lrAt(epoch, options);
      opt.lr = lr;
      const bar = reporter.progress(`epoch ${epoch}/${options.epochs}`, data.batchesPerEpoch(), 'batches');
      const e0 = Date.now();
      sums.loss.zero_();
      sums.hits.zero_();
      sums.terms?.forEach((t) => t.zero_());
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      let b = 0;
      let lastRead = 0;
      let seenAtRead = 0;
      const read = () => {
        lossSum = sums.loss.item();
        correct = sums.hits.item();
        if (!Number.isFinite(lossSum)) {
          const where = b - lastRead <= 1 ? `batch ${b}` : `batches ${lastRead + 1}-${b}`;
          throw new UserError(
            `training diverged: the loss became ${lossSum} in epoch ${epoch}, ${where} (lr ${lr.toExponential(3)}, ${precision.name}); ` +
              `nothing of this epoch was saved. Lower the learning rate (--lr)${precision.name === 'fp16' ? ' or use --precision amp (loss scaling)' : ''}`,
          );
        }
        lastRead = b;
        seenAtRead = seen;
        recorder.report(epoch, batchesPerEpoch, lr);
      };
      for await (const batch of data.batches(epoch, imageSize, learner.model.pixels)) {
        if (perStep) opt.lr = cosinePerStepLr(options.lr, (epoch - 1) * batchesPerEpoch + b, totalSteps);
        trainStep(learner, opt, batch, { scaler, sums });
        seen += batch.size;
        b++;
        batchesRun++;
        recorder.record(b, seen);
        const printNow = printFreq > 0 && (b % printFreq === 0 || batchesPerEpoch < printFreq);
        if (b % syncEvery === 0 || printNow) read();
        const secs = (Date.now() - e0) / 1000;
        if (printNow) {
          const remaining = batchesPerEpoch - b + (options.epochs - epoch) * batchesPerEpoch;
          const eta = ((Date.now() - t0) / 1000 / batchesRun) * remaining;
          const line =
            `epoch [${epoch}/${options.epochs}] batch [${b}/${batchesPerEpoch}] loss ${(lossSum / seen).toFixed(4)} ` +
            `acc ${((100 * correct) / seen).toFixed(2)} lr ${scientific(lr, 4)} img/s ${(seen / Math.max(secs, 1e-9)).toFixed(1)} eta ${clock(eta)}`;
          log(line);
          reporter.line?.(line);
        }
        bar.update(b, {
          loss: seenAtRead ? (lossSum / seenAtRead).toFixed(4) : '-',
          acc: seenAtRead ? `${((100 * correct) / seenAtRead).toFixed(1)}%` : '-',
          lr: scientific(lr, 3),
          'img/s': (seen / Math.max(secs, 1e-9)).toFixed(1),
        });
      }
      if (b !== lastRead) read();
      bar.stop();
      if (seen === 0) throw new UserError('the training set produced no batch (fewer images than the batch size?)');
      if (!allFinite(params)) {
        throw new UserError(`training diverged: the prompts hold non-finite values after epoch ${epoch} (${precision.name}); nothing of this epoch was saved. Lower the learning rate (--lr)`);
      }
      trainedImages += seen;
      if (gpa) {
        // accumulate w_e · θ_e after each epoch; the aggregate replaces the prompts at the end
        const w = gpa[epoch - 1];
        gpaSum = noGrad(() =>
          params.map((p, i) => {
            const weighted = tidy(() => p.detach().mul(w)); // the detached view is a handle too
            if (!gpaSum) return weighted.keep();
            const sum = gpaSum[i].add(weighted).keep();
            weighted.dispose();
            gpaSum[i].dispose();
            return sum;
          }),
        );
      }
      const seconds = (Date.now() - e0) / 1000;
      const summary: EpochSummary = {
        epoch,
        lr,
        loss: lossSum / seen,
        accuracy: (100 * correct) / seen,
        images: seen,
        seconds,
        imagesPerSecond: seen / seconds,
      };
      history.push(summary);
      log(`epoch ${epoch} lr ${scientific(lr, 4)} loss ${summary.loss.toFixed(5)} acc ${summary.accuracy.toFixed(2)} ${summary.imagesPerSecond.toFixed(1)} img/s`);
      if (selection) {
        const acc = selection.consider(epoch);
        log(`epoch ${epoch} ${selection.what} accuracy ${acc.toFixed(2)} (best ${selection.best.accuracy.toFixed(2)} at epoch ${selection.best.epoch})`);
      }
      if (ckpt) saveCheckpoint(ckpt, learner, opt, keys, epoch, history, gpaSum, scaler?.state() ?? null, selection);
      if (options.checkpointDir) writeFileAtomic(path.join(options.checkpointDir, METRICS_FILE), metricsCsv(history));
      options.onEpoch?.(summary);
      for (const o of observers) o.epoch?.(summary);
      releaseFreedMemory();
      for (const seam of epochEndSeams) seam(epoch);
    }
    if (gpaSum && lastEpoch === options.epochs) {
      // load the aggregated prompts (PromptSRC evaluates its GPA model)
      const agg = gpaSum;
      noGrad(() => params.forEach((p, i) => p.copy_(agg[i])));
    }
    if (selection && lastEpoch === options.epochs) selection.restoreBest();
  } finally {
    opt.disposeState();
    gpaSum?.forEach((t) => t.dispose());
    sums.loss.dispose();
    sums.hits.dispose();
    sums.terms?.forEach((t) => t.dispose());
    recorder.dispose();
  }
  let fitted: Record<string, number> | undefined;
  if (learner.design.featureCache && lastEpoch === options.epochs) {
    // α and β on the validation images (with the trained keys), as search_hp after training
    fitted = { ...(await fitFeatureHead(learner, data, options, selection)).fitted };
  }
  selection?.dispose();
  const seconds = (Date.now() - t0) / 1000 + cacheSeconds;
  return { epochs: history, seconds, imagesPerSecond: trainedImages / Math.max(seconds, 1e-9), resumedFrom: startEpoch - 1, ...(fitted ? { fitted } : {}) };
}
