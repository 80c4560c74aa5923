import { Command, Option } from 'commander';
import { registerDataDownload } from './download.js';
import { registerDataSynth } from './synth.js';
import { UserError } from '../../util/errors.js';
import { snakeKeys } from '../../util/json.js';
import { addMaxImagePixelsOption, intFlag, MAX_SEED } from '../flags.js';
import { terminalReporter } from '../reporter.js';
import { describeDataset, generateSplit, loadDataset } from '../../data/dataset.js';
import { DATASETS, DATASET_NAMES, getDataset } from '../../data/datasets/index.js';
import { SPLIT_SOURCES } from '../../data/datasets/common.js';
import { sampleFewshot, subsampleClasses } from '../../data/fewshot.js';
import { DataLoader } from '../../data/loader.js';
import { readSplitFile } from '../../data/splits.js';
import type { Subsample } from '../../data/types.js';
import { RUN_RANGES } from '../../eval/run-config.js';


const subsampleOption = () =>
  new Option('--subsample <half>', 'classes to keep: all, base (first ceil(n/2) labels) or new (the rest)')
    .choices(['all', 'base', 'new'])
    .default('all');

/** JSON on stdout, snake_case keys like every JSON the tool writes (the values here hold no data-named keys). */
function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(snakeKeys(value, true)) + '\n');
}

function preview(names: string[], max = 12): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')}, ... (${names.length - max} more)`;
}

