import { UserError } from '../util/errors.js';
import { percent } from '../util/format.js';
import type { Protocol } from '../eval/results.js';
import { HM_RULE, populationStd, reportProtocols, reportToJson, type Report } from './collect.js';
import { PROTOCOLS, type AccuracyProtocol } from './result-files.js';
import { datasetDisplayName, methodDisplayName } from './names.js';
import { accuracyViews, b2nView, B2N_METRICS, type B2NMetric, type MetricView, type ViewCell } from './views.js';

/**
 * The renderings of a report that `mpl table` prints: Markdown (paper-style, two decimals), LaTeX (the same
 * tables for a paper, booktabs), CSV (one row per number, full precision) and JSON (reportToJson, full
 * precision).
 */
export type TableFormat = 'md' | 'latex' | 'csv' | 'json';
export const TABLE_FORMATS: readonly TableFormat[] = ['md', 'latex', 'csv', 'json'];

export const PROTOCOL_TITLES: Record<Protocol, string> = {
  base2new: 'Base-to-new generalisation',
  xd: 'Cross-dataset transfer',
  dg: 'Domain generalisation',
  fewshot: 'Few-shot learning',
  zeroshot: 'Zero-shot CLIP',
};

const METRIC_TITLES: Record<B2NMetric, string> = { base: 'Base', new: 'New', hm: 'HM' };

export interface MarkdownOptions {
  /** base2new: one table for this metric only (default: Base, New and HM tables) */
  metric?: B2NMetric;
  /** base2new: one MaPLe-style table instead, rows = datasets + Average, cells "B / N / HM" */
  combined?: boolean;
  /** ± the 95% confidence interval of the mean (1.96·std/√n, as parse_test_res.py --ci95) instead of ± std */
  ci95?: boolean;
}

/** Every figure of a table: the one formatter (src/util/format.ts), two decimals rounded as Python does. */
const fmt2 = percent;

/** The ± of a cell: the population std over seeds, or the 95% confidence interval of the mean. */
export function spread(c: ViewCell, ci95 = false): number {
  return ci95 ? (1.96 * c.std) / Math.sqrt(c.n_seeds) : c.std;
}

/** "82.28 ± 0.31" with more than one seed (the papers' convention), "82.28" with one. */
function fmtCell(c: ViewCell | null | undefined, sep = ' ± ', ci95 = false): string {
  if (!c) return '–';
  return c.n_seeds > 1 ? `${fmt2(c.mean)}${sep}${fmt2(spread(c, ci95))}` : fmt2(c.mean);
}

/** The mark after the name of a row evaluated on a test subset, and the note that explains it. */
export const SUBSET_MARK = '†';
export function subsetNote(sizes: Array<number | null | undefined>): string | undefined {
  const ns = [...new Set(sizes.filter((n): n is number => typeof n === 'number'))].sort((a, b) => a - b);
  if (ns.length === 0) return undefined;
  return `${SUBSET_MARK} evaluated on an evenly strided subset of at most ${ns.join(' or ')} test images of a larger test split, not the full split: not comparable with full-test numbers.`;
}

/** A row's name as tables show it: the method (and its differing settings), marked when the test was a subset. */
export function rowName(row: { key: string; subset?: number | null }): string {
  return `${methodDisplayName(row.key)}${typeof row.subset === 'number' ? ` ${SUBSET_MARK}` : ''}`;
}

/** Markdown table text: pipes in names would break the table, so they are escaped. */
const mdText = (s: string): string => s.replace(/\|/g, '\\|');

function seedNote(counts: number[], ci95 = false): string {
  const lo = Math.min(...counts);
  const hi = Math.max(...counts);
  if (hi <= 1) return 'one seed';
  const n = lo === hi ? `${hi}` : `${lo}–${hi}`;
  return ci95 ? `mean ± 95% confidence interval (1.96·std/√n) over ${n} seeds` : `mean ± population std over ${n} seeds`;
}

/** The column holding each column's best mean (bold in the tables); NaN where nothing is compared. */
function bestOfColumns(view: MetricView): { colBest: number[]; avgBest: number } {
  const best = (values: Array<number | null>): number => {
    const xs = values.filter((x): x is number => x !== null);
    return view.rows.length > 1 && xs.length > 1 ? Math.max(...xs) : NaN;
  };
  return {
    colBest: view.columns.map((_, j) => best(view.rows.map((r) => r.cells[j]?.mean ?? null))),
    avgBest: best(view.rows.map((r) => (r.partial ? null : r.average))),
  };
}

