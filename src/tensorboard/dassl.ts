/**
 * A run's TensorBoard events with Dassl's layout and tags (Dassl.pytorch, dassl/engine/trainer.py), so that
 * dashboards made for the official code work on our runs:
 *
 *   <run>/tensorboard/events.out.tfevents.*
 *   after every batch, at step (epoch − 1) · batches_per_epoch + (batch − 1)   (Dassl: epoch · num_batches + batch_idx)
 *     train/loss      the epoch's running mean loss (MetricMeter.avg)
 *     train/acc       the epoch's running training accuracy (%) (Dassl's CoOp reports it; written for every method)
 *     train/<term>    each part of the loss the method reports: `ce` and the design's extra terms (PromptSRC's
 *                     scl_logits, scl_text, scl_image), running means like train/loss
 *     train/lr        the learning rate
 *   after training, at step epochs − 1 (Dassl's self.epoch after its loop; 0 for a run that did not train)
 *     test/accuracy, test/error_rate, test/macro_f1    in %, on the run's own test set (the base classes in base2new)
 *     test_<name>/...  the same for every further evaluation of the run: test_new/ (base2new's new classes),
 *                      test_<dataset>/ (cross-dataset and domain-generalisation targets)
 *
 * The values are the ones metrics.csv and result.json hold (as 32-bit floats): after an epoch's last batch,
 * train/loss and train/acc are that epoch's row of metrics.csv; test/accuracy is result.json's accuracy.
 */
import * as path from 'node:path';
import type { BatchReport, TrainObserver } from '../train/observer.js';
import { EventFileWriter } from './writer.js';

/** The run folder's sub-folder of event files (Dassl: osp.join(output_dir, "tensorboard")). */
export const TENSORBOARD_DIR = 'tensorboard';

/** Dassl's global step of a batch: epoch and batch counted from 1 here, from 0 in Dassl. */
export function dasslStep(epoch: number, batch: number, batchesPerEpoch: number): number {
  return (epoch - 1) * batchesPerEpoch + (batch - 1);
}

/** The scalars Dassl writes after a batch, with their tags. */
export function trainScalars(r: BatchReport): Record<string, number> {
  const out: Record<string, number> = { 'train/loss': r.loss, 'train/acc': r.accuracy };
  for (const [name, v] of Object.entries(r.terms)) out[`train/${name}`] = v;
  out['train/lr'] = r.lr;
  return out;
}

/** Dassl's evaluator results under a split's prefix: accuracy, error rate and macro F1, in %. */
export function evaluationScalars(prefix: string, r: { accuracy: number; macroF1: number }): Record<string, number> {
  return { [`${prefix}/accuracy`]: r.accuracy, [`${prefix}/error_rate`]: 100 - r.accuracy, [`${prefix}/macro_f1`]: r.macroF1 };
}

/** The event file of one run (a new file per process, as Dassl's SummaryWriter), fed by the trainer. */
export class RunEvents implements TrainObserver {
  private readonly writer: EventFileWriter;

  constructor(runDir: string) {
    this.writer = new EventFileWriter(path.join(runDir, TENSORBOARD_DIR));
  }

  /** the event file, once something was written */
  get file(): string | null {
    return this.writer.file;
  }

  batch(r: BatchReport): void {
    this.writer.scalars(dasslStep(r.epoch, r.batch, r.batchesPerEpoch), trainScalars(r));
  }

  /** An evaluation after training: `test` for the run's own test set, `test_<name>` for the others. */
  evaluation(prefix: string, r: { accuracy: number; macroF1: number }, epochs: number): void {
    this.writer.scalars(Math.max(0, epochs - 1), evaluationScalars(prefix, r));
  }

  close(): void {
    this.writer.close();
  }
}