export function register(program: Command): void {
  const data = program
    .command('data')
    .description('inspect datasets, draw the official few-shot subsets, generate missing splits, check images')
    .addHelpText(
      'after',
      `
Datasets: ${DATASET_NAMES.join(', ')}
--root is CoOp's $DATA folder (the one holding eurosat/, dtd/, ...); for imagefolder it is the image
folder itself, for jsonlist the JSON file. See docs/data.md.

Examples:
  mpl data list
  mpl data info eurosat --root ~/data --shots 16 --seed 1
  mpl data fewshot --split ~/data/eurosat/split_zhou_EuroSAT.json --shots 16 --seed 1 --json
  mpl data split dtd --root ~/data --generate
  mpl data check oxford_pets --root ~/data --shots 16 --seed 1
  mpl data download eurosat --root ~/data
  mpl data synth --root ~/data                  the generated synthshapes dataset`,
    );
  registerDataDownload(data);
  registerDataSynth(data);

  data
    .command('list')
    .description('list the datasets with their folder layout')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  mpl data list --json')
    .action((opts: { json?: boolean }) => {
      const rows = DATASETS.map((d) => ({
        name: d.name,
        displayName: d.displayName,
        folder: d.dirName ?? null,
        splitFile: d.splitFile ?? null,
        testOnly: Boolean(d.testOnly),
        template: d.template,
        layout: d.layout,
      }));
      if (opts.json) return printJson(rows);
      for (const r of rows) {
        process.stdout.write(`${r.name.padEnd(16)} ${r.displayName.padEnd(20)} ${r.layout}\n`);
      }
    });

  data
    .command('info')
    .description('classes, images per split, base/new classes and the few-shot subset of a seed')
    .argument('<name>', `dataset (${DATASET_NAMES.join(', ')})`)
    .requiredOption('--root <dir>', "data root (CoOp's $DATA), or the dataset itself")
    .option('--shots <K>', 'also draw the K-shot subset', intFlag('--shots', RUN_RANGES.shots), 0)
    .option('--seed <S>', 'run seed of the few-shot subset', intFlag('--seed', { max: MAX_SEED }), 1)
    .option('--split-file <file>', 'use this split file instead of split_zhou_<Name>.json')
    .option('--allow-generated-split', 'use split_mpl_generated_<Name>.json when the official split is missing')
    .option('--no-check-files', 'do not check that every image of the split exists')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Examples:
  mpl data info eurosat --root ~/data
  mpl data info oxford_pets --root ~/data --shots 16 --seed 2 --json
  mpl data info imagefolder --root ./my_images --shots 4`,
    )
    .action(
      (
        name: string,
        opts: { root: string; shots: number; seed: number; splitFile?: string; allowGeneratedSplit?: boolean; checkFiles: boolean; json?: boolean },
      ) => {
        const reporter = terminalReporter({ quiet: opts.json });
        const info = describeDataset(name, {
          root: opts.root,
          shots: opts.shots,
          seed: opts.seed,
          splitFile: opts.splitFile,
          allowGeneratedSplit: opts.allowGeneratedSplit,
          checkFiles: opts.checkFiles,
          reporter,
        });
        if (opts.json) return printJson(info);
        const out: string[] = [];
        out.push(`${info.displayName} (${info.name})`);
        out.push(`  folder:    ${info.imageDir}`);
        out.push(`  lists:     ${info.source}${info.generatedSplit ? '  [GENERATED, not the official split]' : ''}`);
        out.push(`  template:  "${info.template}"`);
        out.push(`  classes:   ${info.classnames.length}${info.testOnly ? ' (test only)' : ` (base ${info.baseClasses.length} / new ${info.newClasses.length})`}`);
        out.push(`  images:    train ${info.counts.train}, val ${info.counts.val}, test ${info.counts.test}`);
        if (!info.testOnly && info.trainPerClass.length > 0) {
          out.push(`  train images per class: min ${Math.min(...info.trainPerClass)}, max ${Math.max(...info.trainPerClass)}`);
          out.push(`  base:      ${preview(info.baseClasses)}`);
          out.push(`  new:       ${preview(info.newClasses)}`);
        } else {
          out.push(`  classes:   ${preview(info.classnames)}`);
        }
        if (info.fewshot) {
          const f = info.fewshot;
          out.push(`  ${f.shots}-shot subset, seed ${f.seed}: train ${f.train.length}, val ${f.val.length}` + (f.fromCache ? ` (cached in ${f.cacheFile})` : ''));
          out.push(`    train: ${preview(f.train, 6)}`);
          if (f.val.length > 0) out.push(`    val:   ${preview(f.val, 6)}`);
        }
        process.stdout.write(out.join('\n') + '\n');
      },
    );

  data
    .command('fewshot')
    .description("the few-shot subset Dassl draws from a split file, in the official sampler's order (images need not exist)")
    .requiredOption('--split <file>', 'a split file in the split_zhou_*.json format')
    .requiredOption('--shots <K>', 'shots per class (val gets min(K, 4); 0 = all images)', intFlag('--shots', RUN_RANGES.shots))
    .requiredOption('--seed <S>', 'the run seed (random.seed(S))', intFlag('--seed', { max: MAX_SEED }))
    .addOption(subsampleOption())
    .option('--json', 'print {"train": [path, ...], "val": [path, ...]} (paths as written in the split file)')
    .addHelpText(
      'after',
      `
Reproduces split_fewshot/shot_K-seed_S.pkl of the official code: random.seed(S), then
generate_fewshot_dataset(train, K) and generate_fewshot_dataset(val, min(K, 4)).

Examples:
  mpl data fewshot --split ~/data/eurosat/split_zhou_EuroSAT.json --shots 16 --seed 1 --json
  mpl data fewshot --split ~/data/oxford_pets/split_zhou_OxfordPets.json --shots 4 --seed 3 --subsample base`,
    )
    .action((opts: { split: string; shots: number; seed: number; subsample: Subsample; json?: boolean }) => {
      const split = readSplitFile(opts.split);
      const drawn = sampleFewshot(split.train, split.val, opts.shots, opts.seed);
      const [train, val] = subsampleClasses(opts.subsample, drawn.train, drawn.val);
      if (opts.json) return printJson({ train: train.map((e) => e.relpath), val: val.map((e) => e.relpath) });
      const lines = [`# train (${train.length})`, ...train.map((e) => `${e.relpath}\t${e.label}\t${e.classname}`)];
      lines.push(`# val (${val.length})`, ...val.map((e) => `${e.relpath}\t${e.label}\t${e.classname}`));
      process.stdout.write(lines.join('\n') + '\n');
    });

  data
    .command('split')
    .description('show which split file a dataset uses, or generate an unofficial one the way CoOp does')
    .argument('<name>', 'dataset')
    .requiredOption('--root <dir>', "data root (CoOp's $DATA)")
    .option('--generate', 'generate split_mpl_generated_<Name>.json (NOT the official split)')
    .option('--seed <S>', 'seed of the generated split', intFlag('--seed', { max: MAX_SEED }), 1)
    .option('--force', 'overwrite an existing generated split')
    .addHelpText(
      'after',
      `
Official split files (split_zhou_<Name>.json) come from ${SPLIT_SOURCES}.
A generated split follows CoOp's own procedure (DTD-style 50/20/30 per class, or 80/20 of the official
trainval list) on sorted file lists; it is written under a different name, marked as generated, and is
only read when you pass --allow-generated-split. Results on it are not comparable with published numbers.

Examples:
  mpl data split eurosat --root ~/data
  mpl data split dtd --root ~/data --generate --seed 1`,
    )
    .action((name: string, opts: { root: string; generate?: boolean; seed: number; force?: boolean }) => {
      const def = getDataset(name);
      if (opts.generate) {
        const r = generateSplit(def.name, { root: opts.root, seed: opts.seed, force: opts.force });
        process.stdout.write(
          `wrote ${r.file}: ${r.counts.classes} classes, train ${r.counts.train}, val ${r.counts.val}, test ${r.counts.test}\n` +
            `this is NOT the official split; use it with --allow-generated-split\n`,
        );
        return;
      }
      if (!def.splitFile) {
        process.stdout.write(`${def.name} uses no split file: ${def.layout}\n`);
        return;
      }
      // Without --generate: which file would be used (the error says where to get a missing one).
      const ds = loadDataset(def.name, { root: opts.root, checkFiles: false, cacheFewshot: false });
      process.stdout.write(`${def.name}: ${ds.source} (train ${ds.train.length}, val ${ds.val.length}, test ${ds.test.length})\n`);
    });

  addMaxImagePixelsOption(data.command('check'))
    .description('decode every image of a dataset (or of its few-shot subset) and report unreadable ones')
    .argument('<name>', 'dataset')
    .requiredOption('--root <dir>', "data root (CoOp's $DATA), or the dataset itself")
    .option('--shots <K>', 'check only the K-shot train/val subset (plus test)', intFlag('--shots', RUN_RANGES.shots), 0)
    .option('--seed <S>', 'run seed of the few-shot subset', intFlag('--seed', { max: MAX_SEED }), 1)
    .option('--split-file <file>', 'use this split file instead of split_zhou_<Name>.json')
    .option('--allow-generated-split', 'use split_mpl_generated_<Name>.json when the official split is missing')
    .option('--workers <N>', 'decoding worker threads', intFlag('--workers', { min: 1, max: 1024 }))
    .addHelpText(
      'after',
      `
Exits with status 1 if any image cannot be decoded (missing, truncated, corrupt, smaller than 2 pixels).
Training and evaluation stop on such an image unless --skip-bad-images is given.

Examples:
  mpl data check eurosat --root ~/data
  mpl data check imagefolder --root ./my_images --workers 4`,
    )
    .action(
      async (
        name: string,
        opts: { root: string; shots: number; seed: number; splitFile?: string; allowGeneratedSplit?: boolean; workers?: number },
      ) => {
        const reporter = terminalReporter();
        const ds = loadDataset(name, {
          root: opts.root,
          shots: opts.shots,
          seed: opts.seed,
          splitFile: opts.splitFile,
          allowGeneratedSplit: opts.allowGeneratedSplit,
          checkFiles: false, // missing files are reported below with the others
          cacheFewshot: 'read-only',
          reporter,
        });
        const seen = new Set<string>();
        const items = [...ds.train, ...ds.val, ...ds.test].filter((d) => !seen.has(d.impath) && seen.add(d.impath));
        // A tiny output size: decoding dominates, and every decode error is what we look for.
        const loader = new DataLoader(items, { mode: 'eval', imageSize: 8, batchSize: 64, numWorkers: opts.workers, skipBadImages: true });
        const bar = reporter.progress('checking images', items.length, 'images');
        const bad: string[] = [];
        let done = 0;
        try {
          for await (const b of loader.batches()) {
            done += b.size + b.skipped.length;
            for (const s of b.skipped) bad.push(s.reason);
            bar.update(done);
          }
        } finally {
          bar.stop();
          await loader.close();
        }
        process.stdout.write(`${ds.displayName}: ${items.length} images checked, ${bad.length} unreadable\n`);
        for (const b of bad.slice(0, 50)) process.stdout.write(`  ${b}\n`);
        if (bad.length > 50) process.stdout.write(`  ... ${bad.length - 50} more\n`);
        if (bad.length > 0) throw new UserError(`${bad.length} unreadable image(s) in ${ds.displayName}`);
      },
    );
}
