import type { Command } from 'commander';
import { tokenizerFor } from '../../backbones/index.js';
import { loadDataset } from '../../data/dataset.js';
import type { Subsample } from '../../data/types.js';
import { renderConfusionSvg } from '../../report/confusion-svg.js';
import { datasetDisplayName, methodDisplayName } from '../../report/names.js';
import { writeFigure } from '../../report/svg.js';
import { PromptLearner } from '../../prompting/learner.js';
import { checkBackbone } from '../../packages/backbone.js';
import { loadPromptsSource } from '../../packages/package.js';
import type { MethodOptions } from '../../prompting/methods/index.js';
import { evaluate } from '../../train/evaluate.js';
import { batchSource } from '../../train/sources.js';
import { UserError } from '../../util/errors.js';
import { writeJsonAtomic } from '../../util/fs.js';
import { snakeKeys } from '../../util/json.js';
import { addMethodOptions, methodOfPrompts, type MethodFlags } from '../method-options.js';
import { addDataLoaderOptions } from '../flags.js';
import { addComputeOptions, announce, computeFrom, type ComputeFlags } from '../compute-options.js';
import { modelFrom } from '../model.js';
import { terminalReporter } from '../reporter.js';
import { fixed, percent } from '../../util/format.js';

interface EvalFlags extends MethodFlags, ComputeFlags {
  prompts?: string;
  weights?: string;
  model?: string;
  dataset: string;
  root: string;
  split: string;
  subsample: string;
  json?: boolean;
  out?: string;
  figure?: string;
  workers?: number;
  skipBadImages?: boolean;
  allowGeneratedSplit?: boolean;
  quiet?: boolean;
}

/** What `mpl eval --json` prints (and --out writes): snake_case keys, accuracies in %. */
export interface EvalReport {
  accuracy: number;
  /** class name → accuracy (%) over its images (classes without images are absent) */
  per_class: Record<string, number>;
  /** confusion[true][predicted]: image counts, in the order of `classes` */
  confusion: number[][];
  classes: string[];
  correct: number;
  total: number;
  dataset: string;
  split: 'test' | 'val';
  subsample: Subsample;
  method: string;
  method_options: MethodOptions;
  prompts: string | null;
  /** the checkpoint's epoch, for an official model.pth.tar-N */
  epoch: number | null;
  backbone: string;
  precision: string;
}

export function register(program: Command): void {
  const cmd = program
    .command('eval')
    .description("evaluate prompts on a dataset split (Dassl's --eval-only): accuracy, per-class accuracy, confusion matrix")
    .option('--prompts <file|dir>', 'a prompt package, a run folder or its prompts.safetensors (its prompts.json gives the method), or an official Dassl model.pth.tar-N; none = zero-shot CLIP')
    .option('--weights <file>', 'CLIP weights: a file or a Hugging Face snapshot folder')
    .option('--model <name>', 'pretrained CLIP by name (see mpl models)')
    .requiredOption('--dataset <name>', 'dataset (eurosat, dtd, ..., imagefolder, jsonlist)')
    .requiredOption('--root <dir>', "CoOp's data folder, or the imagefolder / JSON list")
    .option('--split <split>', 'test or val', 'test')
    .option('--subsample <classes>', 'base, new or all classes (base2new prompts: base or new)', 'all')
    .option('--json', 'print {"accuracy", "per_class", "confusion", ...} as one JSON object')
    .option('--out <file>', 'also write that JSON object to this file')
    .option('--figure <file>', 'draw the confusion matrix: .svg, .png or .pdf')
    .option('--quiet', 'no progress output');
  addMethodOptions(addComputeOptions(addDataLoaderOptions(cmd)))
    .addHelpText(
      'after',
      `
Examples:
  mpl eval --weights clip.safetensors --prompts runs/base2new/photos/shots_16/mpl/*/seed1/prompts.safetensors \\
    --dataset imagefolder --root photos --subsample new --json
  mpl eval --model ViT-B/16 --prompts output/MultiModalPromptLearner/model.pth.tar-5 --dataset dtd --root ~/data \\
    --subsample base --figure confusion.png      an official checkpoint: method and shapes read off its tensors
  mpl eval --model ViT-B/16 --dataset eurosat --root ~/data     zero-shot CLIP
The classes are the dataset's (--subsample), not the ones the prompts were trained on, so base2new prompts
are tested on new classes with --subsample new, as the official base2new_test.sh does.`,
    )
    .action(async (f: EvalFlags) => {
      if (f.split !== 'test' && f.split !== 'val') throw new UserError(`--split must be test or val, got '${f.split}'`);
      if (!['base', 'new', 'all'].includes(f.subsample)) throw new UserError(`--subsample must be base, new or all, got '${f.subsample}'`);
      const prompts = f.prompts ? loadPromptsSource(f.prompts) : null; // a file, a run folder or a package (src/packages/)
      const { method, options } = methodOfPrompts(f, prompts, f.prompts);
      const reporter = terminalReporter({ quiet: f.quiet || f.json });
      const data = loadDataset(f.dataset, {
        root: f.root,
        subsample: f.subsample as Subsample,
        reporter,
        allowGeneratedSplit: f.allowGeneratedSplit,
        cacheFewshot: 'read-only',
      });
      const items = f.split === 'test' ? data.test : data.val;
      if (items.length === 0) throw new UserError(`${data.displayName} has no ${f.split} images (${data.source})`);
      const compute = computeFrom(f);
      const loaded = await modelFrom(f, compute);
      if (prompts) await checkBackbone(prompts.requirement, loaded, f.prompts!); // before any image is read
      announce(compute, reporter);
      const learner = new PromptLearner(loaded.model, tokenizerFor(loaded.model), method, data.classnames, { ...options, dataset: data });
      try {
        if (prompts) learner.loadSaved(prompts, f.prompts!);
        const src = batchSource(items, { mode: 'eval', numWorkers: f.workers, skipBadImages: f.skipBadImages, reporter });
        let r;
        try {
          r = await evaluate(learner, src, reporter);
        } finally {
          await src.close();
        }
        const report: EvalReport = {
          accuracy: r.accuracy,
          per_class: r.perClass,
          confusion: r.confusion,
          classes: data.classnames,
          correct: r.correct,
          total: r.total,
          dataset: data.name,
          split: f.split,
          subsample: f.subsample as Subsample,
          method,
          method_options: snakeKeys(options),
          prompts: f.prompts ?? null,
          epoch: prompts?.epoch ?? null,
          backbone: loaded.backbone,
          precision: loaded.model.precision.name,
        };
        if (f.out) writeJsonAtomic(f.out, report);
        if (f.figure) {
          const title = `${methodDisplayName(method)} on ${datasetDisplayName(data.name)} (${f.subsample} classes, ${f.split}): ${percent(r.accuracy)} %`;
          await writeFigure(renderConfusionSvg(data.classnames, r.confusion, { title }), f.figure);
          reporter.info(`wrote ${f.figure}`);
        }
        if (f.json) process.stdout.write(JSON.stringify(report) + '\n');
        else {
          const worst = Object.entries(r.perClass).sort((a, b) => a[1] - b[1]).slice(0, 5);
          process.stdout.write(
            `${methodDisplayName(method)} on ${data.displayName}, ${f.subsample} classes, ${f.split}: accuracy ${percent(r.accuracy)} % (${r.correct}/${r.total})\n` +
              `lowest per-class accuracy: ${worst.map(([c, a]) => `${c} ${fixed(a, 1)}`).join(', ')}\n`,
          );
        }
      } finally {
        learner.dispose();
        loaded.model.dispose();
      }
    });
}
