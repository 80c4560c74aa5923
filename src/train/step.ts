/**
 * The step-level API, for users who write their own training loop (and what train() itself runs per batch):
 *
 *   const opt = createOptimizer(learner, { lr: 0.0035 });          // SGD, momentum 0.9, weight decay 5e-4
 *   for (let epoch = 1; epoch <= 5; epoch++) {
 *     opt.lr = lrAt(epoch, { epochs: 5, lr: 0.0035 });            // Dassl's warm-up + cosine
 *     for await (const batch of source.batches(epoch, learner.model.imageSize)) {
 *       const { loss, correct } = trainStep(learner, opt, batch);  // forward, loss, backward, optimiser step
 *     }
 *   }
 *
 * Each step runs in its own tidy() scope, so nothing it allocates outlives it.
 */
import type { PromptLearner } from '../prompting/learner.js';
import { GradScaler, SGD, noGrad, tensor, tidy, type Device, type Tensor } from '../torch/index.js';
import { checkBatchSize, type Batch } from './batches.js';
import { TRAIN_DEFAULTS } from './defaults.js';

export interface OptimizerOptions {
  lr: number;
  /** default 0.9 (Dassl's SGD) */
  momentum?: number;
  /** default 5e-4 */
  weightDecay?: number;
}

/** SGD over the learner's trainable tensors with the official settings (torch.optim.SGD's rule). */
export function createOptimizer(learner: PromptLearner, options: OptimizerOptions): SGD {
  return new SGD(learner.parameters(), {
    lr: options.lr,
    momentum: options.momentum ?? TRAIN_DEFAULTS.momentum,
    weightDecay: options.weightDecay ?? TRAIN_DEFAULTS.weightDecay,
  });
}

/** A batch as tensors on `device`: images [B, 3, S, S] float32 and labels [B] int64 (in the current scope). */
export function batchTensors(batch: Batch, device: Device = 'cpu'): { images: Tensor; labels: Tensor } {
  return {
    images: tensor(batch.images, [batch.size, 3, batch.imageSize, batch.imageSize], 'float32', device),
    labels: tensor(BigInt64Array.from(batch.labels, (y) => BigInt(y)), [batch.size], 'int64', device),
  };
}

export interface StepOptions {
  /** loss scaling (the amp precision); train() passes one when the model's precision asks for it */
  scaler?: GradScaler | null;
  /**
   * Device-side running sums to add this step's summed loss and correct predictions into, instead of reading
   * them back (a read waits for the device; train() reads every few batches).
   */
  sums?: { loss: Tensor; hits: Tensor };
}

export interface StepResult {
  /** mean loss of the batch */
  loss: number;
  /** correctly classified images of the batch */
  correct: number;
  size: number;
}

/**
 * One optimisation step on a batch: zero the gradients, forward with labels (the method's loss), backward
 * (scaled under amp; learner.forwardBackward, which bounds the text tower's memory with many classes),
 * optimiser step (skipped by the scaler on overflow). Returns the loss and accuracy
 * numbers, or null when `options.sums` collects them on the device.
 */
export function trainStep(learner: PromptLearner, optimizer: SGD, batch: Batch, options: StepOptions & { sums: { loss: Tensor; hits: Tensor } }): null;
export function trainStep(learner: PromptLearner, optimizer: SGD, batch: Batch, options?: StepOptions): StepResult;
export function trainStep(learner: PromptLearner, optimizer: SGD, batch: Batch, options: StepOptions = {}): StepResult | null {
  checkBatchSize(batch, learner.model.imageSize);
  return tidy(() => {
    const { images, labels } = batchTensors(batch, learner.model.device);
    optimizer.zeroGrad();
    // forward and backward (scaled under amp); with many classes the text tower keeps bounded memory
    const scaler = options.scaler;
    const out = learner.forwardBackward(images, labels, scaler ? (l) => scaler.scaleLoss(l) : undefined);
    const loss = out.loss!;
    if (scaler) scaler.step(optimizer);
    else optimizer.step();
    return noGrad(() => {
      const hits = out.logits.argmax(1).eq(labels).sum();
      if (options.sums) {
        options.sums.loss.add_(loss.detach(), batch.size);
        options.sums.hits.add_(hits);
        return null;
      }
      return { loss: loss.item(), correct: hits.item(), size: batch.size };
    });
  });
}
