import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { preflight, runBase2New, runTransfer, XD_TARGETS, DG_TARGETS, FEWSHOT_SHOTS, type ProtocolOptions } from '../../eval/protocols.js';
import { asLogged, b2nStats, HM_RULE, HM_SPREAD, mean, populationStd, SPREAD_NAME } from '../../report/collect.js';
import { readResultFile } from '../../report/result-files.js';
import type { RunResult } from '../../eval/results.js';
import { resultRunDir } from '../../eval/run-config.js';
import { percent } from '../../util/format.js';
import { UserError } from '../../util/errors.js';
import { addDataLoaderOptions, addMaxImagePixelsOption, intFlag, intListFlag } from '../flags.js';
import { addMethodOptions, methodFrom, type MethodFlags } from '../method-options.js';
import { addComputeOptions, computeFrom, type ComputeFlags } from '../compute-options.js';
import { applyConfig, collect, type AppliedConfig, type ConfiguredCommand } from '../config-file.js';
import { sayHowToResumeOnInterrupt } from '../interrupt.js';
import { architectureOf, modelFrom } from '../model.js';
import type { BackboneArchitecture } from '../../backbones/model.js';
import { terminalReporter } from '../reporter.js';
import { checkMethod, methodDef } from '../../prompting/methods/index.js';
import { DEFAULT_PRECISION, RUN_RANGES, RUN_SETTINGS, givenSettings, recordedValue, type GivenRunSettings } from '../../eval/run-settings.js';
import { addRunSettingOptions } from '../run-setting-options.js';

/** The parsed flags: the run settings (the table's keys are the flags' attribute names), method options, ... */
interface RunFlags extends MethodFlags, ComputeFlags, GivenRunSettings {
  weights?: string;
  model?: string;
  dataset: string;
  name?: string;
  root: string;
  seeds: number[];
  out: string;
  resume?: boolean;
  force?: boolean;
  skipBadImages?: boolean;
  allowGeneratedSplit?: boolean;
  targets?: string;
  target?: string[];
  k?: number[];
  quiet?: boolean;
  config?: string[];
}

function common(cmd: Command, datasetDefault?: string): Command {
  cmd
    .argument('[overrides...]', 'Dassl KEY VALUE overrides after a Dassl --config, e.g. DATASET.NUM_SHOTS 16 OPTIM.MAX_EPOCH 2')
    .option('--config <file>', 'YAML or JSON settings (flag names, or an official Dassl/MPL config file as it is); repeatable; flags given here win', collect)
    .option('--weights <file>', 'CLIP weights: a file (safetensors, OpenAI .pt, pytorch_model.bin) or a Hugging Face snapshot folder')
    .option('--model <name>', 'pretrained CLIP by name, from the Hugging Face cache or hub (see mpl models)')
    .option('--dataset <name>', 'dataset (eurosat, dtd, ..., imagefolder, jsonlist)', datasetDefault)
    .option('--name <name>', 'imagefolder / jsonlist: a name for your dataset in run folders and tables')
    // required, but checked after the config files (DATASET.ROOT may give it)
    .option('--root <dir>', "CoOp's data folder (holding eurosat/, dtd/, ...) or the imagefolder / JSON list (required)");
  addRunSettingOptions(cmd)
    .option('--out <dir>', 'output folder', 'output')
    .option('--resume', 'continue a run from its checkpoint when the configuration is the same (the default)')
    .option('--no-resume', 'ignore an existing checkpoint: train from epoch 1')
    .option('--force', 'start over: rerun runs that already have a result, replace their checkpoint')
    .option('--quiet', 'no progress output');
  return addMethodOptions(addComputeOptions(addMaxImagePixelsOption(addDataLoaderOptions(cmd, { augment: true }))), 'mpl');
}

const CONFIG_HELP = `
Config files: --config run.yaml (keys named like the flags), or the official files as they are:
  mpl base2new --config configs/trainers/MPL/vit_b4_c1_add2_rm1.yaml --config configs/datasets/eurosat.yaml \\
    --root ~/data DATASET.NUM_SHOTS 16
OPTIM.*, TRAINER.<NAME>.*, DATALOADER.*, DATASET.*, INPUT.*, TRAIN.PRINT_FREQ, MODEL.BACKBONE.NAME, SEED and
OUTPUT_DIR are mapped onto the flags; a key asking for behaviour this tool lacks is refused (docs/config.md).`;

