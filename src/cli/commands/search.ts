import * as path from 'node:path';
import { Option, type Command } from 'commander';
import type { BackboneModel } from '../../backbones/model.js';
import { RECIPES } from '../../prompting/methods/index.js';
import { readSearchFile, recordReads, SEARCH_PROTOCOLS, trialDir, type SearchFile, type SearchProtocol, type SearchSettings } from '../../search/files.js';
import { runFinal } from '../../search/final.js';
import { TrialRunner } from '../../search/objective.js';
import { searchSummary, writeSearchReport } from '../../search/report.js';
import { runSearch } from '../../search/search.js';
import { parseRange } from '../../search/space.js';
import { sweepBackbone } from '../../sweep/expand.js';
import { UserError } from '../../util/errors.js';
import { ensureDir } from '../../util/fs.js';
import { lockRunFolder } from '../../util/lock.js';
import { addComputeOptions, computeFrom, type ComputeFlags } from '../compute-options.js';
import { addDataLoaderOptions, addMaxImagePixelsOption, intFlag, intListFlag, MAX_SEED, numberFlag } from '../flags.js';
import { sayHowToResumeOnInterrupt } from '../interrupt.js';
import { architectureOf, modelFrom } from '../model.js';
import { terminalReporter } from '../reporter.js';
import { addExecutorOptions, slurmSettingsOf, type ExecutorFlags } from './sweep.js';
import { DEFAULT_SHOTS, RUN_RANGES } from '../../eval/run-settings.js';

interface SearchFlags extends ComputeFlags, ExecutorFlags {
  augment?: boolean;
  weights?: string;
  model?: string;
  dataset?: string;
  name?: string;
  root: string;
  protocol: string;
  depth?: string;
  add: string;
  rm: string;
  nCtx: number;
  ctxInit: string;
  maxParams?: number;
  maxTokens?: number;
  maxStepMs?: number;
  candidates: number;
  rounds: number;
  eta: number;
  minEpochs?: number;
  maxEpochs?: number;
  seed: number;
  seeds?: number[];
  shots: number;
  lr?: number;
  batchSize?: number;
  out: string;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
  workers?: number;
  skipBadImages?: boolean;
  allowGeneratedSplit?: boolean;
  final?: boolean;
  finalSeeds: number[];
  targets?: string;
  pollSeconds?: number;
}

