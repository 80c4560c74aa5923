/**
 * The head of a run's log.txt, as Dassl's logs start: the full configuration, the environment (tool and
 * libtorch versions, device, precision, threads, CPU, BLAS) and the dataset sizes, so a log read months later
 * (or from a SLURM job) says exactly what ran where. Training then appends its progress lines below.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LoadedDataset } from '../data/types.js';
import { envReport, formatEnv } from '../torch/environment.js';

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
