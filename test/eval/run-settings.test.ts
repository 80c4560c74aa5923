/**
 * The run-settings table (src/eval/run-settings.ts), walked row by row with the tiny CLIP on a generated image
 * folder (base2new, CoOp, one epoch). For every setting a run records, a value other than the default is given
 * by its flag and proven to round-trip: the run's result.json records it at the row's place, the run has its
 * own folder (the setting is part of the identity), log.txt's configuration dump says it, `mpl rerun` of that result replays the same identity (the
 * same folder below its output), its Dassl key (a KEY VALUE override) reaches the same run, and a sweep file
 * with its key plans the same folder. A setting that is not recorded (workers, print frequency) leaves the
 * identity alone, and the run without settings records every default as the table gives it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { experimentHash, runConfigFields } from '../../src/eval/run-config.js';
import { RUN_SETTINGS, recordedValue, type RunSettingSpec } from '../../src/eval/run-settings.js';
import { RECIPES } from '../../src/prompting/methods/index.js';
import { cpuBf16Decision, cpuClass } from '../../src/torch/index.js';
import { sweepFromObject } from '../../src/sweep/spec.js';
import { expandSweep } from '../../src/sweep/expand.js';
import { goldenDir, mplOk, runMpl, tmpDir } from '../helpers.js';
import { makeImageFolder } from '../data/fixtures.js';

const weights = path.join(goldenDir, 'tiny_clip.safetensors');
const work = tmpDir('mpl-run-settings-');
const root = path.join(work, 'images');
const out = path.join(work, 'runs');

/** The value each recorded setting is given here (none is its default for CoOp with the flags below). */
const VALUES: Record<string, { flag: string[]; sweep?: unknown; recorded: unknown }> = {
  seeds: { flag: ['2'], sweep: [2], recorded: 2 },
  shots: { flag: ['4'], sweep: [4], recorded: 4 },
  epochs: { flag: ['2'], sweep: 2, recorded: 2 },
  lr: { flag: ['0.01'], sweep: 0.01, recorded: 0.01 },
  batchSize: { flag: ['4'], sweep: 4, recorded: 4 },
  momentum: { flag: ['0.8'], sweep: 0.8, recorded: 0.8 },
  weightDecay: { flag: ['0.001'], sweep: 0.001, recorded: 0.001 },
  warmupEpochs: { flag: ['2'], sweep: 2, recorded: 2 },
  warmupLr: { flag: ['0.0001'], sweep: 0.0001, recorded: 0.0001 },
  precision: { flag: ['bf16'], sweep: ['bf16'], recorded: 'bf16' },
  augment: { flag: [], recorded: false },
  // not recorded: any valid value leaves the identity alone
  workers: { flag: ['2'], sweep: 2, recorded: undefined },
  printFreq: { flag: ['1'], recorded: undefined },
};

/** The flags every run here starts from: small and fast; a row's own flag replaces its entry. */
const BASE: Record<string, string[]> = { seeds: ['1'], epochs: ['1'], 'batch-size': ['2'], precision: ['fp32'], workers: ['0'] };

function argsWith(flags: Record<string, string[]>, extra: string[] = []): string[] {
  return [
    'base2new',
    '--weights',
    weights,
    '--dataset',
    'imagefolder',
    '--root',
    root,
    '--method',
    'coop',
    '--out',
    out,
    '--quiet',
    ...Object.entries(flags).flatMap(([f, v]) => [`--${f}`, ...v]),
    ...extra,
  ];
}

