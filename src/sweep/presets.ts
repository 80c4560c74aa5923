/**
 * The grids of the MPL paper's experiments (arXiv 2502.14125; spec/mpl-spec.md §2, §4, §5), as sweeps: the
 * five compared methods, each with its official recipe, seeds 1-3, ViT-B/16, 16 shots.
 *
 *   table2   base-to-new on the 11 datasets (Table II): 11 × 5 methods × 3 seeds = 165 runs.
 *            Recipes are the methods' base-to-new configs, which are the defaults (RECIPES): CoOp
 *            vit_b16_ctxv1 (200 epochs; ImageNet vit_b16_ep50_ctxv1, 50 epochs), CoCoOp
 *            vit_b16_c4_ep10_batch1_ctxv1, MaPLe vit_b16_c2_ep5_batch4_2ctx, PromptSRC
 *            vit_b16_c2_ep20_batch4_4+4ctx, MPL vit_b4_c1_add2_rm1 (5 epochs, as the paper states).
 *   table3   cross-dataset transfer (Table III) and domain generalisation from ImageNet: 2 × 5 × 3 = 30 runs.
 *            MPL and MaPLe use their `_cross_datasets` configs (depth 3, LR 0.0026, 2 epochs), PromptSRC its
 *            (depth 3/3, GPA 6/10, 20 epochs), CoCoOp its one config, CoOp the ImageNet config (50 epochs).
 *            Decision: dg trains again rather than re-evaluating the xd prompts (our dg protocol trains).
 *   fewshot  few-shot learning (CoOp's figure): 11 datasets × K = 1, 2, 4, 8, 16 × 5 × 3 = 825 runs. The
 *            MPL paper has no few-shot table; the recipes are CoOp's few-shot (16 random context tokens;
 *            50 epochs at 1 shot, 100 at 2-4, 200 at 8-16, ImageNet always 50), PromptSRC's few-shot config
 *            (50 epochs, GPA 30/30, or 45/5 on Cars, Flowers, Aircraft, DTD, EuroSAT), and the base-to-new
 *            recipes of CoCoOp, MaPLe and MPL (decision: they publish no few-shot config).
 */
import { UserError } from '../util/errors.js';
import { getDataset } from '../data/datasets/index.js';
import { checkMethod } from '../prompting/methods/index.js';

export const PRESETS = ['table2', 'table3', 'fewshot'] as const;
export type PresetName = (typeof PRESETS)[number];

/** The 11 datasets, in the order of the paper's Table II. */
export const PAPER_DATASETS = ['caltech101', 'dtd', 'eurosat', 'fgvc_aircraft', 'food101', 'oxford_flowers', 'oxford_pets', 'stanford_cars', 'sun397', 'ucf101', 'imagenet'];
/** The compared methods, in the order of the paper's rows. */
export const PAPER_METHODS = ['coop', 'cocoop', 'maple', 'promptsrc', 'mpl'];

export interface PresetInput {
  out: string;
  root?: string;
  weights?: string;
  model?: string;
  /** only these methods / datasets (names as on the command line) */
  methods?: string[];
  datasets?: string[];
  seeds?: number[];
  /** fp32 unless given: on GPUs the papers' recipe is fp16 (`--precision fp16`) */
  precision?: string;
  device?: string;
}

type Entry = string | Record<string, unknown>;

const TABLE3_METHODS: Record<string, Entry> = {
  coop: { name: 'coop', epochs: 50 },
  cocoop: 'cocoop',
  maple: { name: 'maple', epochs: 2, lr: 0.0026, options: { depth: 3 } },
  promptsrc: { name: 'promptsrc', options: { 'depth-text': 3, 'depth-vision': 3, 'gpa-mean': 6, 'gpa-std': 10 } },
  mpl: { name: 'mpl', epochs: 2, lr: 0.0026, options: { depth: 3 } },
};

const FEWSHOT_METHODS: Record<string, Entry> = {
  coop: { name: 'coop', options: { 'n-ctx': 16, 'ctx-init': '' } },
  cocoop: 'cocoop',
  maple: 'maple',
  promptsrc: { name: 'promptsrc', epochs: 50, options: { 'gpa-mean': 30, 'gpa-std': 30 } },
  mpl: 'mpl',
};

