/**
 * What a protocol run prints and writes is true and reads as the field's tools read (issue 21): the folder it
 * names exists and holds the seeds; its summary gives the same figures as `mpl table`; log.txt ends with
 * Dassl's result block, which parse_test_res.py's documented rule reads back to the table's numbers; a refused
 * run creates nothing; text longer than CLIP's context is refused; preflight says each problem once, one per
 * line, with did-you-mean, and warns about thin classes and one-class halves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { goldenDir, mplOk, repoRoot, runMpl, tmpDir } from '../helpers.js';
import { makeImageFolder } from '../data/fixtures.js';
import { percent } from '../../src/util/format.js';

const weights = path.join(goldenDir, 'tiny_clip.safetensors'); // 4 layers
const work = tmpDir('mpl-surface-');
const root = path.join(work, 'images');
const mpl = (args: string[]) => runMpl(args, { cwd: work });
const quick = ['--weights', weights, '--epochs', '1', '--precision', 'fp32', '--workers', '1'];

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/**
 * What parse_test_res.py's docstring and regexes document (Zhenhan-Huang/Modular-Prompt-Learning): in each
 * `<dir>/<sub>/log.txt`, after the line `Finished training` (or `=> result` with --test-log), the last line
 * matching `\* <keyword>: ([\.\deE+-]+)%` is the run's number; the summary is np.mean ± np.std of them.
 */
function officialRule(dir: string, keyword = 'accuracy', endSignal = 'Finished training'): number[] {
  const re = new RegExp(`\\* ${keyword}: ([\\.\\deE+-]+)%`);
  return fs.readdirSync(dir).filter((s) => !s.startsWith('.')).sort().map((sub) => {
    let go = false;
    let value: number | undefined;
    for (const line of fs.readFileSync(path.join(dir, sub, 'log.txt'), 'utf8').split('\n')) {
      if (line.trim() === endSignal) go = true;
      const m = re.exec(line.trim());
      if (m && go) value = Number(m[1]);
    }
    assert.ok(value !== undefined, `${sub}: nothing found for ${keyword}`);
    return value;
  });
}

test.before(async () => {
  await makeImageFolder(root, ['cat', 'dog', 'red_car', 'blue_sky'], 8);
});

