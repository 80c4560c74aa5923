/**
 * End to end through the `mpl` binary: a generated image folder, the golden tiny CLIP, base-to-new over two
 * seeds, the reports, prediction with the learned prompts, resume after SIGKILL, help and bad arguments.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensors } from '../../src/io/safetensors.js';
import { cpuClass, cpuHasNativeBf16 } from '../../src/torch/index.js';
import { goldenDir, tmpDir } from '../helpers.js';
import { killAfterEpoch, makeImageFolder, mplCli as mpl, ok } from './fixtures.js';

const weights = path.join(goldenDir, 'tiny_clip.safetensors');
const work = tmpDir('mpl-e2e-');
const root = path.join(work, 'images');
const classes = ['red_square', 'green_field', 'blue_sky', 'yellow_sun'];


test.before(() => makeImageFolder(root, classes));

/** The folder of a run: <out>/base2new/<dataset>/shots_16/mpl/<tag>-<hash>/seed<seed> (one configuration under out). */
function runDir(out: string, seed: number, dataset = 'imagefolder'): string {
  const base = path.join(out, 'base2new', dataset, 'shots_16', 'mpl');
  const configs = fs.readdirSync(base);
  assert.equal(configs.length, 1, `one configuration under ${base}: ${configs.join(', ')}`);
  assert.match(configs[0], /^tiny_clip_c1_add2_rm1_d3_ep3-[0-9a-f]{8}$/);
  return path.join(base, configs[0], `seed${seed}`);
}

// explicit device and precision: the CLI's default (auto) would pick bf16 on CPUs with native bf16
const train = (out: string, extra: string[] = []) => [
  'base2new', '--weights', weights, '--dataset', 'imagefolder', '--root', root, '--method', 'mpl', '--depth', '3',
  '--epochs', '3', '--out', out, '--workers', '1', '--quiet', '--device', 'cpu', ...(extra.includes('--precision') ? [] : ['--precision', 'fp32']), ...extra,
];

