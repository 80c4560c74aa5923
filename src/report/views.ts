import { UserError } from '../util/errors.js';
import type { Protocol } from '../eval/results.js';
import type { AccMethodReport, Report } from './collect.js';
import type { AccuracyProtocol } from './result-files.js';
import { sameDataset, sortDatasets } from './names.js';

/**
 * A report reduced to one number per method and dataset: what one paper table (rows = methods, columns =
 * datasets + Avg) and the grouped bar chart both show. Building it once keeps the Markdown tables and the
 * figures consistent with each other.
 */
export interface ViewCell {
  mean: number;
  /** population std over seeds */
  std: number;
  n_seeds: number;
}

export interface ViewRow {
  /** method key (`coop`, or `coop@4shot`) */
  key: string;
  /** one entry per column; null where the method has no result for that dataset */
  cells: Array<ViewCell | null>;
  /** the Avg column (base2new HM: HM of the averaged base and new); null when nothing to average */
  average: number | null;
  /** true when the row lacks some of the columns that enter the average: its Avg is not comparable */
  partial: boolean;
  /** evaluated on a strided subset of at most this many test images per split (null: the full test split) */
  subset?: number | null;
}

export interface MetricView {
  protocol: Protocol;
  /** base | new | hm (base2new), accuracy (xd, dg, fewshot, zeroshot) */
  metric: string;
  /** transfer tables (xd, dg): the training dataset; its column comes first and is left out of Avg */
  source?: string;
  columns: string[];
  rows: ViewRow[];
}

/** How the metrics are named in figure titles and axis labels. */
export const METRIC_LABELS: Record<string, string> = {
  base: 'base-class accuracy',
  new: 'new-class accuracy',
  hm: 'HM',
  source: 'source accuracy',
  targets: 'target accuracy',
  accuracy: 'accuracy',
};

export type B2NMetric = 'base' | 'new' | 'hm';
export const B2N_METRICS: readonly B2NMetric[] = ['base', 'new', 'hm'];
/** For the accuracy protocols: in-domain accuracy, or the mean over target datasets. */
export type AccMetric = 'source' | 'targets';

export function parseB2NMetric(value: string): B2NMetric {
  if (!B2N_METRICS.includes(value as B2NMetric)) {
    throw new UserError(`--metric: unknown metric '${value}' for base2new (base, new or hm)`);
  }
  return value as B2NMetric;
}

/** One base-to-new table: rows = methods, columns = datasets, Avg per the papers' rule. */
export function b2nView(report: Report, metric: B2NMetric): MetricView {
  const methods = report.base2new;
  if (!methods) throw new UserError('no base2new results');
  const columns = sortDatasets(new Set(Object.values(methods).flatMap((m) => Object.keys(m.datasets))));
  const rows = Object.values(methods).map((m): ViewRow => {
    const cells = columns.map((d) => {
      const c = m.datasets[d];
      return c ? { mean: c.mean[metric], std: c.std[metric], n_seeds: c.n_seeds } : null;
    });
    return { key: m.key, cells, average: m.average[metric], partial: cells.some((c) => c === null), subset: m.test_subset };
  });
  return { protocol: 'base2new', metric, columns, rows };
}

/**
 * True when runs of this protocol evaluate other datasets than their own (xd, dg): tables are then laid out
 * per source dataset like the paper's Table III; otherwise (few-shot, zero-shot) each run is one number on
 * its own dataset and the table is rows = methods, columns = datasets.
 */
export function isTransfer(methods: Record<string, AccMethodReport>): boolean {
  return Object.values(methods).some((m) =>
    Object.values(m.datasets).some((c) => Object.keys(c.mean).some((t) => t !== c.source)),
  );
}

