/** Optimisers. SGD follows torch.optim.SGD's update rule exactly (PyTorch 1.13 / 2.x, foreach=False). */
import { native } from './native.js';
import { noGrad } from './scope.js';
import type { Tensor } from './tensor.js';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/**
 * Stochastic gradient descent with momentum, dampening, weight decay and Nesterov:
 *   d = g + wd·p;  buf = d (first step) | momentum·buf + (1-dampening)·d;  d = nesterov ? d + momentum·buf : buf;
 *   p -= lr·d
 * Parameters without a gradient are skipped, as in PyTorch. Momentum buffers are owned (kept) here.
 */
export class SGD {
  lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private readonly buffers = new Map<Tensor, Tensor>();

  constructor(readonly params: Tensor[], options: SGDOptions) {
    this.lr = options.lr;
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.nesterov = options.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new Error('Nesterov momentum requires a momentum and zero dampening');
    }
  }

  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  step(): void {
    noGrad(() => {
      for (const p of this.params) {
        const g = p.grad;
        if (!g) continue;
        const temps: Tensor[] = [g];
        let d = g;
        if (this.weightDecay !== 0) {
          d = d.add(p, this.weightDecay);
          temps.push(d);
        }
        if (this.momentum !== 0) {
          let buf = this.buffers.get(p);
          if (!buf) {
            buf = d.clone().keep();
            this.buffers.set(p, buf);
          } else {
            buf.mul_(this.momentum).add_(d, 1 - this.dampening);
          }
          if (this.nesterov) {
            d = d.add(buf, this.momentum);
            temps.push(d);
          } else {
            d = buf;
          }
        }
        p.add_(d, -this.lr);
        for (const t of temps) t.dispose();
      }
    });
  }

  /** Momentum buffers by parameter index (for checkpoints); undefined where no step has run yet. */
  momentumBuffers(): Array<Tensor | undefined> {
    return this.params.map((p) => this.buffers.get(p));
  }

  /** Restores momentum buffers (copies; the caller keeps ownership of its tensors). */
  loadMomentumBuffers(buffers: Array<Tensor | undefined>): void {
    this.disposeState();
    buffers.forEach((b, i) => {
      if (b) this.buffers.set(this.params[i], b.clone().keep());
    });
  }

  /** Frees the momentum buffers. */
  disposeState(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}

export interface GradScalerState {
  scale: number;
  growthTracker: number;
}

/**
 * Dynamic loss scaling for float16 training, torch.cuda.amp.GradScaler's rule with its defaults: the loss is
 * multiplied by `scale` (2^16 at first) before backward; before the optimiser step the gradients are divided
 * by it, and a step whose gradients hold inf/NaN is skipped and halves the scale; 2000 good steps in a row
 * double it.
 */
export class GradScaler {
  scale: number;
  growthTracker: number;
  constructor(
    state: GradScalerState = { scale: 65536, growthTracker: 0 },
    readonly growthFactor = 2,
    readonly backoffFactor = 0.5,
    readonly growthInterval = 2000,
  ) {
    this.scale = state.scale;
    this.growthTracker = state.growthTracker;
  }

  /** loss × scale, the tensor to call backward() on. */
  scaleLoss(loss: Tensor): Tensor {
    return loss.mul(this.scale);
  }

  /** Unscales the gradients, steps the optimiser unless they overflowed, updates the scale; true = stepped. */
  step(opt: SGD): boolean {
    const grads = opt.params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
    let overflow: boolean;
    try {
      overflow = native.ampUnscale_(grads.map((g) => g.handle), 1 / this.scale) as boolean;
    } finally {
      for (const g of grads) g.dispose();
    }
    if (!overflow) opt.step();
    if (overflow) {
      this.scale *= this.backoffFactor;
      this.growthTracker = 0;
    } else if (++this.growthTracker === this.growthInterval) {
      this.scale *= this.growthFactor;
      this.growthTracker = 0;
    }
    return !overflow;
  }

  state(): GradScalerState {
    return { scale: this.scale, growthTracker: this.growthTracker };
  }
}