/** One paper table: rows = methods, columns = datasets + Avg; the best mean of each column in bold. */
function viewTable(view: MetricView, ci95 = false): string {
  const header = ['Method', ...view.columns.map((c) => (c === view.source ? `${datasetDisplayName(c)} (source)` : datasetDisplayName(c))), 'Avg'];
  const align = ['---', ...view.columns.map(() => '---:'), '---:'];
  const { colBest, avgBest } = bestOfColumns(view);
  const lines = [`| ${header.map(mdText).join(' | ')} |`, `|${align.join('|')}|`];
  for (const row of view.rows) {
    const cells = row.cells.map((c, j) => {
      const s = fmtCell(c, ' ± ', ci95);
      return c && c.mean === colBest[j] ? `**${s}**` : s;
    });
    let avg = row.average === null ? '–' : fmt2(row.average);
    if (row.average !== null && !row.partial && row.average === avgBest) avg = `**${avg}**`;
    if (row.partial && row.average !== null) avg += '\\*';
    lines.push(`| ${[mdText(rowName(row)), ...cells, avg].join(' | ')} |`);
  }
  const notes: string[] = [];
  if (view.rows.some((r) => r.partial)) {
    notes.push('\\* averaged over the datasets this method has results for: not comparable with the other rows.');
  }
  const subset = subsetNote(view.rows.map((r) => r.subset));
  if (subset) notes.push(subset);
  return lines.join('\n') + (notes.length ? '\n\n' + notes.join('\n') : '');
}

function b2nCombined(report: Report, ci95 = false): string {
  const methods = Object.values(report.base2new!);
  const views = Object.fromEntries(B2N_METRICS.map((m) => [m, b2nView(report, m)])) as Record<B2NMetric, MetricView>;
  const columns = views.hm.columns;
  const lines = [
    `| ${['Dataset', ...methods.map((m) => mdText(rowName({ key: m.key, subset: m.test_subset })))].join(' | ')} |`,
    `|${['---', ...methods.map(() => '---:')].join('|')}|`,
  ];
  columns.forEach((d, j) => {
    const cells = methods.map((_, i) => {
      const parts = B2N_METRICS.map((m) => views[m].rows[i].cells[j]);
      return parts[0] ? parts.map((c) => fmtCell(c, '±', ci95)).join(' / ') : '–';
    });
    lines.push(`| ${[mdText(datasetDisplayName(d)), ...cells].join(' | ')} |`);
  });
  const avg = methods.map((m) => {
    const s = [m.average.base, m.average.new, m.average.hm].map(fmt2).join(' / ');
    return m.average.n_datasets < columns.length ? `${s}\\*` : s;
  });
  lines.push(`| ${['**Average**', ...avg].join(' | ')} |`);
  if (methods.some((m) => m.average.n_datasets < columns.length)) {
    lines.push('', '\\* averaged over the datasets this method has results for: not comparable with the other columns.');
  }
  const subset = subsetNote(methods.map((m) => m.test_subset));
  if (subset) lines.push('', subset);
  return lines.join('\n');
}

/**
 * Where each row's runs are: `MPL = shots_16/mpl/vit_b16_c1_add2_rm1_d9_ep5-*` below `<out>/<protocol>/<dataset>/`
 * (the folder's tag and a hash per dataset). Row names say what the settings are; folder tags are frozen
 * words for people and can carry words a run did not use (an MPL schedule run's add2_rm1).
 */
