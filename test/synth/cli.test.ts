import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { repoRoot, tmpDir } from '../helpers.js';

function mpl(args: string[]) {
  return spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'mpl.js'), ...args], { encoding: 'utf8', env: { ...process.env, MPL_NUM_THREADS: '1' } });
}

test('mpl data synth writes SynthShapes once, reuses it, and mpl data info reads it', () => {
  const root = tmpDir('mpl-synth-cli-');
  const a = mpl(['data', 'synth', '--root', root, '--train', '2', '--val', '0', '--test', '1']);
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /synthshapes: 36 images\n$/);
  const b = mpl(['data', 'synth', '--root', root, '--train', '2', '--val', '0', '--test', '1']);
  assert.match(b.stdout, /already there, same settings/);
  const c = mpl(['data', 'synth', '--root', root, '--train', '3', '--val', '0', '--test', '1']);
  assert.equal(c.status, 1);
  assert.match(c.stderr, /^mpl: .*synthshapes exists and was not made with these settings.*--force/);
  const info = mpl(['data', 'info', 'synthshapes', '--root', root]);
  assert.equal(info.status, 0, info.stderr);
  assert.match(info.stdout, /base: +arrow, circle, cross, diamond, heart, hexagon/);
});

test('mpl pretrain refuses impossible settings with one clear line', () => {
  const out = tmpDir('mpl-pretrain-cli-');
  for (const [args, msg] of [
    [['--steps', '3', '--warmup', '5'], /--warmup \(5\) must be smaller than --steps \(3\)/],
    [['--batch-size', '1'], /--batch-size must be at least 2/],
    [['--lr', '-1'], /--lr must be a number > 0, got '-1'/],
  ] as const) {
    const r = mpl(['pretrain', '--out', out, ...args]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, msg);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