/**
 * The few-shot baselines later papers report beside prompt learners (docs/methods.md), with their official
 * recipes: not in the MPL paper's grids, run when `--methods` names them (e.g. `mpl reproduce fewshot
 * --methods linear-probe,clip-adapter,tip-adapter,tip-adapter-f`). The linear probe needs no new classes, so
 * table3 (which includes xd) offers the other three.
 */
const FEWSHOT_BASELINES: Record<string, Entry> = { 'linear-probe': 'linear-probe', 'clip-adapter': 'clip-adapter', 'tip-adapter': 'tip-adapter', 'tip-adapter-f': 'tip-adapter-f' };
const TABLE3_BASELINES: Record<string, Entry> = { 'clip-adapter': 'clip-adapter', 'tip-adapter': 'tip-adapter', 'tip-adapter-f': 'tip-adapter-f' };

/** The paper's entries, or (when `--methods` is given) those asked for among them and the baselines. */
function pickWith(paper: Record<string, Entry>, baselines: Record<string, Entry>, wanted?: string[]): Entry[] {
  return wanted ? pick({ ...paper, ...baselines }, wanted) : pick(paper);
}

/** Keeps the entries whose method was asked for (all when none), in the paper's order. */
function pick(entries: Record<string, Entry>, wanted?: string[]): Entry[] {
  const names = wanted?.map((m) => checkMethod(m) as string);
  for (const n of names ?? []) {
    if (!(n in entries)) throw new UserError(`--methods: ${n} is not in the paper's comparison (${Object.keys(entries).join(', ')})`);
  }
  return Object.entries(entries).filter(([k]) => !names || names.includes(k)).map(([, e]) => e);
}

function pickDatasets(all: string[], wanted?: string[]): string[] {
  if (!wanted) return all;
  const names = wanted.map((d) => getDataset(d).name);
  for (const n of names) if (!all.includes(n)) throw new UserError(`--datasets: ${n} is not in this table (${all.join(', ')})`);
  return all.filter((d) => names.includes(d));
}

/** The preset as a sweep (plain data, checked by sweepFromObject like a file). */
export function presetSweep(preset: PresetName, i: PresetInput): Record<string, unknown> {
  const common = {
    out: i.out,
    ...(i.weights ? { weights: i.weights } : { model: i.model ?? 'ViT-B/16' }),
    ...(i.root ? { root: i.root } : {}),
    seeds: i.seeds ?? [1, 2, 3],
    ...(i.precision ? { precision: i.precision } : {}),
    ...(i.device ? { device: i.device } : {}),
  };
  switch (preset) {
    case 'table2':
      return {
        ...common,
        protocol: 'base2new',
        datasets: pickDatasets(PAPER_DATASETS, i.datasets),
        methods: pick(Object.fromEntries(PAPER_METHODS.map((m) => [m, m])), i.methods),
        overrides: [{ when: { method: 'coop', dataset: 'imagenet' }, set: { epochs: 50 } }],
      };
    case 'table3':
      if (i.datasets) throw new UserError('--datasets: table3 trains on ImageNet only (its targets are fixed by the paper)');
      return { ...common, protocol: ['xd', 'dg'], datasets: ['imagenet'], methods: pickWith(TABLE3_METHODS, TABLE3_BASELINES, i.methods) };
    case 'fewshot':
      return {
        ...common,
        protocol: 'fewshot',
        shots: [1, 2, 4, 8, 16],
        datasets: pickDatasets(PAPER_DATASETS, i.datasets),
        methods: pickWith(FEWSHOT_METHODS, FEWSHOT_BASELINES, i.methods),
        overrides: [
          { when: { method: 'coop', shots: 1 }, set: { epochs: 50 } },
          { when: { method: 'coop', shots: 2 }, set: { epochs: 100 } },
          { when: { method: 'coop', shots: 4 }, set: { epochs: 100 } },
          { when: { method: 'coop', dataset: 'imagenet' }, set: { epochs: 50 } },
          ...['stanford_cars', 'oxford_flowers', 'fgvc_aircraft', 'dtd', 'eurosat'].map((d) => ({
            when: { method: 'promptsrc', dataset: d },
            set: { options: { 'gpa-mean': 45, 'gpa-std': 5 } },
          })),
        ],
      };
  }
}
