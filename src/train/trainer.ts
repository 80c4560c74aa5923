/**
 * The training loop of the official trainers (Dassl TrainerX.run_epoch + each method's forward_backward):
 * SGD(momentum 0.9, weight decay 5e-4), per-epoch LR from the warm-up + cosine schedule, cross-entropy (or
 * PromptSRC's loss), PromptSRC's Gaussian prompt aggregation. After every epoch a checkpoint holding the
 * prompts, the momentum buffers, the aggregation state and the epoch is written atomically as ONE file,
 * so a killed run resumes from the last complete epoch with exactly the state it had.
 *
 * Randomness: the data order and augmentation are a function of (seed, epoch, sample), so resuming needs
 * only the epoch number, and a resumed run ends with the same prompts as an uninterrupted one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import type { RawTensor } from '../io/tensor.js';
import { PromptLearner, gpaWeights } from '../prompting/learner.js';
import { SGD, Tensor, noGrad, tensor, tidy } from '../torch/index.js';
import { UserError } from '../util/errors.js';
import { silentReporter, type Reporter } from '../util/reporter.js';
import type { BatchSource } from './batches.js';
import { lrAt } from './schedule.js';

export interface TrainOptions {
  epochs: number;
  lr: number;
  momentum?: number;
  weightDecay?: number;
  warmupEpochs?: number;
  warmupLr?: number;
  /** folder for the per-epoch checkpoint (checkpoint.safetensors); none = no checkpoints */
  checkpointDir?: string;
  /** continue from the checkpoint in checkpointDir when it exists */
  resume?: boolean;
  reporter?: Reporter;
  /** called after each epoch with its summary (after the checkpoint is on disk) */
  onEpoch?: (summary: EpochSummary) => void;
  /** append-only text log of the run */
  logFile?: string;
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
}

export const CHECKPOINT_FILE = 'checkpoint.safetensors';

function toRaw(t: Tensor): RawTensor {
  const f = t.toFloat32();
  return { dtype: 'float32', shape: t.shape, data: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) };
}

