/**
 * --config files (this tool's own keys and the official Dassl/MPL YAML files as they are), Dassl KEY VALUE
 * overrides, the refusal of unsupported behaviour-changing keys, and `mpl rerun`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isDasslConfig, mapDassl, parseOverrides, readConfigFile } from '../../src/cli/config-file.js';
import { goldenDir, runMpl, sharedDir, tmpDir } from '../helpers.js';
import { makeImageFolder } from '../data/fixtures.js';

const official = path.join(sharedDir, 'data', 'official-configs');
const weights = path.join(goldenDir, 'tiny_clip.safetensors');
const work = tmpDir('mpl-config-');
const root = path.join(work, 'images');

function flat(tree: Record<string, unknown>, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [k, v] of Object.entries(tree)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) flat(v as Record<string, unknown>, key, out);
    else out[key] = v;
  }
  return out;
}

const mpl = (args: string[]) => runMpl(args, { cwd: work });

/** The result.json files under a folder (the run-folder layout is not this test's concern). */
function results(dir: string): Array<Record<string, any>> {
  const out: Array<Record<string, any>> = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.name === 'result.json') out.push(JSON.parse(fs.readFileSync(path.join(d, e.name), 'utf8')));
    }
  };
  walk(dir);
  return out;
}

test.before(() => makeImageFolder(root, ['cat', 'dog', 'red_car', 'blue_sky'], 8));

test('the official MPL base-to-new YAML and a dataset YAML map onto the flags', () => {
  const trainer = readConfigFile(path.join(official, 'trainers/MPL/vit_b4_c1_add2_rm1.yaml'));
  const dataset = readConfigFile(path.join(official, 'datasets/eurosat.yaml'));
  assert.ok(isDasslConfig(trainer) && isDasslConfig(dataset));
  const { flags, notes } = mapDassl({ ...flat(trainer), ...flat(dataset) }, 'base2new', 'test');
  assert.deepEqual(flags, {
    method: 'mpl',
    batchSize: 4,
    workers: 8,
    inputSize: 224,
    lr: 0.0035,
    epochs: 5,
    warmupEpochs: 1,
    warmupLr: 1e-5,
    printFreq: 20,
    model: 'ViT-B/16',
    nCtx: 1,
    ctxInit: 'a photo of a',
    precision: 'auto',
    depth: 9,
    nAdd: 2,
    nRm: 1,
    dataset: 'EuroSAT',
  });
  assert.match(notes.join('\n'), /PREC fp16/);
});

test('every official trainer and dataset file is accepted as it is', () => {
  const files = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.yaml') ? [path.join(dir, e.name)] : []));
  const all = files(official);
  assert.ok(all.length >= 40, `${all.length} files`);
  for (const f of all) {
    const tree = readConfigFile(f);
    assert.ok(isDasslConfig(tree), f);
    const { flags } = mapDassl(flat(tree), 'base2new', f);
    if (f.includes('/datasets/')) assert.equal(typeof flags.dataset, 'string', f);
    else assert.ok(flags.batchSize !== undefined, f);
  }
  // CoOp's files have no TRAINER section (its options come from overrides): the method then comes from --method
  assert.equal(mapDassl(flat(readConfigFile(path.join(official, 'trainers/CoOp/vit_b16.yaml'))), 'base2new', 'x').flags.method, undefined);
  // PromptSRC's own keys and IVLP's N_CTX_TEXT
  const src = mapDassl(flat(readConfigFile(path.join(official, 'promptsrc/vit_b16_c2_ep20_batch4_4+4ctx.yaml'))), 'base2new', 'x').flags;
  assert.equal(src.method, 'promptsrc');
  assert.equal(src.nCtx, 4);
  assert.equal(src.gpaMean, 15);
  assert.equal(src.textLossWeight, 25);
});

