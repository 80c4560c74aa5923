import type { Command } from 'commander';
import { ClipTokenizer } from '../../backbones/clip/tokenizer.js';
import { textWordsOf } from '../../prompting/learner.js';
import { countParameters, designMethod } from '../../prompting/methods/index.js';
import { planLayout, validatePlan } from '../../prompting/plan.js';
import { numberFlag } from '../flags.js';
import { addMethodOptions, methodFrom, type MethodFlags } from '../method-options.js';
import { architectureOf } from '../model.js';
import { UserError } from '../../util/errors.js';
import type { Protocol } from '../../eval/results.js';
import { collect, parseProtocol, reportProtocols, type Report } from '../../report/collect.js';
import { loadResults } from '../../report/result-files.js';
import { renderShotsSvg, shotsData } from '../../report/shots.js';
import { PROTOCOL_TITLES } from '../../report/format.js';
import { readPlanLayout, renderLayoutSvg } from '../../report/layout-svg.js';
import { datasetDisplayName, methodDisplayName } from '../../report/names.js';
import { renderDatasetsSvg, renderTimeSvg } from '../../report/plots.js';
import { PNG_SCALE, writeFigure } from '../../report/svg.js';
import { accuracyViews, b2nView, METRIC_LABELS, parseB2NMetric, timePoints, type MetricView } from '../../report/views.js';

interface PlotOptions {
  kind?: string;
  out?: string;
  protocol?: string;
  metric?: string;
  layout?: string;
  source?: string;
  dataset?: string;
  title?: string;
  scale?: number;
}

const KINDS = ['time', 'datasets', 'shots', 'layout'];


/** One line per plotted row: which configuration it is (`MPL: shots_16/mpl/vit_b16_c1_add2_rm1_d9_ep5`). */
function configNotes(report: Report, protocol: Protocol, keys: string[]): string[] {
  const methods = protocol === 'base2new' ? report.base2new : report.accuracy[protocol];
  return keys.map((k) => `${methodDisplayName(k)}: ${methods?.[k]?.tag ?? k}`);
}

/** --protocol, or base2new when present, else the first protocol the results have. */
function pickProtocol(report: Report, requested: Protocol | undefined): Protocol {
  if (requested) return requested;
  const present = reportProtocols(report);
  return present.includes('base2new') ? 'base2new' : present[0];
}

export function timeFigure(dirs: string[], opts: PlotOptions, protocol: Protocol | undefined): string {
  const report = collect(dirs, { protocol });
  const p = pickProtocol(report, protocol);
  const { metric, points } = timePoints(report, p, opts.metric);
  // In-domain protocols have no targets: their "source" accuracy is simply the accuracy.
  const what = metric === 'source' && (p === 'fewshot' || p === 'zeroshot') ? 'accuracy' : METRIC_LABELS[metric];
  const nd = new Set(points.map((q) => q.n_datasets));
  // "over N datasets" counts training datasets; for transfer (targets) that number would mislead.
  const over = nd.size === 1 && metric !== 'targets' ? ` over ${[...nd][0]} dataset${[...nd][0] === 1 ? '' : 's'}` : '';
  return renderTimeSvg(points, {
    notes: configNotes(report, p, points.map((q) => q.key)),
    yLabel: `Average ${what} (%)`,
    title: opts.title ?? `${PROTOCOL_TITLES[p]}: average ${what}${over} vs. training time`,
  });
}

export function datasetsFigure(dirs: string[], opts: PlotOptions, protocol: Protocol | undefined): string {
  const report = collect(dirs, { protocol });
  const p = pickProtocol(report, protocol);
  let view: MetricView;
  if (p === 'base2new') {
    view = b2nView(report, parseB2NMetric(opts.metric ?? 'hm'));
  } else {
    if (opts.metric !== undefined && opts.metric !== 'accuracy') {
      throw new UserError(`--metric: ${p} bars show accuracy per dataset; leave --metric out`);
    }
    const views = accuracyViews(report, p);
    if (opts.source !== undefined) {
      const v = views.find((x) => x.source === opts.source);
      if (!v) {
        const have = views.map((x) => x.source).filter(Boolean).join(', ');
        throw new UserError(`--source: no ${p} runs trained on '${opts.source}'${have ? ` (have: ${have})` : ''}`);
      }
      view = v;
    } else {
      view = views[0];
      if (views.length > 1) {
        process.stderr.write(`${p} has runs from ${views.length} source datasets; plotting ${view.source} (choose with --source)\n`);
      }
    }
  }
  const what = METRIC_LABELS[view.metric];
  const where = view.source ? `, trained on ${datasetDisplayName(view.source)}` : '';
  return renderDatasetsSvg(view, {
    notes: configNotes(report, p, view.rows.map((r) => r.key)),
    yLabel: `${what[0].toUpperCase()}${what.slice(1)} (%)`,
    title: opts.title ?? `${PROTOCOL_TITLES[p]}: ${what} per dataset${where}`,
  });
}