test('base2new over two seeds, then table, plot and predict', () => {
  const out = path.join(work, 'runs');
  ok(mpl(train(out, ['--seeds', '1,2'])), 'base2new');
  for (const seed of [1, 2]) {
    const dir = runDir(out, seed);
    const r = JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8'));
    assert.equal(r.seed, seed);
    assert.equal(r.protocol, 'base2new');
    for (const k of ['base', 'new', 'hm']) assert.ok(r[k] >= 0 && r[k] <= 100, `${k} = ${r[k]}`);
    assert.ok(Math.abs(r.hm - (r.base + r.new === 0 ? 0 : (2 * r.base * r.new) / (r.base + r.new))) < 1e-9);
    assert.equal(r.config.method, 'mpl');
    // prompts under the official key names
    const keys = [...readSafetensors(path.join(dir, 'prompts.safetensors')).tensors.keys()];
    assert.ok(keys.includes('prompt_learner.ctx') && keys.includes('prompt_learner.txt2img_proj.1.1.weight'), keys.join(','));
  }
  const table = JSON.parse(ok(mpl(['table', out, '--json']), 'table --json'));
  const cell = table.base2new.mpl.imagefolder;
  assert.equal(cell.seeds.length, 2);
  for (const k of ['base', 'new', 'hm']) {
    assert.equal(typeof cell.mean[k], 'number');
    assert.equal(typeof cell.std[k], 'number');
  }
  const md = ok(mpl(['table', out]), 'table');
  assert.match(md, /\| MPL \|/);
  assert.match(md, /±/);
  ok(mpl(['table', out, '--format', 'csv', '--out', path.join(work, 't.csv')]), 'table csv');
  assert.match(fs.readFileSync(path.join(work, 't.csv'), 'utf8').split('\n')[0], /method/);
  for (const ext of ['svg', 'png']) {
    const f = path.join(work, `time.${ext}`);
    ok(mpl(['plot', out, '--kind', 'time', '--out', f]), `plot ${ext}`);
    const bytes = fs.readFileSync(f);
    if (ext === 'png') assert.deepEqual([...bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    else assert.match(bytes.toString('utf8'), /<svg[^>]*viewBox/);
  }
  const layout = path.join(work, 'layout.svg');
  ok(mpl(['plot', '--kind', 'layout', '--method', 'mpl', '--arch', 'ViT-B/16', '--out', layout]), 'plot layout from method flags');
  assert.match(fs.readFileSync(layout, 'utf8'), /206/);
  const prompts = path.join(runDir(out, 1), 'prompts.safetensors');
  const img = path.join(root, 'blue_sky', '0.png');
  const pred = JSON.parse(ok(mpl(['predict', '--weights', weights, '--prompts', prompts, '--json', img]), 'predict'));
  assert.equal(pred.length, 1);
  assert.equal(pred[0].image, img);
  const probs = Object.values(pred[0].probabilities) as number[];
  assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  // the same prompts with explicit flags and explicit classes
  const flags = ['--method', 'mpl', '--n-ctx', '1', '--n-add', '2', '--n-rm', '1', '--depth', '3', '--classes', 'x,y,z'];
  const pred2 = JSON.parse(ok(mpl(['predict', '--weights', weights, '--prompts', prompts, ...flags, '--json', img]), 'predict with flags'));
  assert.deepEqual(Object.keys(pred2[0].probabilities), ['x', 'y', 'z']);
});

test('a run killed with SIGKILL after epoch 1 resumes by itself and ends with the same prompts', () => {
  const a = path.join(work, 'uninterrupted');
  const b = path.join(work, 'killed');
  ok(mpl(train(a, ['--seeds', '1'])), 'uninterrupted run');
  const killed = mpl(train(b, ['--seeds', '1']), killAfterEpoch(1));
  assert.equal(killed.signal, 'SIGKILL');
  const dir = runDir(b, 1);
  assert.ok(fs.existsSync(path.join(dir, 'checkpoint.safetensors')));
  assert.ok(!fs.existsSync(path.join(dir, 'result.json')));
  // the same command again: the checkpoint has the same configuration, so it resumes (as Dassl does)
  ok(mpl(train(b, ['--seeds', '1'])), 'resumed run');
  const pa = readSafetensors(path.join(runDir(a, 1), 'prompts.safetensors')).tensors;
  const pb = readSafetensors(path.join(dir, 'prompts.safetensors')).tensors;
  assert.deepEqual([...pa.keys()].sort(), [...pb.keys()].sort());
  for (const [k, t] of pa) assert.ok(Buffer.from(t.data).equals(Buffer.from(pb.get(k)!.data)), `${k} differs after resume`);
  assert.match(fs.readFileSync(path.join(dir, 'log.txt'), 'utf8'), /resume after epoch 1/);

  // --no-resume and --force start over from epoch 1
  const c = path.join(work, 'restarted');
  assert.equal(mpl(train(c, ['--seeds', '1']), killAfterEpoch(2)).signal, 'SIGKILL');
  const restarted = mpl(train(c, ['--seeds', '1', '--no-resume']), killAfterEpoch(1));
  assert.equal(restarted.signal, 'SIGKILL');
  const log = () => fs.readFileSync(path.join(runDir(c, 1), 'log.txt'), 'utf8');
  assert.doesNotMatch(log(), /resume after/);
  assert.equal(log().match(/ epoch 1 /g)?.length, 2, 'epoch 1 trained twice');
  const forced = mpl(train(c, ['--seeds', '1', '--force']));
  ok(forced, 'forced run');
  assert.doesNotMatch(log(), /resume after/);
  assert.equal(log().match(/ epoch 1 /g)?.length, 3, 'epoch 1 trained again after --force');
});

test('run identity: other settings get their own folder and row; a folder saved with another configuration is refused', () => {
  const out = path.join(work, 'identity');
  ok(mpl(train(out, ['--seeds', '1'])), 'first run');
  // the same command again finds its own result
  const again = mpl(train(out, ['--seeds', '1']).filter((a) => a !== '--quiet'));
  ok(again, 'same run again');
  assert.match(again.stderr, /exists with this configuration: skipping/);
  // other epochs: a separate run and a separate row
  ok(mpl([...train(out, ['--seeds', '1']).filter((a) => a !== '--quiet'), '--epochs', '2']), 'run with other epochs');
  const configs = fs.readdirSync(path.join(out, 'base2new', 'imagefolder', 'shots_16', 'mpl')).sort();
  assert.equal(configs.length, 2, configs.join(', '));
  assert.match(configs[0], /^tiny_clip_c1_add2_rm1_d3_ep2-[0-9a-f]{8}$/);
  const table = JSON.parse(ok(mpl(['table', out, '--json']), 'table'));
  assert.deepEqual(Object.keys(table.base2new).sort(), ['mpl@ep2', 'mpl@ep3']);
  assert.equal(table.base2new['mpl@ep2'].imagefolder.n_seeds, 1);
  assert.equal(table.base2new['mpl@ep2'].tag, 'shots_16/mpl/tiny_clip_c1_add2_rm1_d3_ep2');
  const md = ok(mpl(['table', out]), 'table md');
  assert.match(md, /\| MPL \(ep2\) \|/);
  assert.match(md, /MPL \(ep3\) = `shots_16\/mpl\/tiny_clip_c1_add2_rm1_d3_ep3-\*`/);

  // a config.json that is not this run's configuration (hand-edited, or copied in) is never reused
  const other = path.join(work, 'identity-tampered');
  const killed = mpl(train(other, ['--seeds', '1']), killAfterEpoch(1));
  assert.equal(killed.signal, 'SIGKILL');
  const cfgFile = path.join(runDir(other, 1), 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, lr: 0.5 }));
  const refused = mpl(train(other, ['--seeds', '1']));
  assert.notEqual(refused.status, 0);
  // (a preflight warning about thin classes may come first: these folders hold fewer images than 16 shots)
  assert.match(refused.stderr.trim(), /^mpl: .*config\.json was written with another configuration \(lr: 0\.5 → 0\.0035\); start over with --force/m);
  assert.equal(refused.stderr.trim().split('\n').filter((l) => !l.startsWith('warning: ')).length, 1);

  // --name: a custom dataset's own name in folders and tables
  const named = path.join(work, 'named');
  ok(mpl(train(named, ['--seeds', '1', '--name', 'colours'])), 'named dataset');
  const r = JSON.parse(fs.readFileSync(path.join(runDir(named, 1, 'colours'), 'result.json'), 'utf8'));
  assert.equal(r.dataset, 'colours');
  assert.equal(r.config.dataset_type, 'imagefolder');
  assert.equal(r.config.root, root);
  assert.equal(r.tag, 'shots_16/mpl/tiny_clip_c1_add2_rm1_d3_ep3');
  const bad = mpl(train(named, ['--seeds', '1', '--name', '../x']));
  assert.match(bad.stderr, /^mpl: --name must be/);
});