/** Transfer tables (one per source dataset): columns = source, then targets; Avg over targets only. */
export function transferViews(report: Report, protocol: AccuracyProtocol): MetricView[] {
  const methods = report.accuracy[protocol];
  if (!methods) throw new UserError(`no ${protocol} results`);
  const sources = sortDatasets(new Set(Object.values(methods).flatMap((m) => Object.keys(m.datasets))));
  return sources.map((source) => {
    const withSource = Object.values(methods).filter((m) => m.datasets[source]);
    const evaluated = new Set(withSource.flatMap((m) => Object.keys(m.datasets[source].mean)));
    const srcCol = [...evaluated].find((t) => sameDataset(t, source));
    const targets = sortDatasets([...evaluated].filter((t) => t !== srcCol));
    const columns = srcCol ? [srcCol, ...targets] : targets;
    const rows = withSource.map((m): ViewRow => {
      const c = m.datasets[source];
      const cells = columns.map((t) =>
        t in c.mean ? { mean: c.mean[t], std: c.std[t], n_seeds: c.n[t] } : null,
      );
      return {
        key: m.key,
        cells,
        average: c.target_average,
        partial: targets.some((t) => !(t in c.mean)),
        subset: m.test_subset,
      };
    });
    return { protocol, metric: 'accuracy', source, columns, rows };
  });
}

/** In-domain table (few-shot, zero-shot): rows = methods, columns = datasets, Avg = mean of the row. */
export function inDomainView(report: Report, protocol: AccuracyProtocol): MetricView {
  const methods = report.accuracy[protocol];
  if (!methods) throw new UserError(`no ${protocol} results`);
  const columns = sortDatasets(new Set(Object.values(methods).flatMap((m) => Object.keys(m.datasets))));
  const rows = Object.values(methods).map((m): ViewRow => {
    const cells = columns.map((d) => {
      const c = m.datasets[d];
      return c && c.source !== null
        ? { mean: c.mean[c.source], std: c.std[c.source], n_seeds: c.n[c.source] }
        : null;
    });
    return { key: m.key, cells, average: m.average.source, partial: cells.some((c) => c === null), subset: m.test_subset };
  });
  return { protocol, metric: 'accuracy', columns, rows };
}

/** Every table of an accuracy protocol, in the layout that fits it. */
export function accuracyViews(report: Report, protocol: AccuracyProtocol): MetricView[] {
  const methods = report.accuracy[protocol];
  if (!methods) throw new UserError(`no ${protocol} results`);
  return isTransfer(methods) ? transferViews(report, protocol) : [inDomainView(report, protocol)];
}

/** One point of the accuracy-vs-training-time figure. */
export interface TimePoint {
  key: string;
  /** mean over datasets of the mean training seconds */
  train_seconds: number;
  accuracy: number;
  n_datasets: number;
}

/**
 * The points of the paper's Figure 2 (average accuracy against average training time per method).
 * base2new: the Average column of `metric` (HM by default). Accuracy protocols: `targets` (mean over target
 * datasets; the default for xd and dg) or `source` (in-domain accuracy; the default for few-shot, zero-shot).
 */
export function timePoints(report: Report, protocol: Protocol, metric?: string): { metric: string; points: TimePoint[] } {
  if (protocol === 'base2new') {
    const m = parseB2NMetric(metric ?? 'hm');
    const methods = report.base2new;
    if (!methods) throw new UserError('no base2new results');
    return {
      metric: m,
      points: Object.values(methods).map((r) => ({
        key: r.key,
        train_seconds: r.average.train_seconds,
        accuracy: r.average[m],
        n_datasets: r.average.n_datasets,
      })),
    };
  }
  const methods = report.accuracy[protocol];
  if (!methods) throw new UserError(`no ${protocol} results`);
  const m = (metric ?? (isTransfer(methods) ? 'targets' : 'source')) as AccMetric;
  if (m !== 'source' && m !== 'targets') {
    throw new UserError(`--metric: unknown metric '${metric}' for ${protocol} (source or targets)`);
  }
  const points: TimePoint[] = [];
  for (const r of Object.values(methods)) {
    const acc = r.average[m];
    if (acc !== null) {
      points.push({ key: r.key, train_seconds: r.average.train_seconds, accuracy: acc, n_datasets: r.average.n_datasets });
    }
  }
  if (points.length === 0) throw new UserError(`no ${protocol} result has ${m} accuracy to plot`);
  return { metric: m, points };
}