/** `mpl plot`: the paper's Figure 2, per-dataset bars, or a prompt plan's token layout, as SVG or PNG. */
export function register(program: Command): void {
  const cmd = program
    .command('plot')
    .description('draw a figure from result.json files (or a plan layout) as .svg, .png or .pdf')
    .argument('[dirs...]', 'folders searched recursively for result.json (not needed for --kind layout)')
    .requiredOption('--kind <kind>', 'time (accuracy vs training time), datasets (bars per dataset), shots (few-shot accuracy vs shots) or layout')
    .requiredOption('--out <file>', 'figure file: .svg, .png (rendered through sharp) or .pdf (vector, through PDFKit)')
    .option('--protocol <protocol>', 'base2new (default when present), xd, dg, fewshot or zeroshot')
    .option('--metric <metric>', 'base2new: base, new or hm (default hm); time with xd/dg/fewshot/zeroshot: source or targets')
    .option('--source <dataset>', 'datasets with xd/dg: which training dataset (when runs have several)')
    .option('--dataset <name>', 'shots: one dataset (default: the average over the datasets every method has)')
    .option('--layout <file>', 'layout: a PlanLayout JSON file (as `mpl plan --json` writes)')
    .option('--title <text>', 'figure title instead of the generated one')
    .option('--scale <n>', `PNG pixels per SVG unit, > 0 and <= 16 (default ${PNG_SCALE})`, numberFlag('--scale', { exclusiveMin: true, max: 16 }))
    .option('--arch <name>', 'layout from --method: a known architecture (ViT-B/16, ...)')
    .option('--weights <file>', 'layout from --method: the architecture of a weights file');
  addMethodOptions(cmd)
    .addHelpText(
      'after',
      `
Examples:
  mpl plot runs/ --kind time --out fig2.png              average HM vs average training time per method (Figure 2)
  mpl plot runs/ --kind time --metric new --out t.svg    the same with new-class accuracy
  mpl plot runs/ --kind time --protocol xd --out xd.svg  average target accuracy vs training time
  mpl plot runs/ --kind datasets --out hm.png            HM per dataset, one bar per method, ±std whiskers
  mpl plot runs/ --kind datasets --protocol xd --out xd-bars.svg
  mpl plot runs/ --kind shots --out fewshot.pdf          few-shot accuracy vs shots per class (CoOp's figure)
  mpl plot runs/ --kind shots --dataset dtd --out dtd.png
  mpl plot --kind layout --layout plan.json --out layout.png   per-layer token layout of a prompt plan
  mpl plot --kind layout --method mpl --arch ViT-B/16 --out mpl-layout.svg   the same, built from method flags`,
    )
    .action(async (dirs: string[], opts: PlotOptions & MethodFlags & { arch?: string; weights?: string }) => {
      if (!KINDS.includes(opts.kind!)) throw new UserError(`--kind: unknown figure '${opts.kind}' (time, datasets, shots or layout)`);
      if (!/\.(svg|png|pdf)$/i.test(opts.out!)) throw new UserError(`--out ${opts.out}: the figure file must end in .svg, .png or .pdf`);
      const scale = opts.scale ?? PNG_SCALE;
      if (!(scale > 0 && scale <= 16)) throw new UserError('--scale: expected a number in (0, 16]');
      const protocol = opts.protocol === undefined ? undefined : parseProtocol(opts.protocol);
      let svg: string;
      if (opts.kind === 'layout') {
        if (dirs.length) throw new UserError('--kind layout takes no result folders');
        if (opts.method) {
          const arch = await architectureOf(opts);
          const { method, options } = methodFrom(opts);
          const design = designMethod(method, options, arch);
          validatePlan(design.plan, arch);
          svg = renderLayoutSvg(planLayout(design.plan, arch, countParameters(design), textWordsOf(design, ClipTokenizer.default())));
        } else {
          if (!opts.layout) throw new UserError('--kind layout needs --method (with --arch or --weights) or --layout FILE (a PlanLayout JSON file)');
          svg = renderLayoutSvg(readPlanLayout(opts.layout));
        }
      } else {
        if (dirs.length === 0) throw new UserError(`--kind ${opts.kind} needs at least one result folder`);
        if (opts.kind === 'shots') {
          if (protocol && protocol !== 'fewshot') throw new UserError('--kind shots draws few-shot results (leave --protocol out)');
          svg = renderShotsSvg(shotsData(loadResults(dirs), opts.dataset), { title: opts.title });
        } else svg = opts.kind === 'time' ? timeFigure(dirs, opts, protocol) : datasetsFigure(dirs, opts, protocol);
      }
      await writeFigure(svg, opts.out!, scale);
      process.stderr.write(`wrote ${opts.out}\n`);
    });
}