type Unloaded = Omit<ProtocolOptions, 'model'>;

/**
 * The protocol options of the flags. `check` runs before the model is loaded (a download can take minutes):
 * the datasets and images are checked first (preflight), and every problem is reported before anything is
 * fetched or trained.
 */
async function optionsFrom(f: RunFlags, applied: AppliedConfig, check: (o: Unloaded, arch?: BackboneArchitecture) => void): Promise<ProtocolOptions> {
  const { method, options } = methodFrom(f);
  if (!f.dataset) throw new UserError('--dataset is required');
  if (!f.root) throw new UserError('--root is required (or DATASET.ROOT in a config file)');
  const reporter = terminalReporter({ quiet: f.quiet });
  const compute = computeFrom(f);
  const unloaded: Unloaded = {
    deviceDescription: compute.description,
    computeSummary: compute.summary,
    backbone: '',
    weights: f.weights ? path.resolve(f.weights) : undefined,
    modelName: f.weights ? undefined : f.model,
    method,
    methodOptions: options,
    root: f.root,
    dataset: f.dataset,
    name: f.name,
    // every run setting of the table (--precision is the loaded model's, --workers the loader's numWorkers)
    ...(({ precision: _p, workers: _w, ...given }) => given)(givenSettings(f)),
    seeds: f.seeds,
    out: f.out,
    resume: f.resume,
    force: f.force,
    skipBadImages: f.skipBadImages,
    allowGeneratedSplit: f.allowGeneratedSplit,
    numWorkers: f.workers,
    targetRoots: targetRootsOf(f.target),
    reporter,
  };
  check(unloaded, await knownArchitectureOf(f));
  const loaded = await modelFrom(f, compute);
  for (const note of applied.notes) reporter.info(`config: ${note}`);
  if (applied.inputSize !== undefined && applied.inputSize !== loaded.model.imageSize) {
    reporter.warn(`config: INPUT.SIZE ${applied.inputSize} differs from the model's input size ${loaded.model.imageSize}; the model's size is used (a CLIP ViT has one input resolution)`);
  }
  return { ...unloaded, model: loaded.model, backbone: loaded.backbone, weightsFile: loaded.file, preflighted: true };
}

/**
 * The architecture when it is known without loading the model (a weights file's header, a known model name),
 * so preflight can check the method and the prompt lengths before anything heavy; else undefined (the run
 * checks them itself before creating its folder).
 */
async function knownArchitectureOf(f: RunFlags): Promise<BackboneArchitecture | undefined> {
  try {
    return await architectureOf({ weights: f.weights, model: f.weights ? undefined : f.model });
  } catch (e) {
    if (e instanceof UserError) return undefined;
    throw e;
  }
}

/** `--target name=path` (repeatable): a dataset folder per target. */
function targetRootsOf(flags: string[] | undefined): Record<string, string> | undefined {
  if (!flags || flags.length === 0) return undefined;
  const roots: Record<string, string> = {};
  for (const t of flags) {
    const m = /^([^=]+)=(.+)$/.exec(t);
    if (!m) throw new UserError(`--target must be NAME=FOLDER (e.g. --target imagenet_r=/data/imagenet-r), got '${t}'`);
    roots[m[1].trim()] = m[2].trim();
  }
  return roots;
}

/** The target list of xd / dg: --targets (default: the protocol's), plus every --target NAME=FOLDER not listed. */
function targetsOf(f: RunFlags, defaults: readonly string[]): string[] {
  const listed = f.targets ? f.targets.split(',').map((t) => t.trim()).filter(Boolean) : [...defaults];
  for (const name of Object.keys(targetRootsOf(f.target) ?? {})) if (!listed.includes(name)) listed.push(name);
  return listed;
}

/** The shots of `mpl fewshot`: --k (default 1,2,4,8,16), or --shots K for one; both must agree. */
function fewshotKs(f: RunFlags): number[] {
  if (f.shots === undefined) return f.k ?? FEWSHOT_SHOTS;
  if (f.k !== undefined && (f.k.length !== 1 || f.k[0] !== f.shots)) throw new UserError(`--shots ${f.shots} and --k ${f.k.join(',')} disagree: give one of them`);
  return [f.shots];
}

