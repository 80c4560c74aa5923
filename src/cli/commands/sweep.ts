import { Command, Option } from 'commander';
import { parseThroughput } from '../../sweep/estimate.js';
import { formatPlan, makePlan, submitPlan } from '../../sweep/plan.js';
import { SLURM_KEYS, checkCpusPerTask, checkSbatchArg, checkSlurmValue } from '../../sweep/slurm-settings.js';
import { readSweepFile, type SlurmSettings } from '../../sweep/spec.js';
import { intFlag, parseIntFlag } from '../flags.js';

/** Executor flags shared by `mpl sweep submit` and `mpl reproduce`. */
export interface ExecutorFlags extends Omit<SlurmSettings, 'sbatchArgs'> {
  executor: string;
  parallel?: number;
  /** repeated --sbatch-arg */
  sbatchArg?: string[];
}

/** `inProcess`: the command can also work in its own process (the schedule search): what that does, and it is the default. */
export function addExecutorOptions(cmd: Command, inProcess?: string): Command {
  const executor = inProcess
    ? new Option('--executor <name>', `inprocess: ${inProcess}; local: processes on this machine; slurm: one job array`).choices(['inprocess', 'local', 'slurm']).default('inprocess')
    : new Option('--executor <name>', 'local: processes on this machine; slurm: one job array').choices(['local', 'slurm']).default('local');
  return cmd
    .addOption(executor)
    .option('--parallel <n>', 'local: runs at once (default: one per GPU, or one on CPU)', positiveInt('--parallel'))
    .option('--partition <name>', 'slurm: partition', slurmValue('partition'))
    .option('--gres <spec>', 'slurm: generic resources per task, e.g. gpu:1', slurmValue('gres'))
    .option('--cpus-per-task <n>', 'slurm: CPU cores per task (default 1; also the run\'s threads)', (v: string) => checkCpusPerTask(parseIntFlag('--cpus-per-task', v, { min: 1 }), '--cpus-per-task'))
    .option('--mem <size>', 'slurm: memory per task, e.g. 32G', slurmValue('mem'))
    .option('--time <limit>', 'slurm: time limit per task, e.g. 12:00:00', slurmValue('time'))
    .option('--account <name>', 'slurm: account to charge', slurmValue('account'))
    .option('--qos <name>', 'slurm: quality of service', slurmValue('qos'))
    .option('--sbatch-arg <arg>', 'slurm: one more #SBATCH option from a fixed list (repeatable), e.g. --sbatch-arg=--constraint=a100', (v: string, prev: string[] = []) => {
      checkSbatchArg(v, '--sbatch-arg');
      return [...prev, v];
    });
}

/** A SLURM flag's parser: the value must be what SLURM accepts (it becomes an #SBATCH directive). */
function slurmValue(key: Parameters<typeof checkSlurmValue>[0]) {
  return (v: string) => checkSlurmValue(key, v, `--${SLURM_KEYS.find((k) => k.key === key)!.sweepKey}`);
}

function positiveInt(name: string) {
  return intFlag(name, { min: 1 });
}

export function slurmSettingsOf(f: ExecutorFlags): SlurmSettings {
  return { partition: f.partition, gres: f.gres, cpusPerTask: f.cpusPerTask, mem: f.mem, time: f.time, account: f.account, qos: f.qos, sbatchArgs: f.sbatchArg };
}

/** `mpl sweep plan|submit|status FILE`. */
export function register(program: Command): void {
  const sweep = program
    .command('sweep')
    .description('grids of runs from a sweep file (YAML or JSON), on this machine or a SLURM cluster')
    .addHelpText(
      'after',
      `
A sweep file (docs/sweeps.md):
  out: runs
  weights: clip.safetensors          # or  model: ViT-B/16
  root: ~/data                       # CoOp's data folder
  protocol: base2new                 # base2new, xd, dg, fewshot (or a list)
  datasets: [eurosat, dtd, { name: flowers, root: ./my_flowers }]
  methods: [coop, { name: mpl, options: { depth: [3, 9] } }]
  seeds: [1, 2, 3]
  epochs: 5

Examples:
  mpl sweep plan sweep.yaml                          every run, its folder, state and estimated time
  mpl sweep submit sweep.yaml --parallel 2           run them here, two at a time
  mpl sweep submit sweep.yaml --executor slurm --partition gpu --gres gpu:1 --time 12:00:00
  mpl sweep status sweep.yaml --json
  mpl table runs/                                    aggregate what finished`,
    );

  sweep
    .command('plan')
    .description('list every run of the sweep with its folder, state (done, running, failed, pending) and estimated time')
    .argument('<file>', 'sweep file (.yaml, .yml or .json)')
    .option('--json', 'print [{ run_dir, protocol, dataset, method, seed, shots, state, detail, estimate_s, command }]')
    .option('--throughput <train[,eval]>', 'images per second to estimate with (e.g. from `mpl bench train`)')
    .option('--parallel <n>', 'runs at once, for the wall-time estimate', positiveInt('--parallel'))
    .addHelpText('after', '\nExample:\n  mpl sweep plan sweep.yaml --throughput 40,120')
    .action((file: string, f: { json?: boolean; throughput?: string; parallel?: number }) => {
      const plan = makePlan(readSweepFile(file), f.throughput ? parseThroughput(f.throughput) : undefined);
      process.stdout.write(f.json ? JSON.stringify(plan.rows, null, 2) + '\n' : formatPlan(plan, f.parallel));
    });

  addExecutorOptions(
    sweep
      .command('submit')
      .description('run (local) or submit (slurm) every run that is not done, running or queued; failed runs resume')
      .argument('<file>', 'sweep file'),
  )
    .addHelpText('after', '\nExamples:\n  mpl sweep submit sweep.yaml --executor local --parallel 2\n  mpl sweep submit sweep.yaml --executor slurm --gres gpu:1 --cpus-per-task 8 --mem 32G')
    .action(async (file: string, f: ExecutorFlags) => {
      const plan = makePlan(readSweepFile(file));
      await submitPlan(plan, { executor: f.executor as 'local' | 'slurm', parallel: f.parallel, slurm: slurmSettingsOf(f), say: (l) => process.stderr.write(`${l}\n`) });
    });

  sweep
    .command('status')
    .description('the state of every run of the sweep (from the run folders, the local processes and SLURM)')
    .argument('<file>', 'sweep file')
    .option('--json', 'print [{ run_dir, protocol, dataset, method, seed, shots, state, detail, ... }]')
    .addHelpText('after', '\nExample:\n  mpl sweep status sweep.yaml')
    .action((file: string, f: { json?: boolean }) => {
      const plan = makePlan(readSweepFile(file));
      process.stdout.write(f.json ? JSON.stringify(plan.rows, null, 2) + '\n' : formatPlan(plan));
    });
}