test("KgCoOp's and ProGrad's official configs: settings under TRAINER.COOP, CTX_INIT a switch, LOSS.* for ProGrad", () => {
  // configs/trainers/KgCoOp/vit_b16_ep100_ctxv1.yaml and ProGrad.public/configs/trainers/ProGrad/rn50_ep100.yaml
  // (their OPTIM, INPUT and DATALOADER sections are CoOp's), with the overrides of their scripts; the trainer is
  // named on the command line (`--trainer KgCoOp`), here --method
  const common = { 'OPTIM.NAME': 'sgd', 'OPTIM.LR': 0.002, 'OPTIM.MAX_EPOCH': 100, 'OPTIM.LR_SCHEDULER': 'cosine', 'OPTIM.WARMUP_EPOCH': 1, 'TRAINER.COOP.CTX_INIT': true };
  const kg = mapDassl({ ...common, 'DATALOADER.TRAIN_X.BATCH_SIZE': 128, 'TRAINER.COOP.N_CTX': 4, 'TRAINER.COOP.W': 8.0, 'TRAINER.COOP.CSC': false }, 'base2new', 'x', 'kgcoop').flags;
  assert.equal(kg.method, 'kgcoop');
  assert.equal(kg.ctxInit, 'a photo of a'); // True: KgCoOp's own words
  assert.equal(kg.kgWeight, 8);
  assert.equal(kg.batchSize, 128);
  const pg = mapDassl({ ...common, 'TRAINER.NAME': 'ProGrad', 'LOSS.NAME': 'prograd', 'LOSS.T': 1.0, 'LOSS.LAMBDA': 0.8, 'TRAINER.COOP.N_CTX': 16 }, 'fewshot', 'x').flags;
  assert.equal(pg.method, 'prograd');
  assert.equal(pg.ctxInit, '{template}'); // True: the dataset's template words
  assert.deepEqual([pg.lambda, pg.temperature, pg.nCtx], [0.8, 1, 16]);
  assert.equal(mapDassl({ 'TRAINER.COOP.CTX_INIT': 'False' }, 'base2new', 'x', 'prograd').flags.ctxInit, ''); // random init
  // ProGrad's loss settings cannot change another method's run; another LOSS.NAME is refused
  assert.equal(mapDassl({ 'LOSS.LAMBDA': 0.8 }, 'base2new', 'x', 'coop').flags.lambda, undefined);
  assert.throws(() => mapDassl({ 'LOSS.NAME': 'focal' }, 'base2new', 'x', 'prograd'), /LOSS\.NAME "focal" is not supported/);
});

test('Dassl overrides are KEY VALUE pairs with typed values', () => {
  assert.deepEqual(parseOverrides(['DATASET.NUM_SHOTS', '16', 'TRAINER.MPL.CTX_INIT', 'a photo of', 'TRAINER.COOP.CSC', 'True']), {
    'DATASET.NUM_SHOTS': 16,
    'TRAINER.MPL.CTX_INIT': 'a photo of',
    'TRAINER.COOP.CSC': true,
  });
  assert.throws(() => parseOverrides(['DATASET.NUM_SHOTS']), /KEY VALUE pairs/);
  assert.throws(() => parseOverrides(['--epochs', '2']), /not a Dassl key/);
  // few-shot: NUM_SHOTS is the K of the run
  assert.equal(mapDassl({ 'DATASET.NUM_SHOTS': 4 }, 'fewshot', 'x').flags.k, 4);
});

test('keys that would change behaviour and are not supported are refused, naming the key', () => {
  const refuse = (keys: Record<string, unknown>, re: RegExp, command: 'base2new' | 'fewshot' = 'base2new') =>
    assert.throws(() => mapDassl(keys, command, 'cfg.yaml'), (e: Error) => re.test(e.message) && e.message.startsWith('cfg.yaml: '));
  refuse({ 'OPTIM.NAME': 'adam' }, /OPTIM\.NAME "adam" is not supported: this tool implements "sgd"/);
  refuse({ 'OPTIM.LR_SCHEDULER': 'single_step' }, /OPTIM\.LR_SCHEDULER/);
  refuse({ 'OPTIM.WARMUP_TYPE': 'linear' }, /WARMUP_TYPE/);
  refuse({ 'INPUT.TRANSFORMS': ['random_crop', 'normalize'] }, /INPUT\.TRANSFORMS/);
  refuse({ 'INPUT.PIXEL_MEAN': [0.5, 0.5, 0.5] }, /INPUT\.PIXEL_MEAN/);
  refuse({ 'TEST.FINAL_MODEL': 'best_val' }, /TEST\.FINAL_MODEL/);
  refuse({ 'DATASET.SUBSAMPLE_CLASSES': 'new' }, /SUBSAMPLE_CLASSES new: base2new trains on the base classes/);
  refuse({ 'DATASET.SUBSAMPLE_CLASSES': 'base' }, /fewshot uses all classes/, 'fewshot');
  refuse({ 'TRAINER.MPL.N_CTX': 1, 'TRAINER.MPL.SHUFFLE': true }, /TRAINER\.MPL\.SHUFFLE is not supported/);
  refuse({ 'TRAINER.NAME': 'DualCoOp' }, /not a trainer this tool has/);
  refuse({ 'MODEL.HEAD.NAME': 'mlp', 'FOO.BAR': 1 }, /FOO\.BAR is not supported by this tool/);
  // equal to what is implemented, in yacs spellings: accepted
  assert.doesNotThrow(() => mapDassl({ 'INPUT.RRCROP_SCALE': '(0.08, 1.0)', 'OPTIM.SGD_NESTEROV': 'False', 'OPTIM.NAME': 'SGD' }, 'base2new', 'x'));
});