/** Trains the learner's prompts on `data`. */
export async function train(learner: PromptLearner, data: BatchSource, options: TrainOptions): Promise<TrainResult> {
  const reporter = options.reporter ?? silentReporter;
  const params = learner.parameters();
  const keys = [...learner.params.keys()];
  const opt = new SGD(params, { lr: options.lr, momentum: options.momentum ?? 0.9, weightDecay: options.weightDecay ?? 5e-4 });
  const isSrc = learner.method === 'promptsrc';
  const gpa = isSrc ? gpaWeights(options.epochs, learner.design.options.gpaMean, learner.design.options.gpaStd) : null;
  let gpaSum: Tensor[] | null = null;
  const history: EpochSummary[] = [];
  let startEpoch = 1;
  const ckpt = options.checkpointDir ? path.join(options.checkpointDir, CHECKPOINT_FILE) : null;
  const log = (line: string) => {
    if (options.logFile) fs.appendFileSync(options.logFile, `${new Date().toISOString()} ${line}\n`);
  };

  if (ckpt && options.resume && fs.existsSync(ckpt)) {
    const state = loadCheckpoint(ckpt, learner, opt, keys);
    startEpoch = state.epoch + 1;
    history.push(...state.history);
    if (state.gpa) gpaSum = state.gpa;
    reporter.info(`resuming from ${ckpt} after epoch ${state.epoch}`);
    log(`resume after epoch ${state.epoch}`);
  }

  const t0 = Date.now();
  let trainedImages = 0;
  try {
    for (let epoch = startEpoch; epoch <= options.epochs; epoch++) {
      const lr = lrAt(epoch, options);
      opt.lr = lr;
      const bar = reporter.progress(`epoch ${epoch}/${options.epochs}`, data.batchesPerEpoch(), 'batches');
      const e0 = Date.now();
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      let b = 0;
      for await (const batch of data.batches(epoch)) {
        const [loss, right] = tidy(() => {
          const images = tensor(batch.images, [batch.size, 3, batch.imageSize, batch.imageSize]);
          const labels = tensor(Int32Array.from(batch.labels), [batch.size], 'int32').to('int64');
          opt.zeroGrad();
          const out = learner.forward(images, labels);
          out.loss!.backward();
          opt.step();
          const hits = out.logits.argmax(1).eq(labels).sum().item();
          return [out.loss!.item(), hits];
        });
        lossSum += loss * batch.size;
        correct += right;
        seen += batch.size;
        b++;
        const secs = (Date.now() - e0) / 1000;
        bar.update(b, {
          loss: (lossSum / seen).toFixed(4),
          acc: `${((100 * correct) / seen).toFixed(1)}%`,
          lr: lr.toExponential(3),
          'img/s': (seen / Math.max(secs, 1e-9)).toFixed(1),
        });
      }
      bar.stop();
      if (seen === 0) throw new UserError('the training set produced no batch (fewer images than the batch size?)');
      trainedImages += seen;
      if (gpa) {
        // PromptSRC: accumulate w_e · θ_e after each epoch; the aggregate replaces the prompts at the end
        const w = gpa[epoch - 1];
        gpaSum = noGrad(() =>
          params.map((p, i) => {
            const weighted = p.detach().mul(w);
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
      log(`epoch ${epoch} lr ${lr} loss ${summary.loss.toFixed(5)} acc ${summary.accuracy.toFixed(2)} ${summary.imagesPerSecond.toFixed(1)} img/s`);
      if (ckpt) saveCheckpoint(ckpt, learner, opt, keys, epoch, history, gpaSum);
      options.onEpoch?.(summary);
      // fault injection for the resume test: die like `kill -9` right after this epoch's checkpoint
      if (process.env.MPL_KILL_AFTER_EPOCH && Number(process.env.MPL_KILL_AFTER_EPOCH) === epoch) process.kill(process.pid, 'SIGKILL');
    }
    if (gpaSum) {
      // load the aggregated prompts (PromptSRC evaluates the GPA model)
      const agg = gpaSum;
      noGrad(() => params.forEach((p, i) => p.copy_(agg[i])));
    }
  } finally {
    opt.disposeState();
    gpaSum?.forEach((t) => t.dispose());
  }
  const seconds = (Date.now() - t0) / 1000;
  return { epochs: history, seconds, imagesPerSecond: trainedImages / Math.max(seconds, 1e-9), resumedFrom: startEpoch - 1 };
}

function saveCheckpoint(
  file: string,
  learner: PromptLearner,
  opt: SGD,
  keys: string[],
  epoch: number,
  history: EpochSummary[],
  gpa: Tensor[] | null,
): void {
  const tensors = new Map<string, RawTensor>();
  keys.forEach((k) => tensors.set(k, toRaw(learner.params.get(k)!)));
  opt.momentumBuffers().forEach((b, i) => b && tensors.set(`optimizer.momentum.${keys[i]}`, toRaw(b)));
  gpa?.forEach((t, i) => tensors.set(`gpa.${keys[i]}`, toRaw(t)));
  writeSafetensors(file, tensors, {
    format: 'mpl-checkpoint/1',
    method: learner.method,
    epoch: String(epoch),
    history: JSON.stringify(history),
  });
}

function loadCheckpoint(
  file: string,
  learner: PromptLearner,
  opt: SGD,
  keys: string[],
): { epoch: number; history: EpochSummary[]; gpa: Tensor[] | null } {
  const { tensors, metadata } = readSafetensors(file);
  if (metadata.format !== 'mpl-checkpoint/1') throw new UserError(`${file}: not a checkpoint written by mpl (format ${metadata.format ?? 'missing'})`);
  if (metadata.method !== learner.method) throw new UserError(`${file}: checkpoint of method ${metadata.method}, but this run trains ${learner.method}`);
  learner.loadStateDict(tensors, file);
  const buffers = keys.map((k) => {
    const r = tensors.get(`optimizer.momentum.${k}`);
    return r ? tensor(r.data, r.shape, r.dtype) : undefined;
  });
  opt.loadMomentumBuffers(buffers);
  buffers.forEach((b) => b?.dispose());
  const gpaRaw = keys.map((k) => tensors.get(`gpa.${k}`));
  const gpa = gpaRaw.every((r) => r) ? gpaRaw.map((r) => tensor(r!.data, r!.shape, r!.dtype).keep()) : null;
  return { epoch: Number(metadata.epoch), history: JSON.parse(metadata.history ?? '[]') as EpochSummary[], gpa };
}