test('base2new over seeds: the printed folder exists and holds the seeds; summary = mpl table; log.txt ends with Dassl\'s result block', () => {
  const out = 'runs';
  const r = mpl(['base2new', '--dataset', 'imagefolder', '--root', root, '--method', 'mpl', '--depth', '2', '--seeds', '1,2,3', '--out', out, ...quick]);
  const stdout = mplOk(r, 'base2new');
  // the folder named is the folder written (the hash in the printed path once differed from the folder's)
  const where = /^results in (.+)\/ \((seed1, seed2, seed3)\)$/m.exec(stdout);
  assert.ok(where, stdout);
  const dir = path.resolve(work, where[1]);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['seed1', 'seed2', 'seed3'], 'the configuration folder holds the seed folders and nothing the parser would trip on');
  for (const m of r.stderr.matchAll(/-> (\S+)$/gm)) assert.ok(fs.existsSync(path.join(path.resolve(work, m[1]), 'result.json')), m[1]);

  // one HM: the summary prints what mpl table prints (HM of the mean base and new), the spread named
  const table = JSON.parse(mplOk(mpl(['table', out, '--json']), 'table')).base2new.mpl.imagefolder;
  const line = (k: string) => new RegExp(`^ {2}${k} +(\\d+\\.\\d\\d) ± (\\d+\\.\\d\\d)$`, 'm').exec(stdout)!;
  assert.equal(line('HM')[1], fmt(table.mean.hm));
  assert.equal(line('base')[1], fmt(table.mean.base));
  assert.equal(line('new')[1], fmt(table.mean.new));
  assert.equal(line('HM')[2], fmt(table.std.hm));
  assert.match(stdout, /± = population std over seeds, for HM: of the per-seed HMs; HM = harmonic mean of the mean base and mean new accuracy/);
  const md = mplOk(mpl(['table', out, '--metric', 'hm']), 'table md');
  assert.match(md, new RegExp(`\\| MPL \\| ${fmt(table.mean.hm)} ± ${fmt(table.std.hm)} \\|`));

  // log.txt: Dassl's lines, without timestamps, two decimals; learning rates as Python prints them
  const log = fs.readFileSync(path.join(dir, 'seed1', 'log.txt'), 'utf8').split('\n');
  const end = log.indexOf('Finished training');
  assert.ok(end > 0, 'the line parse_test_res.py waits for');
  assert.deepEqual(log.slice(end + 1, end + 3), ['Deploy the last-epoch model', 'Do evaluation on test set (base classes)']);
  const block = log.slice(end + 3, end + 9);
  assert.equal(block[0], '=> result');
  assert.match(block[1], /^\* total: \d{1,3}(,\d{3})*$/);
  assert.match(block[2], /^\* correct: \d{1,3}(,\d{3})*$/);
  assert.match(block[3], /^\* accuracy: \d+\.\d\d%$/);
  assert.match(block[4], /^\* error: \d+\.\d\d%$/);
  assert.match(block[5], /^\* macro_f1: \d+\.\d\d%$/);
  assert.ok(log.includes('* new_accuracy: ' + fmt(JSON.parse(fs.readFileSync(path.join(dir, 'seed1', 'result.json'), 'utf8')).new) + '%'));
  assert.match(log.find((l) => l.startsWith('Elapsed: '))!, /^Elapsed: \d+:\d\d:\d\d$/);
  assert.ok(log.some((l) => / epoch 1 lr 1\.0000e-05 loss /.test(l)), 'the epoch line prints the learning rate as Dassl does');

  // parse_test_res.py's documented rule on the folder gives the table's per-seed values and mean ± std
  for (const [keyword, metric] of [['accuracy', 'base'], ['new_accuracy', 'new']] as const) {
    const perSeed = officialRule(dir, keyword);
    assert.deepEqual(perSeed.map(fmt), table.seeds.map((s: Record<string, number>) => fmt(s[metric])));
    assert.deepEqual(officialRule(dir, keyword, '=> result').map(fmt), perSeed.map(fmt), '--test-log reads the same');
    assert.equal(fmt(npMean(perSeed)), fmt(table.mean[metric]));
    assert.equal(fmt(npStd(perSeed)), fmt(table.std[metric]));
  }

  // the official output layout: train_base with the log and the Dassl checkpoint, test_new with the test log
  const exported = mplOk(mpl(['export', out, '--official-layout', '--out', 'official']), 'export --official-layout');
  const folders = [...exported.matchAll(/^wrote (.+)\/$/gm)].map((m) => path.resolve(work, m[1]));
  assert.equal(folders.length, 6, exported);
  for (const f of folders) assert.ok(fs.existsSync(path.join(f, 'log.txt')), f);
  const trainBase = path.dirname(folders.find((f) => f.includes(`${path.sep}train_base${path.sep}`))!);
  assert.match(trainBase, /official\/base2new\/train_base\/imagefolder\/shots_16\/MPL\/[a-z0-9_]+$/);
  assert.deepEqual(fs.readdirSync(trainBase).sort(), ['seed1', 'seed2', 'seed3']);
  assert.ok(fs.existsSync(path.join(trainBase, 'seed1', 'MultiModalPromptLearner', 'model.pth.tar-1')));
  const testNew = trainBase.replace(`${path.sep}train_base${path.sep}`, `${path.sep}test_new${path.sep}`);
  assert.deepEqual(officialRule(trainBase).map(fmt), table.seeds.map((x: { base: number }) => fmt(x.base)));
  assert.deepEqual(officialRule(testNew, 'accuracy', '=> result').map(fmt), table.seeds.map((x: { new: number }) => fmt(x.new)));
});

/** Python's format(x, '.2f') (test/util/format.test.ts checks the formatter against it). */
const fmt = percent;
// np.mean / np.std of three values: numpy sums fewer than 8 values in order, from 0
const npMean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const npStd = (xs: number[]) => Math.sqrt(xs.reduce((a, b) => a + (b - npMean(xs)) ** 2, 0) / xs.length);

