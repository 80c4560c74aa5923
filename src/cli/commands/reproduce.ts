import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { readResultFile, type LoadedResult } from '../../report/result-files.js';
import { UserError } from '../../util/errors.js';
import { MAX_SEED, parseIntListFlag } from '../flags.js';
import { writeFileAtomic } from '../../util/fs.js';
import { parseThroughput } from '../../sweep/estimate.js';
import { reproductionReport } from '../../sweep/paper.js';
import { estimateLine, formatPlan, makePlan, stateLine, submitPlan, type Plan } from '../../sweep/plan.js';
import { PRESETS, presetSweep, type PresetName } from '../../sweep/presets.js';
import { sweepFromObject } from '../../sweep/spec.js';
import { addExecutorOptions, slurmSettingsOf, type ExecutorFlags } from './sweep.js';

interface ReproduceFlags extends ExecutorFlags {
  methods?: string;
  datasets?: string;
  seeds?: string;
  root?: string;
  model?: string;
  weights?: string;
  out: string;
  dryRun?: boolean;
  json?: boolean;
  throughput?: string;
  saveSweep?: string;
  precision?: string;
  device?: string;
}

const list = (s: string | undefined): string[] | undefined => (s === undefined ? undefined : s.split(',').map((x) => x.trim()).filter(Boolean));

function seedsOf(s: string | undefined): number[] | undefined {
  return s === undefined ? undefined : parseIntListFlag('--seeds', s, { max: MAX_SEED });
}

/** Writes the comparison with the paper from the finished runs of the plan; returns its path. */
function writeReport(preset: PresetName, plan: Plan): string {
  const results: LoadedResult[] = plan.rows.filter((r) => r.state === 'done').map((r) => {
    const file = path.join(r.run_dir, 'result.json');
    return { file, result: readResultFile(file) };
  });
  const done = results.length;
  const text = reproductionReport(preset, results, plan.rows, { done, total: plan.rows.length });
  const file = path.join(plan.sweep.out, `reproduce-${preset}.md`);
  writeFileAtomic(file, text);
  return file;
}

/** `mpl reproduce table2|table3|fewshot`: the MPL paper's grids, run and compared with its numbers. */
export function register(program: Command): void {
  addExecutorOptions(
    program
      .command('reproduce')
      .description("run the MPL paper's experiment grids (official recipes, seeds 1-3) and compare with its numbers")
      .argument('<preset>', `${PRESETS.join(' | ')}`)
      .option('--methods <list>', 'only these of coop, cocoop, maple, promptsrc, mpl')
      .option('--datasets <list>', 'only these datasets (table2, fewshot)')
      .option('--seeds <list>', 'seeds (default 1,2,3)')
      .option('--root <dir>', "CoOp's data folder (default: $DATA, else ./data)")
      .option('--model <name>', 'pretrained CLIP by name (default ViT-B/16)')
      .option('--weights <file>', 'CLIP weights file instead of --model')
      .option('--out <dir>', 'output folder', 'output')
      .option('--dry-run', 'list the runs, their folders, states and the time estimate; run nothing')
      .option('--json', 'with --dry-run: print { runs: [...], estimate: {...} }')
      .option('--throughput <train[,eval]>', 'images per second for the estimate (e.g. from `mpl bench train`)')
      .option('--precision <p>', 'fp32 (default: comparable on any machine) | fp16 (the papers\' GPU recipe) | amp | bf16')
      .option('--device <d>', 'cpu | cuda | cuda:N | auto, passed to every run (default: each run\'s auto)')
      .option('--save-sweep <file>', 'also write the grid as a sweep file (YAML) to edit and run with `mpl sweep`'),
  )
    .addHelpText(
      'after',
      `
Grids (docs/sweeps.md): table2 = base-to-new, 11 datasets × 5 methods × 3 seeds (165 runs); table3 =
cross-dataset + domain generalisation from ImageNet (30 runs); fewshot = 11 datasets × K 1-16 (825 runs).
Run again at any time: finished runs are kept, failed ones resume, and when all are done
<out>/reproduce-<preset>.md holds our numbers beside the paper's with the difference per cell.

Examples:
  mpl reproduce table2 --dry-run
  mpl reproduce table2 --root ~/data --methods mpl,maple --datasets eurosat,dtd --parallel 2
  mpl reproduce table3 --root /shared/data --executor slurm --gres gpu:1 --cpus-per-task 8 --time 24:00:00 --precision fp16`,
    )
    .action(async (presetName: string, f: ReproduceFlags) => {
      if (!(PRESETS as readonly string[]).includes(presetName)) throw new UserError(`unknown preset '${presetName}' (${PRESETS.join(', ')})`);
      if (f.json && !f.dryRun) throw new UserError('--json goes with --dry-run (the run itself reports on stderr)');
      if (f.weights && f.model) throw new UserError('give --model or --weights, not both');
      const preset = presetName as PresetName;
      const raw = presetSweep(preset, {
        out: f.out,
        root: f.root ?? process.env.DATA ?? 'data',
        weights: f.weights,
        model: f.model,
        methods: list(f.methods),
        datasets: list(f.datasets),
        seeds: seedsOf(f.seeds),
        precision: f.precision,
        device: f.device,
      });
      if (f.saveSweep) {
        writeFileAtomic(f.saveSweep, `# mpl reproduce ${preset} as a sweep file: run it with \`mpl sweep submit ${f.saveSweep}\`\n${toYaml(raw)}`);
        process.stderr.write(`wrote ${f.saveSweep}\n`);
      }
      const sweep = sweepFromObject(raw, `mpl reproduce ${preset}`, `reproduce-${preset}`, process.cwd());
      const throughput = f.throughput ? parseThroughput(f.throughput) : undefined;
      let plan = makePlan(sweep, throughput);
      if (f.dryRun) {
        if (f.json) {
          const e = plan.estimate;
          process.stdout.write(JSON.stringify({ runs: plan.rows, estimate: { total_s: Math.round(e.total), unknown_runs: e.unknown, basis: e.basis, text: estimateLine(plan, f.parallel) } }, null, 2) + '\n');
        } else process.stdout.write(formatPlan(plan, f.parallel));
        return;
      }
      const say = (l: string) => process.stderr.write(`${l}\n`);
      say(`${stateLine(plan)}; ${estimateLine(plan, f.parallel)}`);
      const { job } = await submitPlan(plan, { executor: f.executor as 'local' | 'slurm', parallel: f.parallel, slurm: slurmSettingsOf(f), say, follow: `mpl reproduce ${preset} --dry-run` });
      plan = makePlan(sweep, throughput);
      const report = writeReport(preset, plan);
      const all = plan.rows.every((r) => r.state === 'done');
      process.stdout.write(all ? `all ${plan.rows.length} runs finished: ${report}\n` : `${stateLine(plan)}; partial comparison in ${report}${job ? `; run this command again when job ${job} has finished` : ''}\n`);
      if (fs.existsSync(report) && all) process.stdout.write(fs.readFileSync(report, 'utf8').split('\n## All finished runs')[0]);
    });
}