/**
 * The summary a protocol command prints: the same aggregation as `mpl table` (b2nStats: per-seed values as
 * logged, HM of the mean base and new), the same rounding, and the spread named.
 */
export function summary(results: RunResult[], keys: string[]): string {
  const seeds = results.map((r) => r.seed).join(', ');
  const n = results.length;
  const pm = (x: number) => (n > 1 ? ` ± ${percent(x)}` : '');
  const lines: string[] = [];
  if (keys.includes('hm')) {
    const s = b2nStats(results.map((r) => ({ base: r.base!, new: r.new! })));
    lines.push(`  base ${percent(s.mean.base)}${pm(s.std.base)}`, `  new  ${percent(s.mean.new)}${pm(s.std.new)}`, `  HM   ${percent(s.mean.hm)}${pm(s.std.hm)}`);
    lines.push(`  (${n} seed${n > 1 ? 's' : ''}: ${seeds}; ${n > 1 ? `± = ${SPREAD_NAME}, ${HM_SPREAD}; ` : ''}${HM_RULE})`);
    return lines.join('\n');
  }
  for (const k of keys) {
    const xs = results.map((r) => r.accuracy?.[k]).filter((x): x is number => typeof x === 'number').map(asLogged);
    if (xs.length === 0) continue;
    lines.push(`  ${k.padEnd(16)} ${percent(mean(xs))}${xs.length > 1 ? ` ± ${percent(populationStd(xs))}` : ''}`);
  }
  lines.push(`  (${n} seed${n > 1 ? 's' : ''}: ${seeds}${n > 1 ? `; ± = ${SPREAD_NAME}` : ''})`);
  return lines.join('\n');
}

/** The configuration folders (holding seed<N>/) the results were written in, each once. */
function resultFolders(out: string, results: RunResult[]): string[] {
  return [...new Set(results.map((r) => path.dirname(resultRunDir(out, r))))];
}

/** "results in <folder>/ (seed1, seed2)": the folder the runs wrote, as it is on disk. */
function resultsIn(out: string, results: RunResult[]): string {
  return resultFolders(out, results).map((d) => `results in ${d}/ (${fs.readdirSync(d).filter((e) => /^seed\d+$/.test(e)).sort().join(', ')})\n`).join('');
}

/** Runs one protocol command with its (configured) flags; resolves to the results of every run. */
async function runCommand(name: ConfiguredCommand, f: RunFlags, applied: AppliedConfig): Promise<RunResult[]> {
  const ks = name === 'fewshot' ? fewshotKs(f) : [];
  const targets = name === 'xd' || name === 'dg' ? targetsOf(f, name === 'xd' ? XD_TARGETS : DG_TARGETS) : [];
  const check = (u: Unloaded, arch?: BackboneArchitecture) => {
    if (name === 'fewshot') ks.forEach((k) => preflight({ ...u, shots: k }, 'fewshot', [], arch));
    else preflight(u, name, targets, arch);
  };
  const o = await optionsFrom(f, applied, check);
  const stopHint = sayHowToResumeOnInterrupt(o.out);
  try {
    if (name === 'base2new') {
      const results = await runBase2New(o);
      process.stdout.write(`base2new ${o.dataset} ${o.method}\n${summary(results, ['base', 'new', 'hm'])}\n${resultsIn(o.out, results)}`);
      return results;
    }
    if (name === 'fewshot') {
      const all: RunResult[] = [];
      for (const k of ks) {
        const results = await runTransfer({ ...o, shots: k }, 'fewshot', []);
        process.stdout.write(`fewshot ${o.dataset} ${k} shots, ${o.method}\n${summary(results, [o.dataset])}\n${resultsIn(o.out, results)}`);
        all.push(...results);
      }
      return all;
    }
    const results = await runTransfer(o, name, targets);
    process.stdout.write(`${name} from ${o.dataset}, ${o.method}\n${summary(results, [o.dataset, ...targets])}\n${resultsIn(o.out, results)}`);
    return results;
  } finally {
    stopHint();
    o.model.dispose();
  }
}