test('mpl base2new --config OFFICIAL.yaml with Dassl overrides; flags on the command line win', () => {
  const out = path.join(work, 'official');
  const r = mpl([
    'base2new', '--config', path.join(official, 'trainers/MPL/vit_b4_c1_add2_rm1.yaml'), '--weights', weights, '--dataset', 'imagefolder',
    '--root', root, '--depth', '3', '--out', out, '--seeds', '1', '--workers', '1', '--precision', 'fp32', '--quiet', 'OPTIM.MAX_EPOCH', '1', 'OPTIM.LR', '0.002',
  ]);
  assert.equal(r.status, 0, r.stderr);
  const [res] = results(out);
  assert.equal(res.config.epochs, 1); // override
  assert.equal(res.config.lr, 0.002); // override
  assert.equal(res.config.batch_size, 4); // the YAML
  assert.equal(res.config.method, 'mpl');
  const mo = res.config.method_options;
  assert.equal(mo.depth ?? mo.prompt_depth, 3); // the command line beats PROMPT_DEPTH 9
  assert.equal(mo.nAdd ?? mo.n_add, 2);
  assert.equal(res.precision, 'fp32');
  // the warning about INPUT.SIZE (224 in the file, 32 for the tiny model) is said, not hidden
  const quietless = mpl(['base2new', '--config', path.join(official, 'trainers/MPL/vit_b4_c1_add2_rm1.yaml'), '--weights', weights, '--dataset', 'imagefolder', '--root', root, '--depth', '3', '--out', out, '--seeds', '1', '--workers', '1', '--precision', 'fp32']);
  assert.equal(quietless.status, 0, quietless.stderr);
  assert.match(quietless.stderr, /INPUT\.SIZE 224 differs from the model's input size 32/);
  // a refused key stops before anything runs, in one line
  const bad = mpl(['base2new', '--config', path.join(official, 'trainers/MPL/vit_b4_c1_add2_rm1.yaml'), '--weights', weights, '--dataset', 'imagefolder', '--root', root, '--out', path.join(work, 'bad'), 'OPTIM.NAME', 'adam']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^mpl: .*OPTIM\.NAME "adam" is not supported/);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.ok(!fs.existsSync(path.join(work, 'bad')));
});

test('own-format YAML config, command line wins; mpl rerun replays the recorded configuration', () => {
  const cfg = path.join(work, 'run.yaml');
  fs.writeFileSync(cfg, ['method: coop', 'n-ctx: 2', 'ctx_init: ""', 'epochs: 3', 'seeds: [2]', 'batchSize: 2', 'dataset: imagefolder', `root: ${root}`, 'precision: fp32', 'workers: 1'].join('\n'));
  const out = path.join(work, 'own');
  const r = mpl(['base2new', '--config', cfg, '--weights', weights, '--epochs', '1', '--out', out, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const [res] = results(out);
  assert.equal(res.method, 'coop');
  assert.equal(res.seed, 2);
  assert.equal(res.config.epochs, 1);
  assert.equal(res.config.batch_size, 2);
  const typo = path.join(work, 'typo.yaml');
  fs.writeFileSync(typo, 'epoch: 3\n');
  const bad = mpl(['base2new', '--config', typo, '--weights', weights, '--dataset', 'imagefolder', '--root', root]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /typo\.yaml: 'epoch' is not an option of mpl base2new/);

  // rerun: same configuration, same numbers, into rerun/ (the recorded run is not touched)
  const resultFile = findResult(out);
  const before = fs.readFileSync(resultFile, 'utf8');
  const rr = mpl(['rerun', resultFile, '--out', path.join(work, 'replay'), '--workers', '1', '--quiet']);
  assert.equal(rr.status, 0, rr.stderr);
  const [again] = results(path.join(work, 'replay'));
  assert.equal(again.base, res.base);
  assert.equal(again.new, res.new);
  assert.equal(again.config.epochs, 1);
  assert.equal(again.method, 'coop');
  assert.match(rr.stdout, /base +recorded [\d.]+ +now [\d.]+ +difference \+0\.00/);
  assert.equal(fs.readFileSync(resultFile, 'utf8'), before);
});

function findResult(dir: string): string {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      const f = findResult(p);
      if (f) return f;
    } else if (e.name === 'result.json') return p;
  }
  return '';
}
