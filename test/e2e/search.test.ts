/**
 * `mpl search` end to end through the binary: the acceptance command on the golden tiny CLIP and a generated
 * image folder (16 candidates, successive halving), a search SIGKILLed inside a trial that resumes and ends
 * exactly as the uninterrupted one (every trial's checkpoint bit for bit), the local executor (trials as
 * processes) agreeing with the in-process trials, --final, help and bad arguments.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeDataset, loadDataset } from '../../src/data/dataset.js';
import { parseSchedule } from '../../src/prompting/plan.js';
import { goldenDir, tmpDir } from '../helpers.js';
import { killAfterTrials, makeImageFolder, mplCli as mpl, ok } from './fixtures.js';

const weights = path.join(goldenDir, 'tiny_clip.safetensors');
const work = tmpDir('mpl-e2e-search-');
const root = path.join(work, 'images');
const classes = ['red_square', 'green_field', 'blue_sky', 'yellow_sun', 'red_brick', 'green_leaf', 'blue_sea', 'yellow_sand'];

test.before(() => makeImageFolder(root, classes));

// the acceptance command, with a short schedule (4 epochs) and the CPU in fp32 named explicitly
const search = (out: string, extra: string[] = []) => [
  'search', '--weights', weights, '--dataset', 'imagefolder', '--root', root, '--protocol', 'base2new', '--depth', '2-4', '--add', '0-3', '--rm', '0-2',
  '--candidates', '16', '--seed', '1', '--out', out, '--json', '--max-epochs', '4', '--workers', '1', '--device', 'cpu', '--precision', 'fp32', '--quiet', ...extra,
];

interface Trial {
  candidate: string;
  schedule: string;
  depth: number;
  seed: number;
  epochs: number;
  objective: number;
  train_loss: number;
}

/** Every trial result under a search folder, keyed by schedule, seed and epochs. */
function trials(out: string): Map<string, Trial & { file: string }> {
  const found = new Map<string, Trial & { file: string }>();
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'result.json') {
        const t = JSON.parse(fs.readFileSync(p, 'utf8')) as Trial;
        found.set(`d${t.depth}|${t.schedule}|s${t.seed}|e${t.epochs}`, { ...t, file: p });
      }
    }
  };
  walk(path.join(out, 'trials'));
  return found;
}

const uninterrupted = path.join(work, 'a');
let a: { best: { schedule: string; depth: number; objective: number; flags: string }; candidates: Array<{ id: string; depth: number; schedule: string; rungs: unknown[]; epochs: number; parameters: number }>; read_splits: string[] };

test('the acceptance command: 16 candidates, successive halving, bounds, the best as a ready --schedule, never test or new classes', () => {
  a = JSON.parse(ok(mpl(search(uninterrupted)), 'mpl search'));
  assert.equal(typeof a.best.schedule, 'string');
  assert.ok(parseSchedule(a.best.schedule).size === a.best.depth - 1);
  assert.ok(Number.isFinite(a.best.objective));
  assert.equal(a.best.flags, `--depth ${a.best.depth} --schedule "${a.best.schedule}"`);
  assert.equal(a.candidates.length, 16);
  for (const c of a.candidates) {
    assert.ok(c.depth >= 2 && c.depth <= 4);
    for (const op of parseSchedule(c.schedule).values()) assert.ok(op.add <= 3 && op.remove <= 2, c.schedule);
  }
  assert.deepEqual(a.candidates.map((c) => c.epochs).sort(), [...Array(8).fill(2), ...Array(8).fill(4)]);
  assert.deepEqual([...a.read_splits].sort(), ['train', 'val']);
  // the images every process of the search read (<out>/reads/): none of the test split, none of a new class
  const info = describeDataset('imagefolder', { root });
  const all = loadDataset('imagefolder', { root });
  const forbidden = new Set([...all.test, ...all.train.filter((d) => info.newClasses.includes(d.classname)), ...all.val.filter((d) => info.newClasses.includes(d.classname))].map((d) => d.impath));
  const read = fs.readdirSync(path.join(uninterrupted, 'reads')).flatMap((f) => JSON.parse(fs.readFileSync(path.join(uninterrupted, 'reads', f), 'utf8')).images as string[]);
  assert.ok(read.length > 0);
  for (const im of read) assert.ok(!forbidden.has(im), `${im} was read`);
  for (const f of ['leaderboard.md', 'leaderboard.csv', 'search.svg', 'search.png', 'result.json', 'state.json']) assert.ok(fs.existsSync(path.join(uninterrupted, f)), f);
});