export function configLegend(methods: Array<{ key: string; tag: string; test_subset?: number | null }>): string {
  return `Run folders (below <out>/<protocol>/<dataset>/): ${methods.map((m) => `${mdText(rowName({ key: m.key, subset: m.test_subset }))} = \`${m.tag}-*\``).join('; ')}.`;
}

/** One table of a report: its heading, the view it shows, and a note printed under it. */
export interface TableSection {
  protocol: Protocol;
  title: string;
  view: MetricView;
  note?: string;
  /** on a protocol's last table: which configuration each row is (`MPL = shots_16/mpl/...`) */
  legend?: string;
}

/** The base-to-new note: the one HM rule, and (with several seeds) what the ± beside an HM is. */
function b2nRule(counts: number[]): string {
  const spreadNote = Math.max(...counts) > 1 ? '; the ± beside an HM is the population std of the per-seed HMs' : '';
  return `${HM_RULE}: per dataset of its seed means, for Avg of the averaged base and new (spec §2.5)${spreadNote}.`;
}

/** Every table of the report in order (the Markdown and LaTeX renderings share them). */
export function tableSections(report: Report, options: MarkdownOptions = {}): TableSection[] {
  const out: TableSection[] = [];
  for (const protocol of reportProtocols(report)) {
    if (protocol === 'base2new') {
      const methods = Object.values(report.base2new!);
      const note = seedNote(methods.flatMap((m) => Object.values(m.datasets).map((c) => c.n_seeds)), options.ci95);
      const metrics = options.metric ? [options.metric] : B2N_METRICS;
      metrics.forEach((m, i) =>
        out.push({
          protocol,
          title: `${PROTOCOL_TITLES.base2new}: ${METRIC_TITLES[m]} (%), ${note}`,
          view: b2nView(report, m),
          note: i === metrics.length - 1 ? b2nRule(methods.flatMap((m) => Object.values(m.datasets).map((c) => c.n_seeds))) : undefined,
          legend: i === metrics.length - 1 ? configLegend(methods) : undefined,
        }),
      );
    } else {
      const methods = Object.values(report.accuracy[protocol]!);
      const note = seedNote(methods.flatMap((m) => Object.values(m.datasets).map((c) => c.n_seeds)), options.ci95);
      for (const view of accuracyViews(report, protocol)) {
        const where = view.source ? ` trained on ${datasetDisplayName(view.source)},` : '';
        out.push({
          protocol,
          title: `${PROTOCOL_TITLES[protocol]}:${where} accuracy (%), ${note}`,
          view,
          note: view.source ? 'Avg is the mean over the target datasets, the source excluded.' : undefined,
        });
      }
      out[out.length - 1].legend = configLegend(methods);
    }
  }
  return out;
}

/** The Markdown report: one section per protocol present, paper-style tables. */
export function formatMarkdown(report: Report, options: MarkdownOptions = {}): string {
  const out: string[] = ['# Results', ''];
  out.push(`${report.n_results} result file${report.n_results === 1 ? '' : 's'}` +
    (report.sources.length ? ` under ${report.sources.map((s) => `\`${s}\``).join(', ')}` : '') + '.');
  const sections = tableSections(report, options);
  if (options.combined && report.base2new) {
    const methods = Object.values(report.base2new);
    const counts = methods.flatMap((m) => Object.values(m.datasets).map((c) => c.n_seeds));
    out.push('', `## ${PROTOCOL_TITLES.base2new}: Base / New / HM (%), ${seedNote(counts, options.ci95)}`, '', b2nCombined(report, options.ci95), '', b2nRule(counts), '', configLegend(methods));
  }
  for (const s of sections) {
    if (options.combined && s.protocol === 'base2new') continue;
    out.push('', `## ${s.title}`, '', viewTable(s.view, options.ci95));
    if (s.note) out.push('', s.note);
    if (s.legend) out.push('', s.legend);
  }
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------------------
// LaTeX

