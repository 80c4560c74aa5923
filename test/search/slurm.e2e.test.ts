/**
 * A search whose trials run as SLURM array tasks, on a one-node cluster started for the test
 * (test/sweep/slurm-cluster.ts): the search submits a rung as one job array, waits for it, and its trials
 * score exactly as the same trials in one process.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { goldenDir, tmpDir } from '../helpers.js';
import { makeImageFolder, mplCli, ok } from '../e2e/fixtures.js';
import { startSlurm, type SlurmCluster } from '../sweep/slurm-cluster.js';

const work = tmpDir('mpl-search-slurm-');
const root = path.join(work, 'images');
let cluster: SlurmCluster;

before(async () => {
  cluster = await startSlurm();
  await makeImageFolder(root, ['red', 'green', 'blue', 'yellow', 'red_two', 'green_two']);
});

after(async () => {
  await cluster?.stop();
});

const search = (out: string, extra: string[]) => [
  'search', '--weights', path.join(goldenDir, 'tiny_clip.safetensors'), '--dataset', 'imagefolder', '--root', root, '--depth', '2-3',
  '--candidates', '3', '--max-epochs', '2', '--out', out, '--json', '--workers', '1', '--device', 'cpu', '--precision', 'fp32', '--quiet', ...extra,
];

type Result = { candidates: Array<{ schedule: string; rungs: Array<{ objective: number }> }> };

test('SLURM executor: one job array per rung, waited for; trials score as in one process', () => {
  const out = path.join(work, 'slurm');
  const r: Result = JSON.parse(ok(mplCli(search(out, ['--executor', 'slurm', '--poll-seconds', '1']), cluster.env), 'search --executor slurm'));
  const here: Result = JSON.parse(ok(mplCli(search(path.join(work, 'here'), [])), 'search in-process'));
  assert.equal(r.candidates.length, 3);
  const byKey = (x: Result) => Object.fromEntries(x.candidates.map((c) => [c.schedule, c.rungs.map((g) => g.objective)]));
  assert.deepEqual(byKey(r), byKey(here));
  // the training losses too (the objective of a tiny random CLIP is often at chance)
  const losses = (dir: string) =>
    Object.fromEntries(fs.readdirSync(path.join(dir, 'trials')).map((c) => {
      const t = JSON.parse(fs.readFileSync(path.join(dir, 'trials', c, 'seed1', 'e2', 'result.json'), 'utf8'));
      return [t.schedule, t.train_loss];
    }));
  assert.deepEqual(losses(out), losses(path.join(work, 'here')));
  const state = path.join(out, '.sweeps', 'search');
  const scripts = fs.readdirSync(state).filter((f) => f.endsWith('.sh'));
  assert.equal(scripts.length, 1, 'one rung, one job array');
  const script = fs.readFileSync(path.join(state, scripts[0]), 'utf8');
  assert.match(script, /#SBATCH --array="0-2"/);
  // each task's arguments are data in its task file (NUL-separated), not shell text in the script
  const task0 = fs.readFileSync(path.join(state, scripts[0].replace(/\.sh$/, '.tasks'), '0'), 'utf8').split('\0');
  assert.deepEqual(task0.slice(1, 4), ['search-trial', '--out', out]);
  assert.doesNotMatch(script, /search-trial/);
  for (const c of fs.readdirSync(path.join(out, 'trials'))) {
    const dir = path.join(out, 'trials', c, 'seed1', 'e2');
    assert.ok(fs.existsSync(path.join(dir, 'result.json')), dir);
    assert.ok(fs.readdirSync(dir).some((f) => /^slurm-\d+_\d\.log$/.test(f)), `${dir} holds its task's log`);
  }
});