/** The folder of seed `seed` below the one a protocol command printed (`results in <folder>/ (seed1, ...)`), and its result.json. */
function runOf(stdout: string, seed = 1): { dir: string; result: Record<string, any> } {
  const m = /results in (.+)\/ \((seed\d+(, seed\d+)*)\)/.exec(stdout);
  assert.ok(m && m[2].split(', ').includes(`seed${seed}`), `no 'results in' line with seed${seed} in: ${stdout}`);
  const dir = path.join(m[1], `seed${seed}`);
  return { dir, result: JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8')) };
}

let base: { dir: string; result: Record<string, any> };

test.before(async () => {
  await makeImageFolder(root, ['cat', 'dog', 'red_car', 'blue_sky'], 8);
  base = runOf(mplOk(runMpl(argsWith(BASE)), 'the base run'));
});

test('the table is whole: every setting has help, a flag unless the recipe fixes it, a default where a run records it', () => {
  for (const s of RUN_SETTINGS) {
    assert.ok(s.help.length > 10, `${s.key}: help`);
    if (s.kind === 'fixed')
      assert.ok(!s.flag && s.implements?.length && s.dassl, `${s.key}: a fixed setting names its Dassl key and what is implemented`);
    else assert.ok(s.flag && s.declaredBy, `${s.key}: a flag and who declares it`);
    if (s.recorded) assert.ok(s.default, `${s.key}: a recorded setting has a default`);
    if (s.flag && s.kind !== 'fixed') assert.ok(s.key in VALUES, `${s.key}: this test gives it a value (add one to VALUES)`);
  }
});

test('a run without settings records every default of the table (CoOp recipe)', () => {
  const config = base.result.config as Record<string, unknown>;
  for (const s of RUN_SETTINGS) {
    if (!s.recorded) continue;
    const flag = s.flag && BASE[s.flag];
    const expected = flag ? recordedValue(config, s.recorded) : s.toRecord ? s.toRecord(s.default!(RECIPES.coop) as never) : s.default!(RECIPES.coop);
    assert.deepEqual(recordedValue(config, s.recorded), expected, `${s.key} at ${s.recorded}`);
  }
  assert.equal(config.epochs, 1);
  assert.equal(config.seed, 1);
});

function roundTrip(s: RunSettingSpec): void {
  const v = VALUES[s.key];
  const flags = { ...BASE, [s.flag!]: v.flag };
  const seed = Number(flags.seeds[0]);
  const run = runOf(mplOk(runMpl(argsWith(flags)), `mpl base2new --${s.flag} ${v.flag.join(' ')}`), seed);
  const rel = path.relative(out, run.dir);
  if (!s.recorded) {
    // outside the identity: the base run's folder, its result found and kept
    assert.equal(run.dir, base.dir, `--${s.flag} must not change the run's folder`);
    return;
  }
  // recorded at its place, and its own identity
  assert.deepEqual(recordedValue(run.result.config, s.recorded), v.recorded, `result.json config.${s.recorded}`);
  assert.notEqual(run.dir, base.dir, `--${s.flag} is part of the run's identity`);
  // log.txt's configuration dump says the same
  const log = fs.readFileSync(path.join(run.dir, 'log.txt'), 'utf8');
  const dumped = JSON.parse(log.slice(log.indexOf('---- configuration\n') + 19, log.indexOf('---- environment'))) as Record<string, unknown>;
  assert.deepEqual(recordedValue(dumped, s.recorded), v.recorded, `log.txt configuration ${s.recorded}`);
  // mpl rerun: the same identity, replayed into another output folder
  const replayOut = path.join(work, `replay-${s.key}`);
  const rr = mplOk(runMpl(['rerun', path.join(run.dir, 'result.json'), '--out', replayOut, '--workers', '0', '--quiet']), `mpl rerun (${s.key})`);
  assert.match(rr, /recorded [\d.]+ +now [\d.]+/);
  const replayDir = path.join(replayOut, rel);
  assert.ok(fs.existsSync(path.join(replayDir, 'result.json')), `the replay wrote ${replayDir}`);
  const replayed = JSON.parse(fs.readFileSync(path.join(replayDir, 'result.json'), 'utf8')) as Record<string, any>;
  assert.equal(experimentHash(runConfigFields(replayed.config)), experimentHash(runConfigFields(run.result.config)));
  assert.deepEqual(recordedValue(replayed.config, s.recorded), v.recorded);
  // its Dassl key reaches the same run (found finished: the same folder)
  if (s.dassl) {
    const { [s.flag!]: _given, ...rest } = flags;
    const again = runOf(mplOk(runMpl(argsWith(rest, [s.dassl, String(v.sweep ?? v.recorded)])), `${s.dassl} override`), seed);
    assert.equal(again.dir, run.dir, `${s.dassl} ${String(v.recorded)} is --${s.flag}`);
  }
  // a sweep file with its key plans the same folder
  if (s.sweep) {
    const sweepOut = path.join(work, 'sweep-out');
    const sweep = {
      out: sweepOut,
      weights,
      protocol: 'base2new',
      datasets: [{ name: 'imagefolder', root }],
      methods: ['coop'],
      seeds: [1],
      epochs: 1,
      'batch-size': 2,
      precision: 'fp32',
      [s.flag!]: v.sweep,
    };
    const [planned] = expandSweep(sweepFromObject(sweep, 'test sweep', 'test', work));
    assert.equal(path.relative(sweepOut, planned.runDir), rel, `sweep key '${s.flag}'`);
  }
}

// The only CPU precision besides fp32 is bf16, which a CPU without AVX512-BF16 or AMX refuses (docs/precision.md):
// there the precision row is tested by that refusal, on such CPUs by its round trip.
const bf16 = cpuBf16Decision();

for (const s of RUN_SETTINGS) {
  if (!s.flag) continue;
  if (s.key === 'precision' && !bf16.allowed) {
    test(`precision (--precision) on this CPU (class ${cpuClass()}): bf16 refused in one line`, () => {
      const r = runMpl(argsWith({ ...BASE, precision: ['bf16'] }));
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /^mpl: --precision bf16: no AVX512-BF16 or AMX on this CPU.*use --precision fp32/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    });
    continue;
  }
  test(`${s.key} (--${s.flag}${s.dassl ? `, ${s.dassl}` : ''}${s.sweep ? `, sweep key ${s.flag}` : ''}) round-trips: flag → run → result.json → rerun → same identity`, () =>
    roundTrip(s));
}
