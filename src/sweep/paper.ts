/**
 * The MPL paper's own numbers (arXiv 2502.14125, Tables II and III as printed; spec/mpl-spec.md §5.1) and
 * the comparison `mpl reproduce` writes: our mean over seeds beside the paper's number, with the
 * difference, for every cell that has all its runs finished. The paper reports nothing for base-class
 * accuracy, HM, domain generalisation or few-shot: those tables show our numbers only (`mpl table`).
 */
import type { LoadedResult } from '../report/result-files.js';
import { aggregate } from '../report/collect.js';
import { formatMarkdown } from '../report/format.js';
import { datasetDisplayName, methodDisplayName } from '../report/names.js';
import type { Protocol } from '../eval/results.js';
import { PAPER_DATASETS, PAPER_METHODS, type PresetName } from './presets.js';

type Row = Record<string, number>;

/** Paper Table II: base-to-new, accuracy on the NEW classes (ViT-B/16, 16 shots). */
export const PAPER_TABLE2_NEW: Record<string, Row> = {
  coop: { caltech101: 89.98, dtd: 42.65, eurosat: 48.73, fgvc_aircraft: 22.37, food101: 83.82, oxford_flowers: 58.27, oxford_pets: 92.45, stanford_cars: 55.28, sun397: 62.44, ucf101: 54.12, imagenet: 59.72, average: 60.89 },
  cocoop: { caltech101: 93.53, dtd: 53.93, eurosat: 63.27, fgvc_aircraft: 33.38, food101: 91.4, oxford_flowers: 71.65, oxford_pets: 97.78, stanford_cars: 73.35, sun397: 76.63, ucf101: 73.27, imagenet: 70.43, average: 72.6 },
  maple: { caltech101: 94.08, dtd: 59.72, eurosat: 71.98, fgvc_aircraft: 30.88, food101: 91.72, oxford_flowers: 73.52, oxford_pets: 97.65, stanford_cars: 73.65, sun397: 78.38, ucf101: 77.92, imagenet: 70.77, average: 74.57 },
  promptsrc: { caltech101: 93.92, dtd: 61.82, eurosat: 72.05, fgvc_aircraft: 29.03, food101: 91.52, oxford_flowers: 76.57, oxford_pets: 97.28, stanford_cars: 75.03, sun397: 78.48, ucf101: 78.28, imagenet: 70.45, average: 74.95 },
  mpl: { caltech101: 94.2, dtd: 58.13, eurosat: 79.73, fgvc_aircraft: 34.8, food101: 91.7, oxford_flowers: 74.1, oxford_pets: 97.77, stanford_cars: 73.72, sun397: 78.52, ucf101: 78.35, imagenet: 70.92, average: 75.63 },
};

/** Paper Table III: cross-dataset transfer from ImageNet, accuracy on each target. */
export const PAPER_TABLE3: Record<string, Row> = {
  coop: { caltech101: 89.47, dtd: 37.0, eurosat: 41.07, fgvc_aircraft: 14.08, food101: 80.97, oxford_flowers: 58.6, oxford_pets: 85.87, stanford_cars: 59.33, sun397: 57.93, ucf101: 60.0, average: 58.43 },
  cocoop: { caltech101: 94.03, dtd: 45.42, eurosat: 44.7, fgvc_aircraft: 22.97, food101: 86.13, oxford_flowers: 71.93, oxford_pets: 90.7, stanford_cars: 65.57, sun397: 64.93, ucf101: 67.57, average: 65.4 },
  maple: { caltech101: 93.5, dtd: 44.93, eurosat: 44.8, fgvc_aircraft: 23.74, food101: 85.7, oxford_flowers: 71.63, oxford_pets: 90.24, stanford_cars: 64.9, sun397: 67.17, ucf101: 68.27, average: 65.49 },
  promptsrc: { caltech101: 93.66, dtd: 46.17, eurosat: 46.4, fgvc_aircraft: 24.5, food101: 86.23, oxford_flowers: 70.5, oxford_pets: 90.2, stanford_cars: 65.37, sun397: 67.5, ucf101: 68.83, average: 65.94 },
  mpl: { caltech101: 94.1, dtd: 45.47, eurosat: 49.0, fgvc_aircraft: 23.43, food101: 86.2, oxford_flowers: 72.2, oxford_pets: 90.33, stanford_cars: 65.93, sun397: 67.43, ucf101: 68.4, average: 66.25 },
};

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Our number per method and column, from the finished runs of the preset: a cell needs every planned seed.
 * `value` picks the number of one run (e.g. its new-class accuracy, or its accuracy on one target).
 */
