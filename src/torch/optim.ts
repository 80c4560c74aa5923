/**
 * Optimisers. SGD and AdamW follow torch.optim.SGD's and torch.optim.AdamW's update rules exactly (PyTorch
 * 1.13 / 2.x, foreach=False, amsgrad=False).
 */
import { zeros } from './create.js';
import { native } from './native.js';
import { noGrad } from './scope.js';
import type { Tensor } from './tensor.js';

/**
 * What the optimisers share: the parameters, the learning rate (schedules set it between steps), zeroing the
 * gradients, and the step over every parameter that has a gradient (the others are skipped, as in PyTorch).
 */
abstract class ParameterOptimizer {
  constructor(
    readonly params: Tensor[],
    public lr: number,
    readonly weightDecay: number,
  ) {}

  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  step(): void {
    noGrad(() => {
      for (const p of this.params) {
        const g = p.grad;
        if (g) this.update(p, g);
      }
    });
  }

  /** Updates `p` from its gradient `g` (a handle of its own, disposed here). */
  protected abstract update(p: Tensor, g: Tensor): void;
}

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
export class SGD extends ParameterOptimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  private readonly buffers = new Map<Tensor, Tensor>();

  constructor(params: Tensor[], options: SGDOptions) {
    super(params, options.lr, options.weightDecay ?? 0);
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.nesterov = options.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new Error('Nesterov momentum requires a momentum and zero dampening');
    }
  }

  protected update(p: Tensor, g: Tensor): void {
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
  step(opt: { params: Tensor[]; step(): void }): boolean {
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
export class AdamW extends ParameterOptimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  private readonly state = new Map<Tensor, AdamWState>();

  constructor(params: Tensor[], options: AdamWOptions) {
    super(params, options.lr, options.weightDecay ?? 1e-2);
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    for (const b of [this.beta1, this.beta2]) {
      if (!(b >= 0 && b < 1)) throw new Error(`AdamW: betas must be in [0, 1), got ${b}`);
    }
  }

  protected update(p: Tensor, g: Tensor): void {
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
