import * as path from 'node:path';
import type { Command } from 'commander';
import { loadClip } from '../../clip/load.js';
import { downloadDataset } from '../../data/download.js';
import { collect } from '../../eval/report/collect.js';
import { formatMarkdown } from '../../eval/report/format.js';
import { runBase2New } from '../../eval/protocols.js';
import { cacheDir } from '../../net/cache.js';
import { UserError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import type { Reporter } from '../../util/reporter.js';
import { HubUnreachableError } from '../../net/hub.js';
import { setNumThreads } from '../../torch/index.js';
import { TINY_CLIP_METHOD_OPTIONS, TINY_CLIP_MPL_EPOCHS, tinyClipWeights } from '../../pretrain/recipe.js';
import { writeSynthDataset } from '../../synth/dataset.js';
import type { RunResult } from '../../eval/results.js';
import { writeFigure } from '../../eval/report/svg.js';
import { int } from '../method-options.js';
import { terminalReporter } from '../reporter.js';
import { datasetsFigure, timeFigure } from './plot.js';

interface QuickstartFlags {
  model: string;
  weights?: string;
  root: string;
  out: string;
  epochs?: number;
  seed: number;
  maxTestImages: number;
  fullTest?: boolean;
  offline?: boolean;
  json?: boolean;
}

type Triple = { base: number; new: number; hm: number };
const triple = (r: RunResult): Triple => ({ base: r.base!, new: r.new!, hm: r.hm! });

/**
 * The offline run: the tiny CLIP shipped in assets/tiny-clip (pretrained by `mpl pretrain` on the synthetic
 * world), the generated SynthShapes dataset, zero-shot then MPL base-to-new, the table and two figures.
 * Nothing is downloaded; about two minutes on a 2-core CPU.
 */
async function offline(f: QuickstartFlags, reporter: Reporter): Promise<void> {
  const t0 = Date.now();
  // The tiny CLIP's matrices are small: one intra-op thread is as fast as two and does not spin against other
  // processes on a busy machine (measured on the shared 2-vCPU development machine: 14 s instead of 140 s).
  if (!process.env.MPL_NUM_THREADS) setNumThreads(1);
  const weights = f.weights ?? tinyClipWeights();
  reporter.info(`1/4  CLIP ${weights}`);
  const loaded = await loadClip({ weights, reporter });
  try {
    reporter.info(`2/4  SynthShapes (generated) into ${path.join(f.root, 'synthshapes')}`);
    await writeSynthDataset(f.root);
    const common = {
      model: loaded.model,
      backbone: loaded.backbone,
      root: f.root,
      dataset: 'synthshapes',
      seeds: [f.seed],
      out: f.out,
      maxTestImages: f.fullTest ? undefined : f.maxTestImages,
      augment: false, // the tiny CLIP never saw crops (src/eval/protocols.ts)
      reporter,
    };
    reporter.info(`3/4  zero-shot CLIP, base and new classes`);
    const [zs] = await runBase2New({ ...common, method: 'zeroshot', methodOptions: {} });
    const methodOptions = TINY_CLIP_METHOD_OPTIONS.mpl ?? {};
    const epochs = f.epochs ?? TINY_CLIP_MPL_EPOCHS;
    reporter.info(`4/4  MPL base-to-new, seed ${f.seed}, ${epochs} epochs, ${JSON.stringify(methodOptions)}, no crop augmentation (the tiny CLIP's settings)`);
    const [r] = await runBase2New({ ...common, method: 'mpl', methodOptions, epochs });
    const report = path.join(f.out, 'report.md');
    writeFileAtomic(report, formatMarkdown(collect([f.out]), {}));
    const figures = [path.join(f.out, 'hm.png'), path.join(f.out, 'time.png')];
    await writeFigure(datasetsFigure([f.out], {}, 'base2new'), figures[0]);
    await writeFigure(timeFigure([f.out], {}, 'base2new'), figures[1]);
    const result = {
      mode: 'offline',
      model: weights,
      dataset: 'synthshapes',
      seed: f.seed,
      zeroshot: triple(zs),
      mpl: triple(r),
      report,
      figures,
      run: path.join(f.out, 'base2new', 'synthshapes', 'mpl', `seed${f.seed}`),
      seconds: (Date.now() - t0) / 1000,
    };
    if (f.json) {
      process.stdout.write(JSON.stringify(result) + '\n');
      return;
    }
    const row = (name: string, t: Triple) => `${name.padEnd(10)} ${t.base.toFixed(2).padStart(6)} ${t.new.toFixed(2).padStart(6)} ${t.hm.toFixed(2).padStart(6)}\n`;
    process.stdout.write(
      `\nTiny CLIP (pretrained by this project) on SynthShapes, 16 shots, seed ${f.seed}:\n` +
        `${''.padEnd(10)} ${'base'.padStart(6)} ${'new'.padStart(6)} ${'HM'.padStart(6)}\n` +
        row('zero-shot', result.zeroshot) +
        row('MPL', result.mpl) +
        `report:  ${report}\nfigures: ${figures.join(', ')}\nrun:     ${result.run}\n` +
        `(a synthetic world and a 5-million-parameter CLIP: a check that everything works, not a benchmark; mpl quickstart without --offline runs ViT-B/16 on EuroSAT)\n`,
    );
  } finally {
    loaded.model.dispose();
  }
}

/**
 * The README's main job: fetch ViT-B/16 and EuroSAT, train MPL base-to-new for seed 1, print base/new/HM
 * and where the report is. Offline, each failing step says exactly which file to place where. With
 * --offline, or when the hub cannot be reached, the offline run above instead (saying so).
 */
export function register(program: Command): void {
  program
    .command('quickstart')
    .description('fetch ViT-B/16 and EuroSAT, train MPL base-to-new (seed 1), print base / new / HM')
    .option('--model <name>', 'pretrained CLIP', 'ViT-B/16')
    .option('--weights <file>', 'use a local weights file instead of downloading')
    .option('--root <dir>', "data folder (CoOp layout); EuroSAT goes to <root>/eurosat", path.join(cacheDir(), 'data'))
    .option('--out <dir>', 'output folder', 'output/quickstart')
    .option('--epochs <n>', 'training epochs (default: 5, the MPL config; --offline: 10)', int('--epochs'))
    .option('--seed <n>', 'seed', int('--seed'), 1)
    .option('--max-test-images <n>', 'evaluate on an evenly strided subset of at most N test images per split (CPU-friendly)', int('--max-test-images'), 1000)
    .option('--full-test', 'evaluate on the full test sets (as the papers do)')
    .option('--offline', 'download nothing: the tiny CLIP shipped with the package on a generated dataset (~2 min on 2 CPU cores)')
    .option('--json', 'print the results as one JSON object')
    .addHelpText(
      'after',
      `
Examples:
  mpl quickstart                                  everything from the internet, ~10-20 min on a 2-core CPU
  mpl quickstart --weights clip-vit-b16.safetensors --root ~/data --full-test
  mpl quickstart --offline --json                 no network: zero-shot and MPL on SynthShapes with the tiny CLIP

Without network (or with HF_HUB_OFFLINE=1 and no cached ViT-B/16), mpl quickstart says so and runs the
offline quickstart.`,
    )
    .action(async (f: QuickstartFlags) => {
      const reporter = terminalReporter();
      if (f.offline) return offline(f, reporter);
      reporter.info(`1/3  CLIP ${f.weights ?? f.model}`);
      let loaded;
      try {
        loaded = await loadClip({ model: f.model, weights: f.weights, reporter });
      } catch (e) {
        if (!(e instanceof HubUnreachableError)) throw e;
        reporter.warn(`${e.message.split('. ')[0]}.`);
        reporter.warn('the Hugging Face hub is not reachable: running the offline quickstart instead (the tiny CLIP shipped with the package, the generated SynthShapes dataset; same as mpl quickstart --offline)');
        return offline(f, reporter);
      }
      try {
        reporter.info(`2/3  EuroSAT into ${path.join(f.root, 'eurosat')}`);
        let ds;
        try {
          ds = await downloadDataset('eurosat', { root: f.root, reporter });
        } catch (e) {
          throw new UserError(
            `cannot download EuroSAT (${(e as Error).message.split('\n')[0]}). Place the images at ${path.join(f.root, 'eurosat', '2750')}/<Class>/*.jpg ` +
              `(EuroSAT.zip from https://madm.dfki.de/files/sentinel/EuroSAT.zip) and split_zhou_EuroSAT.json at ${path.join(f.root, 'eurosat', 'split_zhou_EuroSAT.json')} ` +
              `(CoOp's DATASETS.md), then run mpl quickstart --root ${f.root} again.`,
          );
        }
        if (!ds.complete) {
          throw new UserError(`EuroSAT is incomplete in ${ds.dir}:\n${ds.manual.join('\n')}`);
        }
        reporter.info(`3/3  MPL base-to-new on EuroSAT, seed ${f.seed}, ${f.epochs ?? 5} epochs`);
        const [r] = await runBase2New({
          model: loaded.model,
          backbone: loaded.backbone,
          method: 'mpl',
          methodOptions: {},
          root: f.root,
          dataset: 'eurosat',
          seeds: [f.seed],
          epochs: f.epochs ?? 5,
          out: f.out,
          maxTestImages: f.fullTest ? undefined : f.maxTestImages,
          reporter,
        });
        const report = path.join(f.out, 'report.md');
        writeFileAtomic(report, formatMarkdown(collect([f.out]), {}));
        if (f.json) {
          process.stdout.write(JSON.stringify({ mode: 'online', model: f.weights ?? f.model, dataset: 'eurosat', seed: f.seed, mpl: triple(r), report }) + '\n');
          return;
        }
        process.stdout.write(
          `\nMPL on EuroSAT (ViT-B/16, 16 shots, seed ${f.seed}): base ${r.base!.toFixed(2)}  new ${r.new!.toFixed(2)}  HM ${r.hm!.toFixed(2)}\n` +
            `${f.fullTest ? '' : `(evaluated on up to ${f.maxTestImages} test images per split; --full-test for the papers' protocol)\n`}` +
            `report: ${report}\nrun:    ${path.join(f.out, 'base2new', 'eurosat', 'mpl', `seed${f.seed}`)}\n`,
        );
      } finally {
        loaded.model.dispose();
      }
    });
}