/** The action of a protocol command: config files and Dassl overrides first, then the run. */
function action(name: ConfiguredCommand) {
  return async (overrides: string[], _f: RunFlags, cmd: Command) => {
    const applied = applyConfig(cmd, cmd.opts<RunFlags>().config ?? [], overrides, name);
    await runCommand(name, cmd.opts<RunFlags>(), applied);
  };
}

export function register(program: Command): void {
  common(
    program.command('base2new').description('base-to-new generalisation: train on base classes, test on base and new, harmonic mean'),
  )
    .addHelpText(
      'after',
      `
Examples:
  mpl base2new --model ViT-B/16 --dataset eurosat --root ~/data --method mpl
  mpl base2new --weights clip.safetensors --dataset imagefolder --root ./my_images --method mpl --seeds 1,2 --epochs 5 --out runs
  mpl base2new --weights clip.safetensors --dataset imagefolder --root ./flowers --name flowers --method mpl
  mpl base2new ...                     again: finished runs are skipped, a killed run resumes from its last epoch
  mpl base2new ... --force             start over
Results: <out>/base2new/<dataset>/shots_<k>/<method>/<tag>-<hash>/seed<N>/ (result.json, prompts, log.txt,
metrics.csv), one folder per configuration (e.g. shots_16/mpl/vit_b16_c1_add2_rm1_d9_ep5-3fa9c2d1);
summarise with \`mpl table <out>\`, \`mpl report <out>\`.
${CONFIG_HELP}`,
    )
    .action(action('base2new'));

  for (const [name, desc, defaultTargets] of [
    ['xd', 'cross-dataset transfer: train on a source (ImageNet), test on the other datasets', XD_TARGETS],
    ['dg', 'domain generalisation: train on ImageNet, test on ImageNet-V2/-Sketch/-A/-R', DG_TARGETS],
  ] as const) {
    const command = program.command(name).description(desc);
    if (name === 'xd') command.alias('crossdataset'); // the papers' name for the protocol
    common(command, 'imagenet')
      .option('--targets <list>', `target datasets (default: ${defaultTargets.join(',')})`)
      .option('--target <name=dir>', 'a target dataset in its own folder (repeatable): NAME=FOLDER', collect)
      .addHelpText(
        'after',
        `\nEvery target is loaded and its images checked before training: all problems are listed at once.\nExamples:\n  mpl ${name} --model ViT-B/16 --root ~/data --method mpl --epochs 2\n  mpl ${name} --model ViT-B/16 --root ~/data --method mpl --targets ${defaultTargets[0]} --target ${defaultTargets[1]}=/mnt/other/${defaultTargets[1]}\n${CONFIG_HELP}`,
      )
      .action(action(name));
  }

  common(program.command('fewshot').description('few-shot learning: K = 1, 2, 4, 8, 16 shots per class, all classes'))
    .option('--k <list>', `shots to run (default ${FEWSHOT_SHOTS.join(',')}; 0 = all images)`, intListFlag('--k', RUN_RANGES.shots))
    .addHelpText('after', `\nExample:\n  mpl fewshot --model ViT-B/16 --dataset dtd --root ~/data --method mpl --k 1,4,16\n${CONFIG_HELP}`)
    .action(action('fewshot'));

  registerRerun(program);
}

interface RerunFlags extends ComputeFlags {
  out?: string;
  weights?: string;
  model?: string;
  force?: boolean;
  workers?: number;
  quiet?: boolean;
}