test('every command has --help with examples; bad arguments exit non-zero with a one-line reason', () => {
  for (const cmd of ['plan', 'base2new', 'xd', 'dg', 'fewshot', 'zeroshot', 'predict', 'table', 'plot', 'bench', 'info', 'data', 'sweep', 'reproduce']) {
    const r = mpl([cmd, '--help']);
    assert.equal(r.status, 0, `${cmd} --help: ${r.stderr}`);
    assert.match(r.stdout, /Example/i, `${cmd} --help has examples`);
  }
  const bad: string[][] = [
    ['plan', '--method', 'nope', '--arch', 'ViT-B/16'],
    ['plan', '--method', 'mpl', '--arch', 'ViT-B/16', '--n-rm', '5'],
    ['plan', '--method', 'mpl', '--arch', 'ViT-B/16', '--depth', '13'],
    // one problem (preflight lists several one per line: test/e2e/surface.test.ts)
    ['base2new', '--weights', weights, '--dataset', 'nosuchset', '--root', root, '--depth', '2'],
    ['predict', '--weights', path.join(work, 'missing.safetensors'), '--prompts', 'x', 'a.png'],
  ];
  for (const args of bad) {
    const r = mpl(args);
    assert.notEqual(r.status, 0, args.join(' '));
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
    assert.match(lines[0], /^(mpl: |error: )/);
  }
});