function ourCells(results: LoadedResult[], expectedSeeds: Map<string, number>, protocol: Protocol, columns: string[], value: (r: LoadedResult, column: string) => number | undefined): Map<string, Row> {
  const out = new Map<string, Row>();
  for (const method of PAPER_METHODS) {
    const row: Row = {};
    for (const col of columns) {
      const runs = results.filter((r) => r.result.protocol === protocol && r.result.method === method);
      const xs = runs.map((r) => value(r, col)).filter((x): x is number => typeof x === 'number');
      const want = expectedSeeds.get(`${protocol}|${method}|${col}`) ?? expectedSeeds.get(`${protocol}|${method}|*`);
      if (want && xs.length === want) row[col] = mean(xs);
    }
    out.set(method, row);
  }
  return out;
}

function comparisonTable(title: string, ours: Map<string, Row>, paper: Record<string, Row>, columns: string[], methods: string[]): string {
  const lines = [
    `## ${title}`,
    '',
    'Each cell: ours (mean over seeds) / the paper, and ours − paper. `–`: runs not finished (or not planned).' +
      (columns.length < Object.keys(Object.values(paper)[0]).length - 1 ? ' Avg: over these columns only (the paper\'s cells averaged alike).' : ''),
    '',
    `| Method | ${[...columns.map(datasetDisplayName), 'Avg'].join(' | ')} |`,
    `|---|${[...columns, 'avg'].map(() => '---:').join('|')}|`,
  ];
  for (const m of methods) {
    const row = ours.get(m) ?? {};
    const complete = columns.every((c) => c in row);
    // the paper's Avg is over all its columns; over a subset, the mean of the paper's cells in it
    const full = Object.keys(paper[m] ?? {}).filter((k) => k !== 'average').every((k) => columns.includes(k));
    const paperAvg = full ? paper[m]?.average : paper[m] ? mean(columns.map((k) => paper[m][k])) : undefined;
    const cells = [...columns, 'average'].map((c) => {
      const x = c === 'average' ? (complete ? mean(columns.map((k) => row[k])) : undefined) : row[c];
      const p = c === 'average' ? paperAvg : paper[m]?.[c];
      if (x === undefined) return p === undefined ? '–' : `– / ${p.toFixed(2)}`;
      if (p === undefined) return x.toFixed(2);
      const d = x - p;
      return `${x.toFixed(2)} / ${p.toFixed(2)} (${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(2)})`;
    });
    lines.push(`| ${methodDisplayName(m)} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/**
 * The reproduction report of a preset: the paper-style comparison where the paper has numbers, then every
 * table of the finished runs (as `mpl table` prints them). `planned` counts the seeds planned per cell.
 */
export function reproductionReport(
  preset: PresetName,
  results: LoadedResult[],
  planned: Array<{ protocol: Protocol; method: string; dataset: string }>,
  progress: { done: number; total: number },
): string {
  const expected = new Map<string, number>();
  for (const p of planned) {
    const k = p.protocol === 'base2new' ? `${p.protocol}|${p.method}|${p.dataset}` : `${p.protocol}|${p.method}|*`;
    expected.set(k, (expected.get(k) ?? 0) + 1);
  }
  const methods = PAPER_METHODS.filter((m) => planned.some((p) => p.method === m));
  const parts = [`# Reproducing MPL (arXiv 2502.14125): ${preset}`, '', `${progress.done} of ${progress.total} runs finished.`];
  if (preset === 'table2') {
    const columns = PAPER_DATASETS.filter((d) => planned.some((p) => p.dataset === d));
    const ours = ourCells(results, expected, 'base2new', columns, (r, col) => (r.result.dataset === col ? r.result.new : undefined));
    parts.push('', comparisonTable('Table II: base-to-new, accuracy on new classes (%)', ours, PAPER_TABLE2_NEW, columns, methods));
  } else if (preset === 'table3') {
    const columns = PAPER_DATASETS.filter((d) => d !== 'imagenet');
    const ours = ourCells(results, expected, 'xd', columns, (r, col) => r.result.accuracy?.[col]);
    parts.push('', comparisonTable('Table III: cross-dataset transfer from ImageNet, accuracy (%)', ours, PAPER_TABLE3, columns, methods));
  }
  if (results.length) parts.push('', formatMarkdown(aggregate(results)).replace(/^# Results\n/, '## All finished runs\n'));
  return parts.join('\n') + '\n';
}