/** `mpl search` and the hidden `mpl search-trial` that the executors start. */
export function register(program: Command): void {
  const cmd = program
    .command('search')
    .description("search MPL's per-layer add/remove schedule on your data (successive halving; never reads the test split or the new classes)")
    .option('--weights <file>', 'CLIP weights file (safetensors or OpenAI .pt)')
    .option('--model <name>', 'pretrained CLIP by name (ViT-B/16, ...)')
    .option('--dataset <name>', 'dataset (eurosat, dtd, ..., imagefolder, jsonlist)')
    .option('--name <name>', 'imagefolder / jsonlist: a name for your dataset')
    .requiredOption('--root <dir>', "CoOp's data folder, or the imagefolder / JSON list")
    .addOption(new Option('--protocol <p>', 'the protocol to choose a schedule for').choices([...SEARCH_PROTOCOLS]).default('base2new'))
    .option('--depth <range>', 'prompt depths to try, FROM-TO (default 2 to the model\'s layers, at most 12)')
    .option('--add <range>', 'vision tokens added per deep layer (multiples of --n-ctx)', '0-3')
    .option('--rm <range>', 'prompt tokens removed per deep layer', '0-2')
    .option('--n-ctx <n>', 'text context tokens = tokens per coupling map (MPL N_CTX)', intFlag('--n-ctx', { min: 1, max: 75 }), 1)
    .option('--ctx-init <words>', 'words after the learnable context', 'a photo of a')
    .option('--max-params <n>', 'budget: trainable parameters', intFlag('--max-params', { min: 1 }))
    .option('--max-tokens <n>', 'budget: prompt tokens in the vision sequence at any layer', intFlag('--max-tokens'))
    .option('--max-step-ms <x>', 'budget: measured ms per training step (candidates above it neither continue nor win; not reproducible)', numberFlag('--max-step-ms', { exclusiveMin: true }))
    .option('--candidates <n>', 'schedules to evaluate (the references included)', intFlag('--candidates', { min: 1, max: 100_000 }), 16)
    .option('--rounds <n>', 'rounds of successive halving; rounds after the first propose mutations of the best so far', intFlag('--rounds', { min: 1, max: 1000 }), 1)
    .option('--eta <n>', 'successive halving: 1/eta of a rung continue, for eta times the epochs', intFlag('--eta', { min: 2, max: 100 }), 2)
    .option('--min-epochs <n>', 'epochs of the first rung (default 2: epoch 1 is the warm-up at lr 1e-5)', intFlag('--min-epochs', { min: 1, max: 100_000 }))
    .option('--max-epochs <n>', "the full budget: epochs of the training schedule (default MPL's 5)", intFlag('--max-epochs', { min: 1, max: 100_000 }))
    .option('--seed <n>', 'search seed: proposals and the pseudo-base/new split', intFlag('--seed', { max: MAX_SEED }), 1)
    .option('--seeds <list>', 'seeds the objective averages over (few-shot subset, initialisation; default: --seed)', intListFlag('--seeds', { max: MAX_SEED }))
    .option('--shots <k>', 'training images per class (0 = all)', intFlag('--shots', RUN_RANGES.shots), DEFAULT_SHOTS)
    .option('--lr <x>', `learning rate (default MPL's ${RECIPES.mpl.lr})`, numberFlag('--lr', RUN_RANGES.lr))
    .option('--batch-size <n>', `batch size (default MPL's ${RECIPES.mpl.batchSize})`, intFlag('--batch-size', RUN_RANGES.batchSize))
    .option('--out <dir>', 'the search folder', 'search')
    .option('--force', 'start the search in --out over')
    .option('--json', 'print the result as JSON: { best, candidates, read_splits, ... }')
    .option('--quiet', 'no progress output')
    .option('--final', 'then train the best schedule and the default MPL with the real protocol and print one table')
    .option('--final-seeds <list>', 'seeds of --final', intListFlag('--final-seeds', { max: MAX_SEED }), [1, 2, 3])
    .option('--targets <list>', '--final of xd / dg: the target datasets')
    .option('--poll-seconds <n>', 'slurm: how often to ask SLURM about the trials', intFlag('--poll-seconds', { min: 1 }));
  addExecutorOptions(addComputeOptions(addMaxImagePixelsOption(addDataLoaderOptions(cmd, { augment: true }))), 'trials one after the other in this process (the default)')
    .addHelpText(
      'after',
      `
Examples:
  mpl search --weights clip.safetensors --dataset imagefolder --root ./photos --protocol base2new --depth 2-9 --add 0-3 --rm 0-2 --out search
  mpl search --model ViT-B/16 --dataset eurosat --root ~/data --candidates 32 --rounds 2 --seeds 1,2 --final
  mpl search ... --executor local --parallel 2 --precision fp32      trials as processes, two at a time
  mpl search ... --executor slurm --gres gpu:1 --precision fp16      one SLURM array task per trial
  mpl search ...                        again: continues where it stopped (--force starts over)
The objective never reads the test split or the new classes: base-to-new splits the BASE classes into
pseudo-base and pseudo-new, trains on pseudo-base and scores HM on the val images of both (docs/search.md).
Writes <out>/leaderboard.md, leaderboard.csv, search.svg/.png, result.json; the best as ready flags, e.g.
  mpl base2new ... --method mpl --depth 4 --schedule "1-2:add2,rm1;3:add1,rm1"`,
    )
    .action(async (f: SearchFlags) => {
      if (!f.dataset) throw new UserError('--dataset is required');
      if (!f.weights && !f.model) throw new UserError('give --weights FILE or --model ViT-B/16');
      const reporter = terminalReporter({ quiet: f.quiet });
      const compute = computeFrom(f);
      const executor = f.executor as 'inprocess' | 'local' | 'slurm';
      if (executor !== 'inprocess' && (f.precision ?? 'auto') === 'auto') {
        throw new UserError(`--executor ${executor}: give --precision (fp32, fp16, amp or bf16): it is part of every trial's identity, and auto would resolve on each machine`);
      }
      const arch = await architectureOf(f);
      const layers = Math.min(arch.vision.layers, arch.text.layers);
      const maxEpochs = f.maxEpochs ?? RECIPES.mpl.epochs;
      const settings: SearchSettings = {
        backbone: sweepBackbone(f),
        ...(f.weights ? { weights: path.resolve(f.weights) } : { model: f.model }),
        protocol: f.protocol as SearchProtocol,
        dataset: f.dataset,
        ...(f.name ? { name: f.name } : {}),
        root: path.resolve(f.root),
        shots: f.shots,
        seed: f.seed,
        seeds: f.seeds ?? [f.seed],
        bounds: {
          depth: parseRange('--depth', f.depth ?? `2-${Math.min(layers, 12)}`),
          add: parseRange('--add', f.add),
          rm: parseRange('--rm', f.rm),
          nCtx: f.nCtx,
          ...(f.maxParams !== undefined ? { maxParams: f.maxParams } : {}),
          ...(f.maxTokens !== undefined ? { maxTokens: f.maxTokens } : {}),
        },
        candidates: f.candidates,
        rounds: f.rounds,
        eta: f.eta,
        min_epochs: f.minEpochs ?? Math.min(2, maxEpochs),
        max_epochs: maxEpochs,
        lr: f.lr ?? RECIPES.mpl.lr,
        batch_size: f.batchSize ?? RECIPES.mpl.batchSize,
        ctx_init: f.ctxInit,
        precision: executor === 'inprocess' ? compute.precision.name : f.precision!,
        allow_generated_split: Boolean(f.allowGeneratedSplit),
        ...(f.augment === false ? { augment: false as const } : {}),
      };
      const file: SearchFile = { format: 'mpl-search/1', settings, device: f.device ?? 'auto', ...(f.workers !== undefined ? { workers: f.workers } : {}), ...(f.skipBadImages ? { skip_bad_images: true } : {}) };
      // loaded when needed, after the search checked its data (bad data fails before a model loads)
      const held: { model?: BackboneModel } = {};
      const model = async () => (held.model ??= (await modelFrom(f, compute)).model);
      const stopHint = sayHowToResumeOnInterrupt(f.out);
      try {
        const result = await runSearch({
          out: path.resolve(f.out),
          file,
          arch,
          executor,
          model,
          external: { parallel: f.parallel, slurm: slurmSettingsOf(f), pollMs: f.pollSeconds !== undefined ? f.pollSeconds * 1000 : undefined, device: f.device },
          maxStepMs: f.maxStepMs,
          force: f.force,
          reporter,
        });
        const title = `Schedule search: ${settings.name ?? settings.dataset}, ${settings.protocol}, ${settings.backbone}`;
        const files = await writeSearchReport(result, title);
        const final = f.final
          ? await runFinal(result, settings, {
              model: await model(),
              seeds: f.finalSeeds,
              targets: f.targets?.split(',').map((t) => t.trim()),
              deviceDescription: compute.description,
              numWorkers: f.workers,
              skipBadImages: f.skipBadImages,
              reporter,
            })
          : null;
        if (f.json) {
          process.stdout.write(JSON.stringify({ ...result, files, ...(final ? { final } : {}) }, null, 2) + '\n');
        } else {
          process.stdout.write(searchSummary(result, files) + (final ? `\n${final.table}\n(${final.table_file})\n` : ''));
        }
      } finally {
        stopHint();
        held.model?.dispose();
      }
    });

  program
    .command('search-trial', { hidden: true })
    .description('one trial of a search (what `mpl search --executor local|slurm` starts)')
    .requiredOption('--out <dir>', 'the search folder')
    .requiredOption('--candidate <id>', 'candidate id')
    .requiredOption('--depth <n>', 'prompt depth', intFlag('--depth', { min: 2, max: 1000 }))
    .requiredOption('--schedule <spec>', 'its --schedule')
    .requiredOption('--seed <n>', 'seed', intFlag('--seed', { max: MAX_SEED }))
    .requiredOption('--epochs <n>', 'train up to this epoch', intFlag('--epochs', { min: 1 }))
    .action(async (f: { out: string; candidate: string; depth: number; schedule: string; seed: number; epochs: number }) => {
      if (!/^c\d+$/.test(f.candidate)) throw new UserError(`--candidate must be like c07, got '${f.candidate}'`);
      const out = path.resolve(f.out);
      const file = readSearchFile(out);
      const s = file.settings;
      const spec = { candidate: f.candidate, depth: f.depth, schedule: f.schedule, seed: f.seed, epochs: f.epochs };
      const dir = trialDir(out, spec);
      ensureDir(dir);
      using lock = lockRunFolder(dir);
      const stopReads = recordReads(out);
      const reporter = terminalReporter({ quiet: true });
      const loaded = await modelFrom(s, computeFrom({ device: file.device, precision: s.precision }));
      const runner = new TrialRunner(out, s, loaded.model, { numWorkers: file.workers, skipBadImages: file.skip_bad_images, reporter });
      try {
        const r = await runner.run(spec);
        process.stdout.write(`${r.candidate} seed ${r.seed} after ${r.epochs} epochs: ${r.objective.toFixed(2)}\n`);
      } finally {
        await runner.close();
        loaded.model.dispose();
        stopReads();
      }
    });
}
