/**
 * The head of a run's log.txt, as Dassl's logs start: the full configuration, the environment (tool and
 * libtorch versions, device, precision, threads, CPU, BLAS) and the dataset sizes, so a log read months later
 * (or from a SLURM job) says exactly what ran where. Training then appends its progress lines below.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LoadedDataset } from '../data/types.js';
import { envReport, formatEnv } from '../torch/environment.js';
import { percent, thousands } from '../util/format.js';

export interface RunLogHead {
  /** e.g. "base2new eurosat mpl seed 1" */
  title: string;
  /** what result.json records as `config` */
  config: Record<string, unknown>;
  /** where it runs, e.g. "cpu (AMD EPYC)" or "cuda:0 (NVIDIA H100 80GB HBM3)" */
  device: string;
  precision: string;
  /** the datasets loaded before training, each with a label (base, new, source) */
  data: Array<[label: string, data: LoadedDataset]>;
}

/** One line per loaded dataset: classes and split sizes, where the lists came from, the few-shot subset. */
export function describeData(label: string, d: LoadedDataset): string {
  const shots = d.fewshot ? `, ${d.fewshot.shots} shots per class (seed ${d.fewshot.seed})` : '';
  return `${label}: ${d.displayName} (${d.subsample} classes) ${d.classnames.length} classes, train ${d.train.length}, val ${d.val.length}, test ${d.test.length} images${shots}; lists from ${d.source}`;
}

export function runLogHead(head: RunLogHead): string {
  const env = envReport();
  return [
    `==== ${head.title} — started ${new Date().toISOString()}`,
    '---- configuration',
    JSON.stringify(head.config, null, 2),
    '---- environment',
    formatEnv(env),
    `device ${head.device}, precision ${head.precision}, ${env.threads} intra-op threads`,
    '---- data',
    ...head.data.map(([label, d]) => describeData(label, d)),
    '---- training',
    '',
  ].join('\n');
}

/** Appends the head to the log (a resumed run adds a second head below the first run's lines). */
export function writeRunLogHead(file: string, head: RunLogHead): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, runLogHead(head));
}

// ---------------------------------------------------------------------------------------------------------
// Dassl's result block. Users of the official code read log.txt with parse_test_res.py, which, in each
// seed<N>/log.txt, waits for the line `Finished training` (or, with --test-log, `=> result`) and then takes
// the last line matching `\* accuracy: ([\.\deE+-]+)%`; they also grep the logs for these lines. The block is
// the one Dassl's Classification evaluator prints (Dassl before 0.6.2, the version the MPL, MaPLe and CoOp
// code pins: two decimals). Our lines carry no timestamp: the parser compares `Finished training` whole.

/** What one evaluation counted: images, correct ones, and the confusion matrix (rows = true class). */
export interface EvalCounts {
  total: number;
  correct: number;
  confusion: number[][];
}

/**
 * sklearn's f1_score(y_true, y_pred, average="macro", labels=np.unique(y_true)), as Dassl computes macro_f1:
 * the mean over the classes that have test images of 2·P·R/(P+R) (0 where P+R = 0).
 */
export function macroF1(confusion: number[][]): number {
  const C = confusion.length;
  const f1s: number[] = [];
  for (let i = 0; i < C; i++) {
    const row = confusion[i].reduce((a, b) => a + b, 0);
    if (row === 0) continue; // not in y_true
    const tp = confusion[i][i];
    let col = 0;
    for (let k = 0; k < C; k++) col += confusion[k][i];
    const precision = col === 0 ? 0 : tp / col;
    const recall = tp / row;
    f1s.push(precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall));
  }
  return f1s.length ? (100 * f1s.reduce((a, b) => a + b, 0)) / f1s.length : 0;
}

/**
 * Dassl's `=> result` block for one evaluation. `keyword` '' gives Dassl's own lines (`* accuracy: 74.00%`,
 * what parse_test_res.py reads by default); another evaluation of the same run is written with its own
 * keyword (`* new_accuracy: 92.00%`, read with `--keyword new_accuracy`), so the default stays the first.
 */
export function dasslResultBlock(e: EvalCounts, keyword = '', heading = '=> result'): string[] {
  const k = keyword ? `${keyword}_` : '';
  const acc = e.total ? (100 * e.correct) / e.total : 0;
  return [
    heading,
    `* ${k}total: ${thousands(e.total)}`,
    `* ${k}correct: ${thousands(e.correct)}`,
    `* ${k}accuracy: ${percent(acc)}%`,
    `* ${k}error: ${percent(100 - acc)}%`,
    `* ${k}macro_f1: ${percent(macroF1(e.confusion))}%`,
  ];
}

/** Dassl's line after training and evaluation: `Elapsed: 0:12:34` (str(datetime.timedelta)). */
export function elapsedLine(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const days = Math.floor(s / 86400);
  const clock = `${Math.floor((s % 86400) / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  return `Elapsed: ${days ? `${days} day${days > 1 ? 's' : ''}, ` : ''}${clock}`;
}

/** Appends lines to a run's log.txt as they are (no timestamp: the official parser compares whole lines). */
export function appendRunLog(file: string, lines: string[]): void {
  fs.appendFileSync(file, lines.map((l) => `${l}\n`).join(''));
}
