/**
 * Optimisers. SGD and AdamW follow torch.optim.SGD's and torch.optim.AdamW's update rules exactly (PyTorch
 * 1.13 / 2.x, foreach=False, amsgrad=False).
 */
import { zeros } from './create.js';
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

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  /** decoupled weight decay (torch's default 0.01) */
  weightDecay?: number;
}

/** AdamW's per-parameter state: step count and the two moment estimates. */
export interface AdamWState {
  step: number;
  expAvg: Tensor;
  expAvgSq: Tensor;
}

/**
 * Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW's single-tensor path:
 *   p *= 1 - lr·wd;  m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;
 *   p -= lr / (1-β1^t) · m / (sqrt(v) / sqrt(1-β2^t) + eps)
 * `lr` may change between steps (schedules set it). Parameters without a gradient are skipped and their
 * step count does not advance, as in PyTorch. The moment buffers are owned (kept) here.
 */
export class AdamW {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly state = new Map<Tensor, AdamWState>();

  constructor(readonly params: Tensor[], options: AdamWOptions) {
    this.lr = options.lr;
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 1e-2;
    for (const b of [this.beta1, this.beta2]) {
      if (!(b >= 0 && b < 1)) throw new Error(`AdamW: betas must be in [0, 1), got ${b}`);
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
        let s = this.state.get(p);
        if (!s) {
          s = { step: 0, expAvg: zeros(p.shape, p.dtype, p.device).keep(), expAvgSq: zeros(p.shape, p.dtype, p.device).keep() };
          this.state.set(p, s);
        }
        s.step += 1;
        if (this.weightDecay !== 0) p.mul_(1 - this.lr * this.weightDecay);
        s.expAvg.mul_(this.beta1).add_(g, 1 - this.beta1);
        const g2 = g.mul(g);
        s.expAvgSq.mul_(this.beta2).add_(g2, 1 - this.beta2);
        const stepSize = this.lr / (1 - this.beta1 ** s.step);
        const root = s.expAvgSq.sqrt();
        const denom = root.div(Math.sqrt(1 - this.beta2 ** s.step)).add_(this.eps);
        const update = s.expAvg.div(denom);
        p.add_(update, -stepSize);
        for (const t of [g, g2, root, denom, update]) t.dispose();
      }
    });
  }

  /** The state by parameter index (for checkpoints); undefined where no step has run yet. */
  stateList(): Array<AdamWState | undefined> {
    return this.params.map((p) => this.state.get(p));
  }

  /** Restores the state (copies; the caller keeps ownership of its tensors). */
  loadStateList(states: Array<AdamWState | undefined>): void {
    if (states.length !== this.params.length) throw new Error(`AdamW: ${states.length} states for ${this.params.length} parameters`);
    this.disposeState();
    states.forEach((s, i) => {
      if (s) this.state.set(this.params[i], { step: s.step, expAvg: s.expAvg.clone().keep(), expAvgSq: s.expAvgSq.clone().keep() });
    });
  }

  /** Frees the moment buffers. */
  disposeState(): void {
    for (const s of this.state.values()) {
      s.expAvg.dispose();
      s.expAvgSq.dispose();
    }
    this.state.clear();
  }
}
