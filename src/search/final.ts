/**
 * `mpl search --final`: the best schedule trained with the real protocol (test split, real new classes,
 * the usual seeds) beside the default MPL, in <out>/final/ (ordinary run folders) and one table
 * (<out>/final.md, the report code of `mpl table`). Only here, after the search has chosen, does anything
 * read the test split.
 */
import * as path from 'node:path';
import type { BackboneModel } from '../backbones/model.js';
import { collect } from '../report/collect.js';
import { formatMarkdown } from '../report/format.js';
import { DG_TARGETS, runBase2New, runTransfer, XD_TARGETS, type ProtocolOptions } from '../eval/protocols.js';
import type { RunResult } from '../eval/results.js';
import type { MethodOptions } from '../prompting/methods/index.js';
import { UserError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Reporter } from '../util/reporter.js';
import type { SearchSettings } from './files.js';
import type { SearchResult } from './search.js';

export interface FinalOptions {
  model: BackboneModel;
  seeds: number[];
  targets?: string[];
  deviceDescription?: string;
  numWorkers?: number;
  skipBadImages?: boolean;
  reporter?: Reporter;
}

export interface FinalResult {
  out: string;
  table_file: string;
  table: string;
  /** what the default MPL row is (depth brought to the model's layers when it has fewer than 9) */
  default_options: MethodOptions;
  best_options: MethodOptions;
  runs: Array<{ row: 'best' | 'default'; run_dir_seeds: number[]; results: Array<Pick<RunResult, 'seed' | 'base' | 'new' | 'hm' | 'accuracy'>> }>;
}

/** MPL's official options (N_CTX 1, add 2, remove 1, depth 9), the depth capped at the model's layers. */
export function defaultMplOptions(model: BackboneModel): MethodOptions {
  const layers = Math.min(model.arch.vision.layers, model.arch.text.layers);
  return layers >= 9 ? {} : { depth: layers };
}

export async function runFinal(r: SearchResult, s: SearchSettings, o: FinalOptions): Promise<FinalResult> {
  if (!r.best) throw new UserError('--final: no candidate reached the full budget, so there is no best schedule to train');
  const out = path.join(r.out, 'final');
  const best: MethodOptions = { nCtx: s.bounds.nCtx, ctxInit: s.ctx_init, depth: r.best.depth, schedule: r.best.schedule };
  const defaults = defaultMplOptions(o.model);
  const base: Omit<ProtocolOptions, 'methodOptions'> = {
    model: o.model,
    deviceDescription: o.deviceDescription,
    backbone: s.backbone,
    method: 'mpl',
    root: s.root,
    dataset: s.dataset,
    name: s.name,
    seeds: o.seeds,
    shots: s.shots,
    epochs: s.max_epochs,
    lr: s.lr,
    batchSize: s.batch_size,
    out,
    allowGeneratedSplit: s.allow_generated_split,
    augment: s.augment !== false,
    numWorkers: o.numWorkers,
    skipBadImages: o.skipBadImages,
    reporter: o.reporter,
  };
  const runProtocol = (methodOptions: MethodOptions): Promise<RunResult[]> => {
    const p = { ...base, methodOptions };
    if (s.protocol === 'base2new') return runBase2New(p);
    if (s.protocol === 'fewshot') return runTransfer(p, 'fewshot', []);
    return runTransfer(p, s.protocol, o.targets ?? (s.protocol === 'xd' ? XD_TARGETS : DG_TARGETS));
  };
  const runs: FinalResult['runs'] = [];
  for (const [row, options] of [['best', best], ['default', defaults]] as const) {
    o.reporter?.info(`--final: ${row === 'best' ? `the best schedule (${r.best.flags})` : 'the default MPL'}, ${s.protocol}, seeds ${o.seeds.join(',')}`);
    const results = await runProtocol(options);
    runs.push({ row, run_dir_seeds: results.map((x) => x.seed), results: results.map((x) => ({ seed: x.seed, base: x.base, new: x.new, hm: x.hm, accuracy: x.accuracy })) });
  }
  const report = collect([out], { protocol: s.protocol });
  const defaultText = defaults.depth === undefined ? "MPL's official options (N_CTX 1, add 2, remove 1 per layer, depth 9)" : `MPL's official options (N_CTX 1, add 2, remove 1 per layer) at depth ${defaults.depth}: the model has no 9 layers`;
  const table =
    formatMarkdown(report, s.protocol === 'base2new' ? { combined: true } : {}).replace(/^# Results/, `# The searched schedule beside the default MPL`) +
    `\nThe rows: the search's best is \`${r.best.flags}\`; the default is ${defaultText}. ` +
    `Both trained ${s.max_epochs} epochs (lr ${s.lr}, batch ${s.batch_size}), seeds ${o.seeds.join(', ')}; the test split is read here for the first time.\n`;
  const tableFile = path.join(r.out, 'final.md');
  writeFileAtomic(tableFile, table);
  return { out, table_file: tableFile, table, default_options: defaults, best_options: best, runs };
}
