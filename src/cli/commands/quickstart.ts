import * as path from 'node:path';
import type { Command } from 'commander';
import { loadClip } from '../../backbones/clip/load.js';
import { downloadDataset } from '../../data/download.js';
import { collect } from '../../report/collect.js';
import { formatMarkdown } from '../../report/format.js';
import { runBase2New } from '../../eval/protocols.js';
import { resultRunDir } from '../../eval/run-config.js';
import { cacheDir } from '../../net/cache.js';
import { UserError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { intFlag, MAX_SEED } from '../flags.js';
import { terminalReporter } from '../reporter.js';
import { addComputeOptions, announce, computeFrom, type ComputeFlags } from '../compute-options.js';
import type { Reporter } from '../../util/reporter.js';
import { HubUnreachableError } from '../../net/hub.js';
import { setNumThreads } from '../../torch/index.js';
import { TINY_CLIP_METHOD_OPTIONS, TINY_CLIP_MPL_EPOCHS, tinyClipWeights } from '../../pretrain/recipe.js';
import { writeSynthDataset } from '../../synth/dataset.js';
import type { RunResult } from '../../eval/results.js';
import { writeFigure } from '../../report/svg.js';
import { writeHtmlReport } from '../../report/html.js';
import { datasetsFigure, timeFigure } from './plot.js';
import { percent } from '../../util/format.js';

interface QuickstartFlags extends ComputeFlags {
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
 * Nothing is downloaded; about 15-20 seconds on an idle 2-core CPU (the README says the same; a test checks).
 */
async function offline(f: QuickstartFlags, reporter: Reporter): Promise<void> {
  const t0 = Date.now();
  // The tiny CLIP's matrices are small: one intra-op thread is as fast as two and does not spin against other
  // processes on a busy machine (measured on the shared 2-vCPU development machine: 14 s instead of 140 s).
  if (!process.env.MPL_NUM_THREADS) setNumThreads(1);
  const weights = f.weights ?? tinyClipWeights();
  reporter.info(`1/4  CLIP ${weights}`);
  // fp32 unless asked: the tiny CLIP's recipe and learning checks were measured in fp32 (auto would pick bf16
  // on some CPUs, where its 5 M parameters gain nothing)
  const compute = computeFrom({ device: f.device, precision: !f.precision || f.precision === 'auto' ? 'fp32' : f.precision });
  announce(compute, reporter);
  const loaded = await loadClip({ weights, reporter, device: compute.device, precision: compute.precision });
  try {
    reporter.info(`2/4  SynthShapes (generated) into ${path.join(f.root, 'synthshapes')}`);
    await writeSynthDataset(f.root);
    const common = {
      model: loaded.model,
      backbone: loaded.backbone,
      weightsFile: loaded.file,
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
    const html = writeHtmlReport([f.out], path.join(f.out, 'report')).index;
    const result = {
      mode: 'offline',
      model: weights,
      dataset: 'synthshapes',
      seed: f.seed,
      zeroshot: triple(zs),
      mpl: triple(r),
      report,
      html,
      figures,
      run: resultRunDir(f.out, r),
      seconds: (Date.now() - t0) / 1000,
    };
    if (f.json) {
      process.stdout.write(JSON.stringify(result) + '\n');
      return;
    }
    const row = (name: string, t: Triple) => `${name.padEnd(10)} ${percent(t.base).padStart(6)} ${percent(t.new).padStart(6)} ${percent(t.hm).padStart(6)}\n`;
    process.stdout.write(
      `\nTiny CLIP (pretrained by this project) on SynthShapes, 16 shots, seed ${f.seed}:\n` +
        `${''.padEnd(10)} ${'base'.padStart(6)} ${'new'.padStart(6)} ${'HM'.padStart(6)}\n` +
        row('zero-shot', result.zeroshot) +
        row('MPL', result.mpl) +
        `report:  ${report}\nhtml:    ${html}\nfigures: ${figures.join(', ')}\nrun:     ${result.run}\n` +
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
  const cmd = program
    .command('quickstart')
    .description('fetch ViT-B/16 and EuroSAT, train MPL base-to-new (seed 1), print base / new / HM')
    .option('--model <name>', 'pretrained CLIP', 'ViT-B/16')
    .option('--weights <file>', 'use a local weights file instead of downloading')
    .option('--root <dir>', "data folder (CoOp layout); EuroSAT goes to <root>/eurosat", path.join(cacheDir(), 'data'))
    .option('--out <dir>', 'output folder', 'output/quickstart')
    .option('--epochs <n>', 'training epochs (default: 5, the MPL config; --offline: 10)', intFlag('--epochs', { max: 100_000 }))
    .option('--seed <n>', 'seed', intFlag('--seed', { max: MAX_SEED }), 1)
    .option('--max-test-images <n>', 'evaluate on an evenly strided subset of at most N test images per split (CPU-friendly)', intFlag('--max-test-images', { min: 1 }), 1000)
    .option('--full-test', 'evaluate on the full test sets (as the papers do)')
    .option('--offline', 'download nothing: the tiny CLIP shipped with the package on a generated dataset (about 15-20 seconds on an idle 2-core CPU)')
    .option('--json', 'print the results as one JSON object');
  addComputeOptions(cmd)
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
      const compute = computeFrom(f);
      announce(compute, reporter);
      // Both inputs are tried before anything fails, so that an offline machine hears about everything it lacks at once.
      const problems: string[] = [];
      let loaded: Awaited<ReturnType<typeof loadClip>> | undefined;
      try {
        loaded = await loadClip({ model: f.model, weights: f.weights, reporter, device: compute.device, precision: compute.precision });
      } catch (e) {
        if (e instanceof HubUnreachableError) {
          reporter.warn(`${e.message.split('. ')[0]}.`);
          reporter.warn('the Hugging Face hub is not reachable: running the offline quickstart instead (the tiny CLIP shipped with the package, the generated SynthShapes dataset; same as mpl quickstart --offline)');
          return offline(f, reporter);
        }
        if (!(e instanceof UserError)) throw e;
        problems.push(`CLIP weights: ${e.message}`);
      }
      reporter.info(`2/3  EuroSAT into ${path.join(f.root, 'eurosat')}`);
      try {
        const ds = await downloadDataset('eurosat', { root: f.root, reporter });
        if (!ds.complete) problems.push(`EuroSAT is incomplete in ${ds.dir}: ${ds.manual.join(' ')}`);
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        problems.push(
          `EuroSAT: cannot download it (${e.message.split('\n')[0]}). Place the images at ${path.join(f.root, 'eurosat', '2750')}/<Class>/*.jpg ` +
            `(EuroSAT.zip from https://madm.dfki.de/files/sentinel/EuroSAT.zip) and split_zhou_EuroSAT.json at ${path.join(f.root, 'eurosat', 'split_zhou_EuroSAT.json')} (CoOp's DATASETS.md)`,
        );
      }
      if (problems.length || !loaded) {
        loaded?.model.dispose();
        const list = problems.map((p, i) => `(${i + 1}) ${p}`).join(' ');
        throw new UserError(`quickstart is missing ${problems.length === 1 ? 'one thing' : `${problems.length} things`}: ${list} Then run mpl quickstart${f.weights ? ` --weights ${f.weights}` : ''} --root ${f.root} again (or mpl quickstart --offline: no download).`);
      }
      try {
        reporter.info(`3/3  MPL base-to-new on EuroSAT, seed ${f.seed}, ${f.epochs ?? 5} epochs`);
        const [r] = await runBase2New({
          model: loaded.model,
          backbone: loaded.backbone,
          weightsFile: loaded.file,
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
        const html = writeHtmlReport([f.out], path.join(f.out, 'report')).index;
        if (f.json) {
          process.stdout.write(JSON.stringify({ mode: 'online', model: f.weights ?? f.model, dataset: 'eurosat', seed: f.seed, mpl: triple(r), report, html, run: resultRunDir(f.out, r) }) + '\n');
          return;
        }
        process.stdout.write(
          `\nMPL on EuroSAT (ViT-B/16, 16 shots, seed ${f.seed}): base ${percent(r.base!)}  new ${percent(r.new!)}  HM ${percent(r.hm!)}\n` +
            `${f.fullTest ? '' : `(evaluated on up to ${f.maxTestImages} test images per split; --full-test for the papers' protocol)\n`}` +
            `report: ${report}\nhtml:   ${html}\nrun:    ${resultRunDir(f.out, r)}\n`,
        );
      } finally {
        loaded.model.dispose();
      }
    });
}
