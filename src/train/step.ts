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
import type { ForwardOutput, PromptLearner } from '../prompting/learner.js';
import { methodDef, type Recipe } from '../prompting/methods/index.js';
import { AdamW, GradScaler, SGD, noGrad, tensor, tidy, where, zeros, type Device, type Tensor } from '../torch/index.js';
import { checkBatchSize, type Batch } from './batches.js';
import { TRAIN_DEFAULTS } from './defaults.js';
import type { DeviceSums } from './observer.js';

export interface OptimizerOptions {
  lr: number;
  /** default 0.9 (Dassl's SGD) */
  momentum?: number;
  /** default 5e-4 (SGD), the recipe's for AdamW (torch's 0.01) */
  weightDecay?: number;
  /** default: the method's official optimiser (its recipe): Dassl's SGD, or Tip-Adapter-F's AdamW */
  optimizer?: 'sgd' | NonNullable<Recipe['optimizer']>;
}

/** The optimisers a training step drives. */
export type Optimizer = SGD | AdamW;

/**
 * The method's optimiser over the learner's trainable tensors with its official settings: Dassl's SGD
 * (torch.optim.SGD's rule) or, where the recipe says so, torch.optim.AdamW (Tip-Adapter-F).
 */
export function createOptimizer(learner: PromptLearner, options: OptimizerOptions): Optimizer {
  const o = options.optimizer ?? methodDef(learner.method).recipe.optimizer ?? 'sgd';
  if (o !== 'sgd') return new AdamW(learner.parameters(), { lr: options.lr, eps: o.eps, betas: [o.betas[0], o.betas[1]], weightDecay: options.weightDecay ?? o.weightDecay });
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
   * them back (a read waits for the device; train() reads every few batches). With a `terms` map, each part of
   * the loss the method reports (its cross-entropy and extra terms) is summed there too, created on first use.
   */
  sums?: DeviceSums;
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
export function trainStep(learner: PromptLearner, optimizer: Optimizer, batch: Batch, options: StepOptions & { sums: DeviceSums }): null;
export function trainStep(learner: PromptLearner, optimizer: Optimizer, batch: Batch, options?: StepOptions): StepResult;
export function trainStep(learner: PromptLearner, optimizer: Optimizer, batch: Batch, options: StepOptions = {}): StepResult | null {
  checkBatchSize(batch, learner.model.imageSize);
  return tidy(() => {
    const { images, labels } = batchTensors(batch, learner.model.device);
    optimizer.zeroGrad();
    // forward and backward (scaled under amp); with many classes the text tower keeps bounded memory
    const scaler = options.scaler;
    const out = learner.forwardBackward(images, labels, scaler ? (l) => scaler.scaleLoss(l) : undefined);
    const loss = out.loss!;
    if (learner.design.gradientProjection) backward(learner, out, scaler); // two passes over forward()'s graph
    if (scaler) scaler.step(optimizer);
    else optimizer.step();
    return noGrad(() => {
      const hits = out.logits.argmax(1).eq(labels).sum();
      if (options.sums) {
        options.sums.loss.add_(loss.detach(), batch.size);
        options.sums.hits.add_(hits);
        const terms = options.sums.terms;
        for (const [name, t] of Object.entries(out.terms ?? {})) {
          if (!terms || name === 'total') continue; // the total is the loss
          let sum = terms.get(name);
          if (!sum) terms.set(name, (sum = zeros([], 'float32', options.sums.loss.device).keep()));
          sum.add_(t.detach().as('float32'), batch.size);
        }
        return null;
      }
      return { loss: loss.item(), correct: hits.item(), size: batch.size };
    });
  });
}

/**
 * The backward pass of a training step: the loss's gradients (scaled under amp), or, for a design with gradient
 * projection (ProGrad), its guide's and the loss's in two passes, the loss's then projected (projectGradients).
 */
export function backward(learner: PromptLearner, out: ForwardOutput, scaler?: GradScaler | null): void {
  const scaled = (t: Tensor) => (scaler ? scaler.scaleLoss(t) : t);
  const projection = learner.design.gradientProjection;
  if (!projection || !out.guide) {
    scaled(out.loss!).backward();
    return;
  }
  projectGradients(learner.parameters(), scaled(out.loss!), scaled(out.guide), projection.lambda);
}

/**
 * Dassl.ProGrad's prograd_backward_and_update without the optimiser step: backpropagates `guide` (keeping the
 * graph), keeps each parameter's gradient h, backpropagates `loss` into fresh gradients g, and where
 * cos(g, h) < 0 (per parameter tensor, over all its elements) replaces g by g − λ(g·ĥ)ĥ, ĥ = h/‖h‖. The
 * decision stays on the device (no read-back per step). Loss scaling leaves it unchanged: both gradients
 * carry the same scale, ĥ none.
 */
export function projectGradients(params: Tensor[], loss: Tensor, guide: Tensor, lambda: number): void {
  tidy(() => {
    guide.backward(undefined, true);
    const h = params.map((p) => p.grad?.clone() ?? null);
    for (const p of params) p.zeroGrad();
    loss.backward();
    noGrad(() => {
      params.forEach((p, i) => {
        const g = p.grad;
        const hi = h[i];
        if (!g || !hi) return;
        const hn = hi.div(hi.norm());
        const cos = g.div(g.norm()).mul(hn).sum();
        const projected = g.sub(hn.mul(g.mul(hn).sum().mul(lambda)));
        g.copy_(where(cos.lt(0), projected, g));
      });
    });
  });
}
