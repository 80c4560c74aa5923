import * as path from 'node:path';
import type { Command } from 'commander';
import { writeHtmlReport } from '../../report/html.js';

/** `mpl report OUT`: a static, self-contained HTML site over the results under OUT. */
export function register(program: Command): void {
  program
    .command('report')
    .description('write a static HTML report: paper-style tables, figures, and a page per run (configuration, training curves, layout, per-class accuracy)')
    .argument('<dirs...>', 'result folders (searched recursively for result.json); the report goes to <first>/report/')
    .option('--out <dir>', 'the report folder (default: <first folder>/report)')
    .addHelpText(
      'after',
      `
Example:
  mpl report runs/          writes runs/report/index.html and runs/report/runs/*.html; open index.html in a browser
Everything is inline (SVG figures as data URIs, the style sheet): the folder works from disk, needs no server,
and fetches nothing.`,
    )
    .action((dirs: string[], opts: { out?: string }) => {
      const out = opts.out ?? path.join(dirs[0], 'report');
      const written = writeHtmlReport(dirs, out);
      process.stdout.write(`wrote ${written.index} and ${written.pages.length} run page${written.pages.length === 1 ? '' : 's'}\n`);
    });
}