/** Escapes LaTeX's special characters in names from result files. */
export function latexText(s: string): string {
  return s.replace(/[\\{}$&#^_%~]/g, (c) => ({ '\\': '\\textbackslash{}', '~': '\\textasciitilde{}', '^': '\\textasciicircum{}' })[c] ?? `\\${c}`);
}

/**
 * The same tables as LaTeX (booktabs: \\toprule, \\midrule, \\bottomrule), one `table` environment each, the
 * best mean of each column in \\textbf, "mean$\\pm$spread" cells: paste into a paper with \\usepackage{booktabs}.
 */
export function formatLatex(report: Report, options: MarkdownOptions = {}): string {
  if (options.combined) throw new UserError('--combined is a Markdown layout; LaTeX tables come one per metric (use --metric)');
  const out: string[] = [`% ${report.n_results} result files; generated by mpl table --format latex. Needs \\usepackage{booktabs}.`];
  for (const s of tableSections(report, options)) {
    const v = s.view;
    const { colBest, avgBest } = bestOfColumns(v);
    const header = ['Method', ...v.columns.map((c) => (c === v.source ? `${datasetDisplayName(c)} (source)` : datasetDisplayName(c))), 'Avg'];
    const cell = (c: ViewCell | null, best: number): string => {
      if (!c) return '--';
      const text = c.n_seeds > 1 ? `${fmt2(c.mean)}$\\pm$${fmt2(spread(c, options.ci95))}` : fmt2(c.mean);
      return c.mean === best ? `\\textbf{${text}}` : text;
    };
    out.push(
      '',
      '\\begin{table}[t]',
      '\\centering',
      `\\caption{${latexText(s.title)}}`,
      `\\begin{tabular}{l${'r'.repeat(v.columns.length + 1)}}`,
      '\\toprule',
      `${header.map(latexText).join(' & ')} \\\\`,
      '\\midrule',
    );
    for (const row of v.rows) {
      let avg = row.average === null ? '--' : fmt2(row.average);
      if (row.average !== null && !row.partial && row.average === avgBest) avg = `\\textbf{${avg}}`;
      if (row.partial && row.average !== null) avg += '$^*$';
      const name = latexText(methodDisplayName(row.key)) + (typeof row.subset === 'number' ? '$^\\dagger$' : '');
      out.push(`${[name, ...row.cells.map((c, j) => cell(c, colBest[j])), avg].join(' & ')} \\\\`);
    }
    out.push('\\bottomrule', '\\end{tabular}');
    const subset = subsetNote(v.rows.map((r) => r.subset))?.replace(SUBSET_MARK, '$^\\dagger$');
    const notes = [s.note, v.rows.some((r) => r.partial) ? '$^*$ averaged over the datasets this method has results for.' : undefined, subset, s.legend?.replace(/[`\\]/g, '')].filter(Boolean);
    if (notes.length) out.push(`\\\\[2pt]{\\footnotesize ${notes.map((n) => (n!.includes('$') ? n : latexText(n!))).join(' ')}}`);
    out.push('\\end{table}');
  }
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------------------
// CSV

export const CSV_HEADER = ['protocol', 'method', 'dataset', 'target', 'metric', 'row', 'seed', 'value', 'std', 'n_seeds'];

/** RFC 4180 quoting: fields with a comma, quote or line break are quoted, quotes doubled. */
export function csvField(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'number' ? String(v) : v;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * One row per number, full precision (see docs/reports.md for the columns):
 *  row=mean    the aggregate over seeds of one method × dataset (× target) × metric, with std and n_seeds;
 *  row=seed    one seed's value;
 *  row=average the averages over datasets (dataset "average"), and for xd/dg the mean over targets of one
 *              source (target "average").
 * metric is base, new, hm (base2new), accuracy (the others) or train_seconds.
 */
export function formatCsv(report: Report): string {
  const rows: Array<Array<string | number | null>> = [CSV_HEADER];
  const stat = (p: string, m: string, d: string, t: string, metric: string, seeds: Array<[number, number]>, mu: number, sd: number) => {
    rows.push([p, m, d, t, metric, 'mean', null, mu, sd, seeds.length]);
    for (const [seed, v] of seeds) rows.push([p, m, d, t, metric, 'seed', seed, v, null, 1]);
  };
  if (report.base2new) {
    for (const [key, mr] of Object.entries(report.base2new)) {
      for (const [d, c] of Object.entries(mr.datasets)) {
        for (const metric of B2N_METRICS) {
          stat('base2new', key, d, '', metric, c.seeds.map((s) => [s.seed, s[metric]]), c.mean[metric], c.std[metric]);
        }
        const ts = c.seeds.map((s): [number, number] => [s.seed, s.train_seconds]);
        stat('base2new', key, d, '', 'train_seconds', ts, c.train_seconds, populationStd(ts.map(([, v]) => v)));
      }
      for (const metric of [...B2N_METRICS, 'train_seconds'] as const) {
        rows.push(['base2new', key, 'average', '', metric, 'average', null, mr.average[metric], null, null]);
      }
    }
  }
  for (const p of PROTOCOLS) {
    if (p === 'base2new') continue;
    const methods = report.accuracy[p as AccuracyProtocol];
    if (!methods) continue;
    for (const [key, mr] of Object.entries(methods)) {
      for (const [d, c] of Object.entries(mr.datasets)) {
        for (const t of Object.keys(c.mean)) {
          const seeds = c.seeds.filter((s) => t in s.accuracy).map((s): [number, number] => [s.seed, s.accuracy[t]]);
          stat(p, key, d, t, 'accuracy', seeds, c.mean[t], c.std[t]);
        }
        if (c.target_average !== null) rows.push([p, key, d, 'average', 'accuracy', 'average', null, c.target_average, null, null]);
        const ts = c.seeds.map((s): [number, number] => [s.seed, s.train_seconds]);
        stat(p, key, d, '', 'train_seconds', ts, c.train_seconds, populationStd(ts.map(([, v]) => v)));
      }
      if (mr.average.source !== null) rows.push([p, key, 'average', 'source', 'accuracy', 'average', null, mr.average.source, null, null]);
      if (mr.average.targets !== null) rows.push([p, key, 'average', 'targets', 'accuracy', 'average', null, mr.average.targets, null, null]);
      rows.push([p, key, 'average', '', 'train_seconds', 'average', null, mr.average.train_seconds, null, null]);
    }
  }
  return rows.map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}

export function formatJson(report: Report): string {
  return JSON.stringify(reportToJson(report), null, 2) + '\n';
}

export function formatReport(report: Report, format: TableFormat, options: MarkdownOptions = {}): string {
  switch (format) {
    case 'md':
      return formatMarkdown(report, options);
    case 'latex':
      return formatLatex(report, options);
    case 'csv':
      return formatCsv(report);
    case 'json':
      return formatJson(report);
    default:
      throw new UserError(`unknown table format '${String(format)}' (md, latex, csv or json)`);
  }
}