test('a search killed inside a trial resumes and ends exactly as the uninterrupted one', () => {
  const b = path.join(work, 'b');
  const killed = mpl(search(b), killAfterTrials(5));
  assert.equal(killed.signal, 'SIGKILL', killed.stderr);
  const state = JSON.parse(fs.readFileSync(path.join(b, 'state.json'), 'utf8'));
  assert.equal(state.status, 'running');
  const sixth = path.join(b, 'trials', 'c06', 'seed1');
  assert.ok(fs.existsSync(path.join(sixth, 'checkpoint.safetensors')), 'the sixth trial saved epoch 1');
  assert.ok(!fs.existsSync(path.join(sixth, 'e2', 'result.json')));
  assert.equal(trials(b).size, 5);

  const resumed = JSON.parse(ok(mpl(search(b)), 'resumed search'));
  assert.match(fs.readFileSync(path.join(sixth, 'log.txt'), 'utf8'), /resume after epoch 1/);
  const strip = (r: typeof a) => r.candidates.map((c) => ({ id: c.id, schedule: c.schedule, rungs: c.rungs, epochs: c.epochs }));
  const noTimes = (x: unknown) => JSON.parse(JSON.stringify(x, (k, v) => (k === 'step_ms' ? undefined : v)));
  assert.deepEqual(noTimes(strip(resumed)), noTimes(strip(a)));
  assert.deepEqual(resumed.best.schedule, a.best.schedule);
  const ta = trials(uninterrupted);
  const tb = trials(b);
  assert.deepEqual([...tb.keys()].sort(), [...ta.keys()].sort());
  for (const [k, t] of ta) {
    assert.equal(tb.get(k)!.objective, t.objective, k);
    assert.equal(tb.get(k)!.train_loss, t.train_loss, k);
  }
  for (const c of fs.readdirSync(path.join(uninterrupted, 'trials'))) {
    const ca = fs.readFileSync(path.join(uninterrupted, 'trials', c, 'seed1', 'checkpoint.safetensors'));
    const cb = fs.readFileSync(path.join(b, 'trials', c, 'seed1', 'checkpoint.safetensors'));
    // the header holds measured times (history): compare the tensors, which follow it
    const body = (buf: Buffer) => buf.subarray(8 + Number(buf.readBigUInt64LE(0)));
    assert.ok(body(ca).equals(body(cb)), `${c}: the checkpoint's tensors differ after the resume`);
  }
});

test('the local executor runs trials as processes and agrees with the in-process trials', () => {
  const c = path.join(work, 'local');
  const r = JSON.parse(ok(mpl(search(c, ['--candidates', '3', '--executor', 'local', '--parallel', '2'])), 'search --executor local'));
  assert.equal(r.candidates.length, 3);
  assert.deepEqual(r.candidates.map((x: { schedule: string }) => x.schedule).sort(), a.candidates.filter((x) => ['c01', 'c02', 'c03'].includes(x.id)).map((x) => x.schedule).sort());
  const ta = trials(uninterrupted);
  const tc = trials(c);
  assert.equal(tc.size, 4); // 3 trials of 2 epochs, the best one continued to 4
  for (const [k, t] of tc) {
    if (!ta.has(k)) continue; // a continuation the 16-candidate search did not make
    assert.equal(t.objective, ta.get(k)!.objective, k);
    assert.equal(t.train_loss, ta.get(k)!.train_loss, k);
  }
  assert.ok([...tc.values()].every((t) => fs.existsSync(path.join(path.dirname(t.file), 'sweep.log'))));
  assert.ok(fs.existsSync(path.join(c, '.sweeps', 'search', 'local.json')));
});

