/**
 * Watching a training run from outside the trainer (TensorBoard event files, dashboards): observers get the
 * running numbers after every batch and the summary after every epoch. The trainer does not know who listens.
 *
 * On a GPU the trainer reads its device-side sums only every few batches (a read waits for the device); the
 * recorder keeps a small snapshot of the sums per batch on the device and reads the pending ones together at
 * the trainer's next read, so observers still see every batch, in order, without stalling the device.
 */
import { cat, noGrad, stack, tidy, type Tensor } from '../torch/index.js';
import type { EpochSummary } from './trainer.js';

/** The epoch so far after one batch: running means over its images, as Dassl's MetricMeter averages. */
export interface BatchReport {
  /** 1-based, as the trainer counts (Dassl's self.epoch + 1) */
  epoch: number;
  /** 1-based within the epoch (Dassl's self.batch_idx + 1) */
  batch: number;
  batchesPerEpoch: number;
  lr: number;
  /** mean loss over the epoch's images so far; after an epoch's last batch it is metrics.csv's loss */
  loss: number;
  /** training accuracy (%) over the epoch's images so far; after the last batch, metrics.csv's accuracy */
  accuracy: number;
  /**
   * The means of the loss's parts over the same images, by name: the cross-entropy (`ce`) and each extra term
   * the method's design declares (PromptSRC: scl_logits, scl_text, scl_image). Empty for a loss that is the
   * cross-entropy alone.
   */
  terms: Record<string, number>;
}

export interface TrainObserver {
  batch?(report: BatchReport): void;
  /** after the epoch's checkpoint and metrics.csv are written */
  epoch?(summary: EpochSummary): void;
}

/** The trainer's running sums on the device: Σ loss·n, Σ correct, and Σ term·n per loss term (trainStep adds). */
export interface DeviceSums {
  loss: Tensor;
  hits: Tensor;
  terms?: Map<string, Tensor>;
}

/** Per-batch snapshots of the device sums, reported to the observers when the trainer reads the device. */
export class BatchRecorder {
  private pending: Array<{ batch: number; seen: number; snapshot: Tensor }> = [];

  constructor(
    private readonly observers: readonly TrainObserver[],
    private readonly sums: DeviceSums,
  ) {}

  /** After batch `batch` (1-based) of `epoch`, `seen` images into the epoch: snapshot the sums (no device read). */
  record(batch: number, seen: number): void {
    if (!this.observers.some((o) => o.batch)) return;
    const s = this.sums;
    const snapshot = noGrad(() => tidy(() => stack([s.loss, s.hits, ...(s.terms?.values() ?? [])].map((t) => t.to('float64'))).keep()));
    this.pending.push({ batch, seen, snapshot });
  }

  /** Reads every pending snapshot in one device read and reports each batch in order. */
  report(epoch: number, batchesPerEpoch: number, lr: number): void {
    if (this.pending.length === 0) return;
    const pending = this.pending;
    this.pending = [];
    let values: number[];
    try {
      values = tidy(() => cat(pending.map((p) => p.snapshot)).toArray());
    } finally {
      pending.forEach((p) => p.snapshot.dispose());
    }
    // every snapshot has the same layout: Σ loss, Σ correct, then the terms in the order trainStep met them
    const names = [...(this.sums.terms?.keys() ?? [])];
    const width = 2 + names.length;
    pending.forEach((p, k) => {
      const row = values.slice(k * width, (k + 1) * width);
      const terms: Record<string, number> = {};
      names.forEach((name, i) => (terms[name] = row[2 + i] / p.seen));
      const report: BatchReport = { epoch, batch: p.batch, batchesPerEpoch, lr, loss: row[0] / p.seen, accuracy: (100 * row[1]) / p.seen, terms };
      for (const o of this.observers) o.batch?.(report);
    });
  }

  /** Frees snapshots never reported (a run that stopped with an error). */
  dispose(): void {
    this.pending.forEach((p) => p.snapshot.dispose());
    this.pending = [];
  }
}