test('a refused run creates nothing: a depth beyond the model, a --ctx-init or --template longer than the context', () => {
  const long = Array.from({ length: 80 }, (_, i) => `word${i % 7}`).join(' ');
  const cases: Array<[string[], RegExp]> = [
    [['--method', 'mpl'], /^mpl: method mpl: prompt depth 9 is beyond the model's 4 layers: give --depth 4 or less/],
    [['--method', 'mpl', '--depth', '2', '--ctx-init', long], /^mpl: --ctx-init: the prompt "X word0 word1 .*" is 1\d\d tokens with a one-token class name; CLIP's text context holds 77 \(start and end tokens included\): shorten --ctx-init/],
    [['--method', 'coop', '--ctx-init', long.split(' ').slice(0, 40).join(' ')], /^mpl: --ctx-init: the prompt ".*" is \d+ tokens with a one-token class name; CLIP's text context holds 77/],
    [['--method', 'zeroshot', '--template', `${long} {}.`], /^mpl: --template: the prompt ".*" is \d+ tokens with a one-token class name; CLIP's text context holds 77 .*: shorten --template/],
    [['--method', 'zeroshot', '--template', 'a photo of a thing.'], /^mpl: --template: "a photo of a thing\." has no \{\} where the class name goes; every class would get the same prompt/],
  ];
  for (const [args, message] of cases) {
    const out = path.join(work, 'refused');
    const r = mpl(['base2new', '--dataset', 'imagefolder', '--root', root, '--seeds', '1', '--out', out, ...quick, ...args]);
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!fs.existsSync(out), `${args.join(' ')}: ${filesUnder(out).join(', ')} created for a refused run`);
  }
  // the same refusal from the library path (no CLI preflight) and from zeroshot/predict: never cut silently
  const img = path.join(root, 'cat', '0.png');
  const zs = mpl(['zeroshot', '--weights', weights, '--classes', 'cat,dog', '--template', `${long} {}.`, img]);
  assert.match(zs.stderr, /^mpl: --template: the prompt .* is \d+ tokens .* holds 77/);
  const name = mpl(['zeroshot', '--weights', weights, '--classes', `cat,${long}`, img]);
  assert.match(name.stderr, /^mpl: class name "word0 .*": the prompt ".*" is \d+ tokens; CLIP's text context holds 77 .*shorten the class name/);
});

test('preflight: each problem once, did-you-mean for names; warnings for thin classes and a one-class half', async () => {
  const out = path.join(work, 'pre');
  const typo = mpl(['base2new', '--dataset', 'imagefoldr', '--root', root, '--method', 'mpl', '--depth', '2', '--seeds', '1,2,3', '--out', out, ...quick]);
  assert.equal(typo.status, 1);
  assert.equal(typo.stderr.trim().split('\n').length, 1, `said once for three seeds and two halves: ${typo.stderr}`);
  assert.match(typo.stderr, /^mpl: unknown dataset "imagefoldr" \(did you mean imagefolder\?\); valid names: /);
  const method = mpl(['base2new', '--dataset', 'imagefolder', '--root', root, '--method', 'mapel', '--out', out, ...quick]);
  assert.match(method.stderr, /^mpl: unknown method 'mapel' \(did you mean maple\? known: /);
  assert.ok(!fs.existsSync(out));

  // three classes: the new half has one; "dog" has 3 training images for --shots 4
  const thin = path.join(work, 'thin');
  await makeImageFolder(thin, ['cat', 'dog', 'sky'], 8);
  for (const f of ['3', '4', '5', '6', '7']) fs.rmSync(path.join(thin, 'dog', `${f}.png`));
  const r = mpl(['base2new', '--dataset', 'imagefolder', '--root', thin, '--method', 'coop', '--shots', '4', '--seeds', '1,2', '--out', out, ...quick]);
  assert.equal(r.status, 0, r.stderr);
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning: '));
  const few = warnings.filter((w) => /fewer training images than --shots 4/.test(w));
  assert.equal(few.length, 1, r.stderr);
  assert.match(few[0], /1 class has fewer training images than --shots 4, so it trains on what it has .*: dog \(\d\)$/);
  const one = warnings.filter((w) => /one class only/.test(w));
  assert.equal(one.length, 1, r.stderr);
  assert.match(one[0], /\(new half of the classes\): one class only, so its accuracy is 100% whatever the prompts are/);
  // one line per evaluation stage, each named
  assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('evaluating base classes')).length, 2, r.stderr);
  assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('evaluating new classes')).length, 2, r.stderr);

  // a half with no class at all cannot run: refused before anything is written
  const single = path.join(work, 'single');
  await makeImageFolder(single, ['cat'], 6);
  const none = mpl(['base2new', '--dataset', 'imagefolder', '--root', single, '--method', 'coop', '--seeds', '1', '--out', path.join(work, 'single-out'), ...quick]);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /the new half of the classes has no classes; nothing can be trained or evaluated/);
  assert.ok(!fs.existsSync(path.join(work, 'single-out')));
});

test('progress: on a terminal the bars carry an ETA for the whole run; a log gets one plain line per stage', () => {
  const base = ['base2new', '--dataset', 'imagefolder', '--root', root, '--method', 'coop', '--seeds', '1,2', ...quick, '--epochs', '2'];
  const args = [...base, '--out', path.join(work, 'eta')];
  // a pseudo-terminal (util-linux script): stderr is a TTY, as in an interactive shell
  const bin = path.join(repoRoot, 'bin', 'mpl.js');
  const tty = spawnSync('script', ['-qfec', [process.execPath, bin, ...args].map((a) => `'${a}'`).join(' '), '/dev/null'], { cwd: work, encoding: 'utf8', env: { ...process.env, MPL_NUM_THREADS: '1', COLUMNS: '200' }, timeout: 180_000 });
  assert.equal(tty.status, 0, tty.stdout);
  assert.match(tty.stdout, /epoch 1\/2 \|.*\| \d+\/\d+ batches .*run eta \d+:\d\d:\d\d/, 'the training bar shows the ETA of the whole run');
  assert.match(tty.stdout, /evaluating new classes \|.*run eta \d+:\d\d:\d\d/);
  // not a terminal: no bar drawing, one line per epoch and per evaluation
  const r = mpl([...base, '--out', path.join(work, 'eta-log')]);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /\r|\u001b\[/, 'plain lines');
  const lines = r.stderr.split('\n');
  for (const stage of ['epoch 1/2: ', 'epoch 2/2: ', 'evaluating base classes: ', 'evaluating new classes: ']) {
    assert.equal(lines.filter((l) => l.startsWith(stage)).length, 2, `${stage}once per seed: ${r.stderr}`);
  }
});