test('--final trains the best schedule and the default MPL with the real protocol into one table', () => {
  const logs = () => fs.readdirSync(path.join(uninterrupted, 'trials')).map((x) => fs.readFileSync(path.join(uninterrupted, 'trials', x, 'seed1', 'log.txt'), 'utf8')).join('');
  const before = logs();
  const r = JSON.parse(ok(mpl(search(uninterrupted, ['--final', '--final-seeds', '1'])), 'search --final'));
  assert.equal(logs(), before, 'the search itself was not trained again');
  assert.deepEqual(r.final.runs.map((x: { row: string }) => x.row), ['best', 'default']);
  assert.deepEqual(r.final.default_options, { depth: 4 }); // the tiny model has 4 layers: MPL's depth 9 capped
  for (const run of r.final.runs) for (const k of ['base', 'new', 'hm']) assert.ok(Number.isFinite(run.results[0][k]));
  const md = fs.readFileSync(path.join(uninterrupted, 'final.md'), 'utf8');
  assert.match(md, /^# The searched schedule beside the default MPL/);
  assert.equal((md.match(/MPL \(/g) ?? []).length >= 2, true, md);
  const configs = fs.readdirSync(path.join(uninterrupted, 'final', 'base2new', 'imagefolder', 'shots_16', 'mpl'));
  assert.equal(configs.length, 2, configs.join(', '));
  assert.ok(configs.some((x) => /_sched_ep4-/.test(x)) && configs.some((x) => /^tiny_clip_c1_add2_rm1_d4_ep4-/.test(x)), configs.join(', '));
});

test('--no-augment: recorded in the search settings, changes what trials train on, and reaches --final', () => {
  const c = path.join(work, 'noaug');
  const r = JSON.parse(ok(mpl(search(c, ['--candidates', '3', '--no-augment', '--final', '--final-seeds', '1'])), 'search --no-augment --final'));
  assert.equal(r.candidates.length, 3);
  assert.equal(JSON.parse(fs.readFileSync(path.join(c, 'search.json'), 'utf8')).settings.augment, false);
  // the proposals do not depend on augmentation: the same schedules train on other batches, so other losses
  const ta = trials(uninterrupted);
  let compared = 0;
  for (const [k, t] of trials(c)) {
    if (!ta.has(k)) continue;
    compared++;
    assert.notEqual(t.train_loss, ta.get(k)!.train_loss, k);
  }
  assert.ok(compared > 0, 'some trials are comparable');
  // --final trains with the same setting: its runs record augment: false (and the tag says noaug)
  const results: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(dir, e.name));
      else if (e.name === 'result.json') results.push(path.join(dir, e.name));
    }
  };
  walk(path.join(c, 'final'));
  assert.equal(results.length, 2);
  for (const f of results) {
    assert.equal(JSON.parse(fs.readFileSync(f, 'utf8')).config.augment, false, f);
    assert.match(f, /_noaug-[0-9a-f]{8}/);
  }
});

test('mpl search: --help with examples; bad arguments are one line; other settings in a search folder are refused', () => {
  const help = mpl(['search', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Examples:/);
  assert.doesNotMatch(ok(mpl(['--help']), 'mpl --help'), /search-trial/);
  const bad: Array<[string[], RegExp]> = [
    [search(path.join(work, 'x'), ['--depth', '1-3']), /^mpl: --depth 1-3: the depth must be at least 2/],
    [search(path.join(work, 'x'), ['--depth', '2-6']), /^mpl: --depth 2-6: the model has 4 layers/],
    [search(path.join(work, 'x'), ['--add', '3-1']), /^mpl: --add 3-1: the range is reversed/],
    [search(path.join(work, 'x'), ['--candidates', '0']), /^mpl: --candidates must be an integer >= 1/],
    [[...search(path.join(work, 'x')).filter((v) => v !== 'fp32' && v !== '--precision'), '--executor', 'local'], /^mpl: --executor local: give --precision/],
    [search(uninterrupted, ['--seed', '2']), /holds a search with other settings \(seed: 1 → 2; seeds: \[1\] → \[2\]\)/],
  ];
  for (const [args, why] of bad) {
    const r = mpl(args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trim(), why);
  }
});
