/** Sweep files and the paper's presets: expansion, run folders, commands, and the checks on every key. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { addMethodOptions } from '../../src/cli/method-options.js';
import { OPTION_SPECS } from '../../src/prompting/methods/index.js';
import { buildRunConfig, runDirOf } from '../../src/eval/run-config.js';
import { PAPER_DATASETS, PAPER_METHODS, presetSweep } from '../../src/sweep/presets.js';
import { expandSweep } from '../../src/sweep/expand.js';
import { readSweepFile, sweepFromObject } from '../../src/sweep/spec.js';
import { jobScript } from '../../src/sweep/slurm.js';
import { UserError } from '../../src/util/errors.js';
import { tmpDir } from '../helpers.js';

const dir = tmpDir('mpl-sweep-spec-');
const images = path.join(dir, 'my_images');
fs.mkdirSync(images);

function write(name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

function fails(text: string, pattern: RegExp, name = 'bad.yaml'): void {
  const f = write(name, text);
  assert.throws(() => expandSweep(readSweepFile(f)), (e: Error) => {
    assert.ok(e instanceof UserError, String(e));
    assert.ok(e.message.startsWith(f), e.message);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), e.message);
    return true;
  });
}

describe('sweep files', () => {
  it('expands protocols × datasets × methods × option grid × shots × precision × seeds, paths relative to the file', () => {
    const f = write(
      'grid.yaml',
      `out: runs
weights: w/tiny.safetensors
root: data
protocol: base2new
datasets: [eurosat, { name: mine, root: ./my_images }]
methods:
  - coop
  - { name: mpl, options: { depth: [3, 9] }, epochs: 2 }
seeds: [1, 2]
precision: [fp32, bf16]
epochs: 4
`,
    );
    const sweep = readSweepFile(f);
    assert.equal(sweep.out, path.join(dir, 'runs'));
    const runs = expandSweep(sweep);
    // 2 datasets × (coop + mpl × 2 depths) × 2 precisions × 2 seeds
    assert.equal(runs.length, 2 * 3 * 2 * 2);
    const mine = runs.filter((r) => r.config.dataset === 'mine');
    assert.equal(mine.length, 12);
    assert.equal(mine[0].config.dataset_type, 'imagefolder');
    assert.equal(mine[0].config.root, images);
    const mpl = runs.filter((r) => r.config.method === 'mpl');
    assert.deepEqual([...new Set(mpl.map((r) => r.config.method_options.depth))].sort(), [3, 9]);
    assert.ok(mpl.every((r) => r.config.epochs === 2), 'the method entry overrides the top-level epochs');
    assert.ok(runs.filter((r) => r.config.method === 'coop').every((r) => r.config.epochs === 4));
    // each run's folder is the one the protocol computes from the same settings
    const r = mpl.find((x) => x.config.precision === 'bf16' && x.config.dataset === 'mine' && x.config.method_options.depth === 3 && x.config.seed === 2)!;
    const expected = buildRunConfig({
      protocol: 'base2new', dataset: 'imagefolder', name: 'mine', root: images, method: 'mpl', methodOptions: { depth: 3 },
      seed: 2, shots: 16, epochs: 2, backbone: 'tiny.safetensors', precision: 'bf16',
    });
    assert.equal(r.runDir, runDirOf(path.join(dir, 'runs'), expected));
    assert.match(r.runDir, /base2new\/mine\/shots_16\/mpl\/tiny_c1_add2_rm1_d3_ep2_bf16-[0-9a-f]{8}\/seed2$/);
    assert.deepEqual(r.argv, [
      'base2new', '--dataset', 'imagefolder', '--root', images, '--name', 'mine', '--method', 'mpl', '--depth', '3', '--seeds', '2',
      '--epochs', '2', '--precision', 'bf16', '--out', path.join(dir, 'runs'), '--weights', path.join(dir, 'w', 'tiny.safetensors'),
    ]);
  });

  it('JSON files, shots grids for few-shot, overrides after expansion, xd targets', () => {
    const f = write(
      'grid.json',
      JSON.stringify({
        out: '/tmp/x', model: 'ViT-B/16', root: '/data', protocol: ['fewshot', 'xd'], datasets: ['imagenet'], methods: ['coop'], seeds: 1,
        shots: '1,16', overrides: [{ when: { method: 'coop', shots: 1 }, set: { epochs: 50, options: { 'n-ctx': 16 } } }],
        targets: ['dtd', 'EuroSAT'], options: { '--n-ctx': 2 },
      }),
    );
    const runs = expandSweep(readSweepFile(f));
    assert.equal(runs.length, 4);
    const one = runs.find((r) => r.config.protocol === 'fewshot' && r.config.shots === 1)!;
    assert.equal(one.config.epochs, 50);
    assert.equal(one.config.method_options.n_ctx, 16);
    assert.deepEqual(one.argv.slice(one.argv.indexOf('--k'), one.argv.indexOf('--k') + 2), ['--k', '1']);
    const sixteen = runs.find((r) => r.config.protocol === 'fewshot' && r.config.shots === 16)!;
    assert.equal(sixteen.config.epochs, 200);
    assert.equal(sixteen.config.method_options.n_ctx, 2, 'options by their CLI names, with or without dashes');
    const xd = runs.filter((r) => r.config.protocol === 'xd');
    assert.deepEqual(xd[0].config.targets, ['dtd', 'eurosat']);
    assert.ok(xd[0].argv.includes('--targets'));
    assert.equal(xd.find((r) => r.config.shots === 1)!.config.epochs, 50, 'when.shots matches any protocol');
  });

  it('refuses unknown keys, wrong types, missing keys and repeated runs, naming the file and the key', () => {
    fails('out: o\nmodel: ViT-B/16\nroot: d\nprotocol: base2new\ndatasets: [eurosat]\nmethods: [mpl]\nepoch: 5\n', /unknown key 'epoch'/);
    fails('out: o\nmodel: ViT-B/16\nroot: d\nprotocol: base2new\ndatasets: [eurosat]\nmethods: [mpl]\nepochs: five\n', /epochs: expected an integer/);
    fails('out: o\nmodel: ViT-B/16\nroot: d\nprotocol: base2new\ndatasets: [eurosat]\nmethods: [{ name: mpl, options: { dept: 3 } }]\n', /methods\[0\]\.options\.dept: unknown method flag/);
    fails('out: o\nmodel: ViT-B/16\nroot: d\nprotocol: base2new\ndatasets: [eurosat]\nmethods: [mpl]\noptions: { depth: "3" }\n', /options\.depth: expected an integer/);
    fails('out: o\nmodel: ViT-B/16\nroot: d\nprotocol: base2new\ndatasets: [nosuchset]\nmethods: [mpl]\n', /datasets\[0\]: unknown dataset "nosuchset"/);
    fails('out: o\nmodel: ViT-B/16\nroot: d\nprotocol: base2new\ndatasets: [{ name: my_flowers }]\nmethods: [mpl]\n', /datasets\[0\]: 'my_flowers' is not a benchmark dataset: give its root/);
    fails('out: o\nmodel: ViT-B/16\nprotocol: base2new\ndatasets: [eurosat]\nmethods: [mpl]\n', /datasets\[0\]: eurosat needs the data folder/);
    fails('out: o\nmodel: ViT-B/16\nroot: d\nprotocol: b2n\ndatasets: [eurosat]\nmethods: [mpl]\n', /protocol: unknown protocol 'b2n'/);
    fails('model: ViT-B/16\nroot: d\nprotocol: base2new\ndatasets: [eurosat]\nmethods: [mpl]\n', /missing key 'out'/);
    fails('out: o\nroot: d\nprotocol: base2new\ndatasets: [eurosat]\nmethods: [mpl]\n', /give weights .* or model/);
    fails('out: o\nmodel: ViT-B/16\nroot: d\nprotocol: base2new\ndatasets: [eurosat]\nmethods: [mpl]\ndevice: [cpu, cuda]\n', /one device only/);
    fails('out: o\nmodel: ViT-B/16\nroot: d\nprotocol: base2new\ndatasets: [eurosat, EuroSAT]\nmethods: [mpl]\n', /runs 1 and 4 are the same run/);
    fails('out: o\nmodel: ViT-B/16\nroot: d\nprotocol: base2new\ndatasets: [eurosat]\nmethods: [mpl]\nprecision: fp8\n', /precision: must be one of fp32, fp16, amp, bf16/);
    fails('out: o\nmodel: ViT-B/16\nroot: d\nprotocol: base2new\ndatasets: [eurosat]\nmethods: [{ name: vpt, options: { depth: 3 } }]\n', /methods: vpt: options depth do not apply to vpt/);
    fails('out: [unclosed\n', /not valid YAML/);
    fails('{"out": ', /not valid JSON/, 'bad.json');
  });

  it('options common to the sweep reach only the methods that take them', () => {
    const f = write('common.yaml', 'out: o\nmodel: ViT-B/16\nroot: d\nprotocol: base2new\ndatasets: [eurosat]\nmethods: [coop, vpt]\nseeds: [1]\noptions: { n-ctx: 2, n-ctx-vision: 4 }\n');
    const runs = expandSweep(readSweepFile(f));
    const coop = runs.find((r) => r.config.method === 'coop')!;
    const vpt = runs.find((r) => r.config.method === 'vpt')!;
    assert.ok(coop.argv.includes('--n-ctx') && !coop.argv.includes('--n-ctx-vision'), coop.argv.join(' '));
    assert.ok(vpt.argv.includes('--n-ctx-vision') && !vpt.argv.includes('--n-ctx'), vpt.argv.join(' '));
    assert.equal(coop.config.method_options.n_ctx, 2);
    assert.equal(vpt.config.method_options.n_ctx_vision, 4);
  });

  it('the sweep options are exactly the method flags of the CLI', () => {
    const cmd = addMethodOptions(new Command('x'));
    const flags = cmd.options.map((o) => o.long!.replace(/^--/, '')).filter((f) => f !== 'method');
    assert.deepEqual(OPTION_SPECS.map((f) => f.flag).sort(), flags.sort());
  });

  it('the SLURM script: one quoted directive per setting; each task\'s folder and exact arguments are data in its task file', () => {
    const sweep = sweepFromObject({ out: '/o', model: 'ViT-B/16', root: "/da'ta", protocol: 'base2new', datasets: ['dtd'], methods: ['mpl'], seeds: [1, 2], options: { 'ctx-init': '' } }, 'test', 's', '/');
    const runs = expandSweep(sweep);
    const { script, tasks } = jobScript(sweep, runs, { partition: 'gpu', gres: 'gpu:1', cpusPerTask: 4, mem: '8G', time: '1:00:00', account: 'lab', qos: 'long', sbatchArgs: ['--constraint=a100&nvlink', '--exclusive'] }, ['/usr/bin/node', '/m/bin/mpl.js'], '/o/.sweeps/s/job.tasks');
    for (const line of ['#SBATCH --array="0-1"', '#SBATCH --partition="gpu"', '#SBATCH --gres="gpu:1"', '#SBATCH --cpus-per-task="4"', '#SBATCH --mem="8G"', '#SBATCH --time="1:00:00"', '#SBATCH --account="lab"', '#SBATCH --qos="long"', '#SBATCH --constraint="a100&nvlink"', '#SBATCH --exclusive', '#SBATCH --output="/o/.sweeps/s/slurm-%A_%a.out"']) {
      assert.ok(script.includes(`${line}\n`), `${line} in\n${script}`);
    }
    assert.equal(tasks.length, 2);
    assert.deepEqual(tasks[1].toString('utf8').split('\0'), [runs[1].runDir, ...runs[1].argv, '']);
    assert.ok(runs[1].argv.includes("/da'ta") && runs[1].argv.includes(''), 'quotes and an empty value stay arguments');
    assert.ok(!script.includes("da'ta") && !script.includes(runs[1].runDir), 'no run argument is in the script');
    assert.match(script, /exec >>"\$RUN_DIR\/slurm-\$\{SLURM_ARRAY_JOB_ID\}_\$\{SLURM_ARRAY_TASK_ID\}\.log" 2>&1/);
  });
});

describe('KgCoOp and ProGrad in a sweep', () => {
  it("ProGrad's few-shot recipe (λ 0.8 at 8-16 shots on DTD) and KgCoOp's batch 32: options, folders, commands", () => {
    const f = write(
      'zoo.yaml',
      `out: runs
model: ViT-B/16
root: data
protocol: fewshot
datasets: [dtd, caltech101]
shots: [4, 16]
methods:
  - { name: prograd, options: { temperature: 1 } }
  - { name: kgcoop, batch-size: 32, options: { kg-weight: [8, 2] } }
overrides:
  - { when: { method: prograd, dataset: dtd, shots: 16 }, set: { options: { lambda: 0.8 } } }
seeds: [1]
`,
    );
    const runs = expandSweep(readSweepFile(f));
    assert.equal(runs.length, 2 * 2 * 3);
    const pg = runs.filter((r) => r.config.method === 'prograd');
    const lam = (d: string, k: number) => pg.find((r) => r.config.dataset === d && r.config.shots === k)!.config.method_options.lambda;
    assert.deepEqual([lam('dtd', 16), lam('dtd', 4), lam('caltech101', 16)], [0.8, 1, 1]);
    assert.ok(pg.every((r) => r.config.batch_size === 32 && r.config.epochs === 100 && r.config.method_options.n_ctx === 16 && r.config.method_options.ctx_init === '{template}'));
    const kg = runs.filter((r) => r.config.method === 'kgcoop');
    assert.deepEqual([...new Set(kg.map((r) => r.config.method_options.kg_weight))].sort(), [2, 8]);
    assert.ok(kg.every((r) => r.config.batch_size === 32 && r.config.lr === 0.002));
    const one = pg.find((r) => r.config.dataset === 'dtd' && r.config.shots === 16)!;
    assert.match(one.runDir, /fewshot\/dtd\/shots_16\/prograd\/vit_b16_c16_lam0\.8_t1_ep100-[0-9a-f]{8}\/seed1$/);
    assert.ok(one.argv.join(' ').includes('--method prograd') && one.argv.join(' ').includes('--lambda 0.8'), one.argv.join(' '));
  });
});

describe('the paper presets', () => {
  const expand = (preset: 'table2' | 'table3' | 'fewshot', extra = {}) =>
    expandSweep(sweepFromObject(presetSweep(preset, { out: '/out', root: '/data', ...extra }), preset, preset, '/'));

  it('table2: 11 datasets × 5 methods × seeds 1-3 base-to-new with the official recipes', () => {
    const runs = expand('table2');
    assert.equal(runs.length, 165);
    assert.deepEqual([...new Set(runs.map((r) => r.config.dataset))].sort(), [...PAPER_DATASETS].sort());
    assert.deepEqual([...new Set(runs.map((r) => r.config.method))], PAPER_METHODS);
    assert.ok(runs.every((r) => r.config.protocol === 'base2new' && r.config.shots === 16 && r.config.backbone === 'ViT-B/16'));
    const recipe = (m: string, d = 'eurosat') => runs.find((r) => r.config.method === m && r.config.dataset === d)!.config;
    assert.deepEqual([recipe('mpl').epochs, recipe('mpl').lr, recipe('mpl').batch_size, recipe('mpl').method_options.depth], [5, 0.0035, 4, 9]);
    assert.deepEqual([recipe('coop').epochs, recipe('coop', 'imagenet').epochs, recipe('coop').batch_size, recipe('coop').method_options.n_ctx], [200, 50, 32, 4]);
    assert.deepEqual([recipe('cocoop').epochs, recipe('cocoop').batch_size], [10, 1]);
    assert.deepEqual([recipe('promptsrc').epochs, recipe('promptsrc').lr, recipe('promptsrc').method_options.gpa_mean], [20, 0.0025, 15]);
    assert.equal(new Set(runs.map((r) => r.runDir)).size, 165);
    assert.equal(expand('table2', { methods: ['mpl'], datasets: ['eurosat', 'dtd'] }).length, 6);
  });

  it('table3: xd and dg from ImageNet with the cross-dataset recipes; fewshot: 825 runs', () => {
    const runs = expand('table3');
    assert.equal(runs.length, 30);
    const mpl = runs.find((r) => r.config.method === 'mpl' && r.config.protocol === 'xd')!.config;
    assert.deepEqual([mpl.epochs, mpl.lr, mpl.method_options.depth, mpl.targets!.length], [2, 0.0026, 3, 10]);
    const src = runs.find((r) => r.config.method === 'promptsrc' && r.config.protocol === 'dg')!.config;
    assert.deepEqual([src.method_options.depth_text, src.method_options.depth_vision, src.method_options.gpa_mean, src.method_options.gpa_std, src.targets!.length], [3, 3, 6, 10, 4]);
    const few = expand('fewshot');
    assert.equal(few.length, 825);
    const coop = (shots: number, d = 'dtd') => few.find((r) => r.config.method === 'coop' && r.config.shots === shots && r.config.dataset === d)!.config;
    assert.deepEqual([1, 2, 4, 8, 16].map((k) => coop(k).epochs), [50, 100, 100, 200, 200]);
    assert.equal(coop(16, 'imagenet').epochs, 50);
    assert.equal(coop(1).method_options.n_ctx, 16);
    assert.equal(coop(1).method_options.ctx_init, '');
    const gpa = (d: string) => few.find((r) => r.config.method === 'promptsrc' && r.config.dataset === d)!.config.method_options;
    assert.deepEqual([gpa('dtd').gpa_mean, gpa('dtd').gpa_std, gpa('caltech101').gpa_mean, gpa('caltech101').gpa_std], [45, 5, 30, 30]);
  });
});