test('mpl plan reports the published parameter counts and sequence lengths', () => {
  const mplPlan = JSON.parse(ok(mpl(['plan', '--method', 'mpl', '--arch', 'ViT-B/16', '--json']), 'plan mpl'));
  assert.equal(mplPlan.trainable_parameters, 6702336);
  assert.deepEqual(mplPlan.vision_lengths, [198, 199, 200, 201, 202, 203, 204, 205, 206, 206, 206, 206]);
  const maple = JSON.parse(ok(mpl(['plan', '--method', 'maple', '--arch', 'ViT-B/16', '--json']), 'plan maple'));
  assert.equal(maple.trainable_parameters, 3555072);
  const custom = JSON.parse(ok(mpl(['plan', '--method', 'mpl', '--arch', 'ViT-B/16', '--schedule', '1:add3,rm1;2-4:add3,rm2;5-8:add1,rm1', '--json']), 'plan schedule'));
  assert.deepEqual(custom.vision_lengths, [198, 200, 201, 202, 203, 203, 203, 203, 203, 203, 203, 203]);
  // the example removes 2 at block 1, where only the single shallow prompt exists: rejected, not patches deleted
  const rejected = mpl(['plan', '--method', 'mpl', '--arch', 'ViT-B/16', '--schedule', '1-4:add3,rm2;5-8:add1,rm1']);
  assert.notEqual(rejected.status, 0);
  assert.match(rejected.stderr, /layer 1 removes 2 tokens but only 1 prompt tokens/);
  const tiny = JSON.parse(ok(mpl(['plan', '--method', 'mpl', '--weights', weights, '--depth', '4', '--json']), 'plan from weights'));
  assert.deepEqual(tiny.vision_lengths, [18, 19, 20, 21]);
});

/** Every file called `name` under dir (run folders are named by the run-identity scheme). */
function findFiles(dir: string, name: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...findFiles(p, name));
    else if (e.name === name) out.push(p);
  }
  return out;
}

const nativeBf16 = cpuHasNativeBf16();
test(`--precision bf16 on the CPU (class ${cpuClass()}): ${nativeBf16 ? 'base2new and predict work as in fp32 and record it' : 'refused in one line, nothing written'}; fp16 on a CPU is refused`, () => {
  const out = path.join(work, 'bf16');
  const img = path.join(root, 'red_square', '1.png');
  const refused = mpl(['zeroshot', '--weights', weights, '--classes', 'a,b', '--device', 'cpu', '--precision', 'fp16', img]);
  assert.notEqual(refused.status, 0);
  assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  assert.match(refused.stderr, /^mpl: --precision fp16 is a GPU recipe/);
  if (!nativeBf16) {
    for (const args of [train(out, ['--seeds', '1', '--epochs', '1', '--precision', 'bf16']), ['zeroshot', '--weights', weights, '--classes', 'a,b', '--device', 'cpu', '--precision', 'bf16', img]]) {
      const r = mpl(args);
      assert.notEqual(r.status, 0, `${args[0]} --precision bf16 ran on a CPU without native bf16`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^mpl: --precision bf16: no AVX512-BF16 or AMX on this CPU.*use --precision fp32/);
    }
    assert.ok(!fs.existsSync(out) || findFiles(out, 'result.json').length === 0, 'nothing written');
    return;
  }
  ok(mpl(train(out, ['--seeds', '1', '--epochs', '1', '--precision', 'bf16'])), 'base2new bf16');
  const [resultFile] = findFiles(out, 'result.json');
  const r = JSON.parse(fs.readFileSync(resultFile, 'utf8'));
  assert.equal(r.precision, 'bf16');
  assert.match(r.device, /^cpu/);
  for (const k of ['base', 'new', 'hm']) assert.ok(Number.isFinite(r[k]) && r[k] >= 0 && r[k] <= 100, `${k} = ${r[k]}`);
  const dir = path.dirname(resultFile);
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'prompts.json'), 'utf8')).precision, 'bf16');
  const pred = JSON.parse(ok(mpl(['predict', '--weights', weights, '--prompts', path.join(dir, 'prompts.safetensors'), '--device', 'cpu', '--precision', 'bf16', '--json', img]), 'predict bf16'));
  const probs = Object.values(pred[0].probabilities) as number[];
  assert.ok(probs.every(Number.isFinite));
  assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-5);
});
