/**
 * A sweep on this machine, end to end: plan, local submission two at a time, runs that die (SIGKILL after
 * epoch 1) shown as failed, resubmission that resumes them, and the aggregated table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from '../helpers.js';
import { killAfterEpoch, mplCli as mpl, ok } from '../e2e/fixtures.js';
import { colourSweep } from './fixtures.js';

const work = tmpDir('mpl-sweep-local-');
const sweepFile = path.join(work, 'sweep.yaml');

test.before(async () => {
  await colourSweep(work, 3);
});

type Row = { run_dir: string; protocol: string; dataset: string; method: string; seed: number; state: string; detail: string; estimate_s: number | null };
const status = (): Row[] => JSON.parse(ok(mpl(['sweep', 'status', sweepFile, '--json']), 'sweep status'));

test('local sweep: plan, failures shown as failed, resubmission resumes, table aggregates', () => {
  const plan: Row[] = JSON.parse(ok(mpl(['sweep', 'plan', sweepFile, '--json']), 'sweep plan'));
  assert.equal(plan.length, 4);
  for (const r of plan) {
    assert.deepEqual(Object.keys(r).slice(0, 6), ['run_dir', 'protocol', 'dataset', 'method', 'seed', 'shots']);
    assert.equal(r.state, 'pending');
    assert.ok(r.run_dir.startsWith(path.join(work, 'runs', 'base2new', 'colours', 'shots_16')), r.run_dir);
  }
  assert.deepEqual(plan.map((r) => `${r.method}${r.seed}`), ['mpl1', 'mpl2', 'coop1', 'coop2']);

  // every run dies right after its first epoch's checkpoint
  const killed = mpl(['sweep', 'submit', sweepFile, '--executor', 'local', '--parallel', '2'], killAfterEpoch(1));
  assert.notEqual(killed.status, 0);
  assert.match(killed.stderr.trim().split('\n').at(-1)!, /^mpl: 4 of 4 runs failed \(first: .*killed by SIGKILL.*\); submitting again resumes them/);
  for (const r of status()) {
    assert.equal(r.state, 'failed');
    assert.match(r.detail, /was killed \(SIGKILL\) after epoch 1\/3; log .*sweep\.log/);
  }

  const resumed = mpl(['sweep', 'submit', sweepFile, '--executor', 'local', '--parallel', '2']);
  ok(resumed, 'resubmission');
  assert.match(resumed.stderr, /running 4 runs locally/);
  for (const r of status()) {
    assert.equal(r.state, 'done', `${r.run_dir}: ${r.detail}`);
    assert.ok(fs.existsSync(path.join(r.run_dir, 'result.json')));
    const log = fs.readFileSync(path.join(r.run_dir, 'log.txt'), 'utf8');
    assert.match(log, /resume after epoch 1/);
    assert.equal(log.match(/ epoch 1 /g)?.length, 1, 'epoch 1 was not trained again');
    assert.match(fs.readFileSync(path.join(r.run_dir, 'sweep.log'), 'utf8'), /mpl base2new --dataset imagefolder/);
  }
  const again = mpl(['sweep', 'submit', sweepFile]);
  ok(again, 'submit with nothing left');
  assert.match(again.stderr, /nothing to submit \(4 runs: 4 done/);

  const table = JSON.parse(ok(mpl(['table', path.join(work, 'runs'), '--json']), 'table'));
  assert.deepEqual(Object.keys(table.base2new), ['coop', 'mpl']);
  for (const m of ['coop', 'mpl']) assert.equal(table.base2new[m].colours.n_seeds, 2);
  // a third seed: the finished seeds of the same configuration give its estimate
  fs.writeFileSync(sweepFile, fs.readFileSync(sweepFile, 'utf8').replace('seeds: [1, 2]', 'seeds: [1, 2, 3]'));
  const grown: Row[] = JSON.parse(ok(mpl(['sweep', 'plan', sweepFile, '--json']), 'plan with seed 3'));
  assert.deepEqual(grown.map((r) => r.state).sort(), ['done', 'done', 'done', 'done', 'pending', 'pending']);
  for (const r of grown.filter((x) => x.seed === 3)) assert.ok(typeof r.estimate_s === 'number' && r.estimate_s > 0, JSON.stringify(r));
  const text = ok(mpl(['sweep', 'plan', sweepFile]), 'plan text');
  assert.match(text, /6 runs: 4 done, 0 running, 0 failed, 2 pending/);
  assert.match(text, /estimated time for the 2 unfinished runs: \d+ s of compute; basis: finished seeds of the same configuration/);
});

test('mpl reproduce table2 --dry-run lists the 165 base-to-new runs with folders and a time estimate', () => {
  const out = path.join(work, 'paper');
  const text = ok(mpl(['reproduce', 'table2', '--dry-run', '--root', '/data', '--out', out]), 'reproduce text');
  assert.match(text, /^mpl reproduce table2: 165 runs: 0 done, 0 running, 0 failed, 165 pending/);
  assert.match(text, /pending +[\d.]+ (h|min|days) +base2new\/caltech101\/shots_16\/coop\/vit_b16_c4_ep200-[0-9a-f]{8}\/seed1 +not started/);
  assert.match(text, /estimated time for the 165 unfinished runs: [\d.]+ days of compute; basis: ViT-B\/16 on a 2-core CPU/);
  const json = JSON.parse(ok(mpl(['reproduce', 'table2', '--dry-run', '--json', '--root', '/data', '--out', out]), 'reproduce json'));
  assert.equal(json.runs.length, 165);
  assert.ok(json.runs.every((r: Row) => r.state === 'pending' && typeof r.estimate_s === 'number'));
  assert.ok(json.estimate.total_s > 0);
  assert.deepEqual(json.runs[0].command.slice(0, 4), ['mpl', 'base2new', '--dataset', 'caltech101']);
  assert.ok(!fs.existsSync(out), 'a dry run writes nothing');
  const sweep = path.join(work, 'table2.yaml');
  ok(mpl(['reproduce', 'table2', '--dry-run', '--methods', 'mpl', '--datasets', 'eurosat', '--root', '/data', '--out', out, '--save-sweep', sweep]), 'save sweep');
  const plan = JSON.parse(ok(mpl(['sweep', 'plan', sweep, '--json']), 'plan of the saved sweep'));
  assert.equal(plan.length, 3);
  assert.equal(plan[0].run_dir, json.runs.find((r: Row) => r.method === 'mpl' && r.dataset === 'eurosat' && r.seed === 1).run_dir);
  // --precision fp16 (the papers' GPU recipe) reaches every run: its folder and its command
  const half = JSON.parse(ok(mpl(['reproduce', 'table2', '--dry-run', '--json', '--methods', 'mpl', '--datasets', 'eurosat', '--root', '/data', '--out', out, '--precision', 'fp16', '--device', 'cuda']), 'reproduce fp16'));
  assert.equal(half.runs.length, 3);
  for (const r of half.runs as Array<Row & { command: string[] }>) {
    assert.match(r.run_dir, /_fp16-[0-9a-f]{8}\/seed\d$/);
    assert.deepEqual(r.command.slice(r.command.indexOf('--precision'), r.command.indexOf('--precision') + 2), ['--precision', 'fp16']);
    assert.deepEqual(r.command.slice(r.command.indexOf('--device'), r.command.indexOf('--device') + 2), ['--device', 'cuda']);
  }
  const bad = mpl(['reproduce', 'table2', '--dry-run', '--methods', 'vpt']);
  assert.match(bad.stderr, /^mpl: --methods: vpt is not in the paper's comparison/);
});

test('local executor: each GPU runs one process at a time; --parallel above the GPU count is refused', async () => {
  const { runLocal } = await import('../../src/sweep/local.js');
  const out = path.join(work, 'gpu');
  const sweep = { out, name: 'gpu' } as Parameters<typeof runLocal>[0];
  const runs = [1, 2, 3, 4].map((i) => ({ index: i, runDir: path.join(out, `r${i}`), argv: [path.join(out, `r${i}`)] })) as Parameters<typeof runLocal>[1];
  // a stand-in for mpl: records its GPU and when it ran, then writes a result
  const fake = ['bash', '-c', 'echo "$CUDA_VISIBLE_DEVICES $(date +%s%N)" > "$0/gpu"; sleep 0.3; echo "$(cat "$0/gpu") $(date +%s%N) $MPL_NUM_THREADS" > "$0/gpu"; echo {} > "$0/result.json"'];
  const r = await runLocal(sweep, runs, { gpus: ['0', '1'], mpl: fake });
  assert.equal(r.finished.length, 4);
  const spans = runs.map((x) => fs.readFileSync(path.join(x.runDir, 'gpu'), 'utf8').trim().split(' '));
  assert.deepEqual([...new Set(spans.map((s) => s[0]))].sort(), ['0', '1'], 'both GPUs used, one each');
  for (const [i, a] of spans.entries()) {
    for (const b of spans.slice(i + 1)) {
      if (a[0] === b[0]) assert.ok(BigInt(a[2]) <= BigInt(b[1]) || BigInt(b[2]) <= BigInt(a[1]), `GPU ${a[0]} ran two processes at once`);
    }
  }
  assert.ok(spans.every((s) => Number(s[3]) >= 1), 'MPL_NUM_THREADS is set');
  await assert.rejects(runLocal(sweep, runs, { gpus: ['0', '1'], parallel: 3, mpl: fake }), /--parallel 3 but 2 GPUs: each GPU runs one process at a time/);
});
