import * as path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { collect, parseProtocol } from '../../report/collect.js';
import { formatReport, TABLE_FORMATS, type TableFormat } from '../../report/format.js';
import { parseB2NMetric } from '../../report/views.js';

interface TableOptions {
  format?: string;
  json?: boolean;
  out?: string;
  protocol?: string;
  metric?: string;
  combined?: boolean;
  ci95?: boolean;
}

const EXTENSIONS: Record<string, TableFormat> = { '.md': 'md', '.markdown': 'md', '.tex': 'latex', '.csv': 'csv', '.json': 'json' };

/** The output format: --json, else --format, else the --out file's extension, else Markdown. */
function resolveFormat(opts: TableOptions): TableFormat {
  if (opts.format !== undefined && !TABLE_FORMATS.includes(opts.format as TableFormat)) {
    throw new UserError(`--format: unknown format '${opts.format}' (md, latex, csv or json)`);
  }
  if (opts.json) {
    if (opts.format !== undefined && opts.format !== 'json') throw new UserError(`--json contradicts --format ${opts.format}`);
    return 'json';
  }
  if (opts.format !== undefined) return opts.format as TableFormat;
  if (opts.out) {
    const ext = path.extname(opts.out).toLowerCase();
    const f = EXTENSIONS[ext];
    if (!f) throw new UserError(`--out ${opts.out}: cannot tell the format from '${ext || 'no extension'}'; give --format md, latex, csv or json`);
    return f;
  }
  return 'md';
}

/** `mpl table <dirs...>`: paper-style tables of every result.json under the folders. */
export function register(program: Command): void {
  program
    .command('table')
    .description('aggregate result.json files over seeds into paper-style tables (Markdown, LaTeX, CSV or JSON)')
    .argument('<dirs...>', 'folders searched recursively for result.json (or result files themselves)')
    .option('--format <format>', 'md (default), latex (booktabs), csv or json')
    .option('--json', 'print one JSON object (same as --format json)')
    .option('--out <file>', 'write to this file (atomically) instead of stdout; the format follows its extension')
    .option('--protocol <protocol>', 'only this protocol: base2new, xd, dg, fewshot or zeroshot')
    .option('--metric <metric>', 'base2new Markdown: only the base, new or hm table (default: all three)')
    .option('--combined', 'base2new Markdown: one "Base / New / HM" table, rows = datasets (MaPLe style)')
    .option('--ci95', 'Markdown/LaTeX cells: mean ± 95% confidence interval (1.96·std/√n, as parse_test_res.py --ci95) instead of ± std')
    .addHelpText(
      'after',
      `
Aggregation (spec §2.5): mean over seeds ± population std; HM per dataset = HM of the seed-mean base and
new; Avg = mean of the dataset means, its HM = HM of the averaged base and new. See docs/reports.md.

Examples:
  mpl table runs/                          Markdown: Base, New and HM tables, one row per method
  mpl table runs/ --metric hm              only the HM table (the paper's Table II layout)
  mpl table runs/ --combined               one table, rows = datasets, cells "B / N / HM"
  mpl table runs/ --protocol xd            cross-dataset table (Table III): source, targets, Avg over targets
  mpl table runs/ --format latex --ci95     LaTeX (booktabs) tables, ± 95% confidence intervals
  mpl table runs/ --json                   {"base2new": {"<method>": {"<dataset>": {"seeds", "mean", "std"}, "average"}}}
  mpl table runs/ machine2/ --out results.csv   merge two result folders, one CSV row per number`,
    )
    .action((dirs: string[], opts: TableOptions) => {
      const format = resolveFormat(opts);
      const metric = opts.metric === undefined ? undefined : parseB2NMetric(opts.metric);
      if (metric && opts.combined) throw new UserError('--metric and --combined do not go together');
      const protocol = opts.protocol === undefined ? undefined : parseProtocol(opts.protocol);
      const report = collect(dirs, { protocol });
      if (opts.ci95 && (format === 'csv' || format === 'json')) throw new UserError(`--ci95 applies to the md and latex tables (${format} has the std and the seed count)`);
      const text = formatReport(report, format, { metric, combined: opts.combined, ci95: opts.ci95 });
      if (opts.out) {
        writeFileAtomic(opts.out, text);
        process.stderr.write(`wrote ${opts.out}\n`);
      } else {
        process.stdout.write(text);
      }
    });
}