/** Flags that replay a run from the configuration its result.json recorded. */
export function flagsFromResult(r: RunResult, file: string): { name: ConfiguredCommand; flags: RunFlags } {
  const c = r.config as Record<string, unknown>;
  const need = (key: string): unknown => {
    if (recordedValue(c, key) === undefined)
      throw new UserError(`${file}: the recorded configuration has no "${key}" (written by an older version?); run the command again by hand`);
    return recordedValue(c, key);
  };
  if (r.protocol === 'zeroshot') throw new UserError(`${file}: zero-shot results are replayed with mpl eval, not rerun`);
  const options = (c.method_options ?? {}) as Record<string, unknown>;
  // the recorded options hold every key (unset ones too); replay those the method takes
  const takes = methodDef(checkMethod(String(need('method')))).options as readonly string[];
  const camel = Object.fromEntries(
    Object.entries(options)
      .map(([k, v]) => [k.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase()), v] as const)
      .filter(([k]) => takes.includes(k)),
  );
  const flags: RunFlags = {
    ...(camel as MethodFlags),
    method: String(need('method')),
    root: String(need('root')),
    name: c.dataset_type && c.dataset !== c.dataset_type ? String(c.dataset) : undefined,
    dataset: String(c.dataset_type ?? need('dataset')),
    seeds: [r.seed],
    weights: (c.weights as string | null) ?? undefined,
    model: (c.model as string | null) ?? undefined,
    targets: Array.isArray(c.targets) && c.targets.length ? (c.targets as string[]).join(',') : undefined,
    out: 'output',
  };
  // every recorded setting of the table, back to its flag (`warmup.lr` → --warmup-lr)
  const settings = flags as unknown as Record<string, unknown>;
  for (const s of RUN_SETTINGS) {
    if (!s.recorded || !s.flag) continue;
    const v = s.replayRequired ? need(s.recorded) : recordedValue(c, s.recorded);
    if (v !== undefined) settings[s.key] = s.fromRecord ? s.fromRecord(v) : v;
  }
  // few-shot runs are replayed by their K; the precision the result names wins over the recorded default
  if (r.protocol === 'fewshot') [flags.shots, flags.k] = [undefined, [r.shots]];
  flags.precision = r.precision ?? flags.precision ?? DEFAULT_PRECISION;
  return { name: r.protocol, flags };
}

function registerRerun(program: Command): void {
  const cmd = program
    .command('rerun')
    .description("replay a finished run from the configuration its result.json recorded, and compare the numbers")
    .argument('<result>', 'a result.json (or the run folder holding it)')
    .option('--out <dir>', 'output folder for the replay (default: rerun/ in the current folder: the recorded run is never touched)', 'rerun')
    .option('--weights <file>', 'CLIP weights, when the recorded file has moved')
    .option('--model <name>', 'pretrained CLIP by name, when the run recorded none')
    .option('--force', 'run again even when the replay folder already holds a result')
    .option('--workers <n>', 'data-loader worker threads', intFlag('--workers', RUN_RANGES.workers))
    .option('--quiet', 'no progress output');
  addComputeOptions(cmd, { precision: 'recorded' })
    .addHelpText('after', '\nExample:\n  mpl rerun runs/base2new/photos/shots_16/mpl/*/seed1/result.json     replays into rerun/ and compares')
    .action(async (target: string, f: RerunFlags) => {
      const file = fs.existsSync(target) && fs.statSync(target).isDirectory() ? path.join(target, 'result.json') : target;
      const recorded = readResultFile(file);
      const { name, flags } = flagsFromResult(recorded, file);
      if (f.weights || f.model) {
        flags.weights = f.weights;
        flags.model = f.model;
      }
      if (!flags.weights && !flags.model) throw new UserError(`${file}: no weights or model recorded; give --weights FILE or --model NAME`);
      if (flags.weights && !fs.existsSync(flags.weights)) {
        throw new UserError(`${flags.weights}: the recorded weights file is gone; give --weights FILE (or --model NAME)`);
      }
      flags.out = f.out!;
      flags.force = f.force;
      flags.workers = f.workers;
      flags.quiet = f.quiet;
      flags.device = f.device;
      if (f.precision && f.precision !== 'recorded') flags.precision = f.precision;
      const [replayed] = await runCommand(name, flags, { notes: [] });
      const keys = recorded.protocol === 'base2new' ? ['base', 'new', 'hm'] : Object.keys(recorded.accuracy ?? {});
      const value = (r: RunResult, k: string) => (recorded.protocol === 'base2new' ? (r as unknown as Record<string, number>)[k] : r.accuracy?.[k]);
      const lines = keys.map((k) => {
        const a = value(recorded, k);
        const b = replayed ? value(replayed, k) : undefined;
        const d = a !== undefined && b !== undefined ? b - a : undefined;
        return `  ${k.padEnd(16)} recorded ${a === undefined ? '-' : percent(a)}  now ${b === undefined ? '-' : percent(b)}  difference ${d === undefined ? '-' : (d >= 0 ? '+' : '') + percent(d)}`;
      });
      process.stdout.write(`rerun of ${file}\n${lines.join('\n')}\n`);
    });
}
