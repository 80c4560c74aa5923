import * as path from 'node:path';
import type { Command } from 'commander';
import { loadClip } from '../../clip/load.js';
import { downloadDataset } from '../../data/download.js';
import { collect } from '../../eval/report/collect.js';
import { formatMarkdown } from '../../eval/report/format.js';
import { runBase2New } from '../../eval/protocols.js';
import { runDirOf, type RunConfig } from '../../eval/run-config.js';
import { cacheDir } from '../../net/cache.js';
import { UserError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { intFlag, MAX_SEED } from '../flags.js';
import { terminalReporter } from '../reporter.js';
import { addComputeOptions, announce, computeFrom, type ComputeFlags } from '../compute-options.js';

interface QuickstartFlags extends ComputeFlags {
  model: string;
  weights?: string;
  root: string;
  out: string;
  epochs: number;
  seed: number;
  maxTestImages: number;
  fullTest?: boolean;
}

/**
 * The README's main job: fetch ViT-B/16 and EuroSAT, train MPL base-to-new for seed 1, print base/new/HM
 * and where the report is. Offline, each failing step says exactly which file to place where.
 */
export function register(program: Command): void {
  const cmd = program
    .command('quickstart')
    .description('fetch ViT-B/16 and EuroSAT, train MPL base-to-new (seed 1), print base / new / HM')
    .option('--model <name>', 'pretrained CLIP', 'ViT-B/16')
    .option('--weights <file>', 'use a local weights file instead of downloading')
    .option('--root <dir>', "data folder (CoOp layout); EuroSAT goes to <root>/eurosat", path.join(cacheDir(), 'data'))
    .option('--out <dir>', 'output folder', 'output/quickstart')
    .option('--epochs <n>', 'training epochs (MPL config: 5)', intFlag('--epochs', { max: 100_000 }), 5)
    .option('--seed <n>', 'seed', intFlag('--seed', { max: MAX_SEED }), 1)
    .option('--max-test-images <n>', 'evaluate on an evenly strided subset of at most N test images per split (CPU-friendly)', intFlag('--max-test-images', { min: 1 }), 1000)
    .option('--full-test', 'evaluate on the full test sets (as the papers do)');
  addComputeOptions(cmd)
    .addHelpText(
      'after',
      `
Examples:
  mpl quickstart                                  everything from the internet, ~10-20 min on a 2-core CPU
  mpl quickstart --weights clip-vit-b16.safetensors --root ~/data --full-test`,
    )
    .action(async (f: QuickstartFlags) => {
      const reporter = terminalReporter();
      reporter.info(`1/3  CLIP ${f.weights ?? f.model}`);
      const compute = computeFrom(f);
      announce(compute, reporter);
      // Both inputs are tried before anything fails, so that an offline machine hears about everything it lacks at once.
      const problems: string[] = [];
      let loaded: Awaited<ReturnType<typeof loadClip>> | undefined;
      try {
        loaded = await loadClip({ model: f.model, weights: f.weights, reporter, device: compute.device, precision: compute.precision });
      } catch (e) {
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
        throw new UserError(`quickstart is missing ${problems.length === 1 ? 'one thing' : `${problems.length} things`}: ${list} Then run mpl quickstart${f.weights ? ` --weights ${f.weights}` : ''} --root ${f.root} again.`);
      }
      try {
        reporter.info(`3/3  MPL base-to-new on EuroSAT, seed ${f.seed}, ${f.epochs} epochs`);
        const [r] = await runBase2New({
          model: loaded.model,
          backbone: loaded.backbone,
          method: 'mpl',
          methodOptions: {},
          root: f.root,
          dataset: 'eurosat',
          seeds: [f.seed],
          epochs: f.epochs,
          out: f.out,
          maxTestImages: f.fullTest ? undefined : f.maxTestImages,
          reporter,
        });
        const report = path.join(f.out, 'report.md');
        writeFileAtomic(report, formatMarkdown(collect([f.out]), {}));
        process.stdout.write(
          `\nMPL on EuroSAT (ViT-B/16, 16 shots, seed ${f.seed}): base ${r.base!.toFixed(2)}  new ${r.new!.toFixed(2)}  HM ${r.hm!.toFixed(2)}\n` +
            `${f.fullTest ? '' : `(evaluated on up to ${f.maxTestImages} test images per split; --full-test for the papers' protocol)\n`}` +
            `report: ${report}\nrun:    ${runDirOf(f.out, r.config as unknown as RunConfig)}\n`,
        );
      } finally {
        loaded.model.dispose();
      }
    });
}
