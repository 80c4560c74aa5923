/** Optimisers. SGD follows torch.optim.SGD's update rule exactly (PyTorch 1.13 / 2.x, foreach=False). */
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
