/**
 * Dassl's learning-rate schedule: a constant warm-up (WARMUP_EPOCH epochs at WARMUP_CONS_LR) followed by
 * CosineAnnealingLR(T_max = epochs), stepped once per epoch at its last batch. Because the cosine successor
 * only starts stepping after the warm-up, epoch W+1 runs at the peak LR and the cosine is evaluated at
 * t = 1..E-W-1 of T_max = E (its last points are never reached). Verified against Dassl's own scheduler
 * (test/fixtures/shared/golden/lr_schedule.json).
 */
import { TRAIN_DEFAULTS } from './defaults.js';

export interface ScheduleOptions {
  lr: number;
  epochs: number;
  warmupEpochs?: number;
  warmupLr?: number;
}

/** The learning rate in force during `epoch` (1-based). */
export function lrAt(epoch: number, o: ScheduleOptions): number {
  const W = o.warmupEpochs ?? TRAIN_DEFAULTS.warmupEpochs;
  if (epoch <= W) return o.warmupLr ?? TRAIN_DEFAULTS.warmupLr;
  const t = epoch - 1 - W;
  return (o.lr * (1 + Math.cos((Math.PI * t) / o.epochs))) / 2;
}

export function schedule(o: ScheduleOptions): number[] {
  return Array.from({ length: o.epochs }, (_, i) => lrAt(i + 1, o));
}
