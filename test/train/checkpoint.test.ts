/**
 * Resume trusts nothing: the checkpoint carries the run's full configuration and every field is checked
 * before any state is loaded (issue 11, item 3).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClipTokenizer } from '../../src/backbones/clip/tokenizer.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import type { RawTensor } from '../../src/io/tensor.js';
import { PromptLearner } from '../../src/prompting/learner.js';
import { setNumThreads } from '../../src/torch/index.js';
import { CHECKPOINT_FILE } from '../../src/train/checkpoint.js';
import { train, type TrainOptions } from '../../src/train/trainer.js';
import { UserError } from '../../src/util/errors.js';
import { goldenModel } from '../prompting/golden.js';
import { tmpDir } from '../helpers.js';
import { syntheticSource } from './synthetic.js';

// Tiny tensors: one thread is fastest, and on a loaded machine more threads spin against each other
// (this file went from 4 s to 100 s with 2 threads while other jobs ran).
setNumThreads(1);

const runConfig = { dataset: 'synthetic', seed: 1, batch_size: 4 };

function learner(method: 'mpl' | 'promptsrc' = 'mpl'): PromptLearner {
  return new PromptLearner(goldenModel(), ClipTokenizer.default(), method, ['left', 'right'], { depth: 3, depthText: 3, depthVision: 3, seed: 1 });
}

/** Trains `stopAfter` epochs of a 3-epoch run into a fresh folder (the run "dies" after that checkpoint). */
async function interruptedRun(stopAfter = 1, method: 'mpl' | 'promptsrc' = 'mpl'): Promise<string> {
  const dir = tmpDir('mpl-ckpt-');
  const l = learner(method);
  await assert.rejects(
    train(l, syntheticSource(), {
      epochs: 3,
      lr: 0.01,
      checkpointDir: dir,
      config: runConfig,
      onEpoch: (e) => {
        if (e.epoch === stopAfter) throw new Error('killed');
      },
    }),
    /killed/,
  );
  l.dispose();
  return dir;
}

async function resume(dir: string, options: Partial<TrainOptions> = {}, method: 'mpl' | 'promptsrc' = 'mpl') {
  const l = learner(method);
  try {
    const before = l.params.get('prompt_learner.ctx')!.toArray();
    try {
      return await train(l, syntheticSource(), { epochs: 3, lr: 0.01, checkpointDir: dir, resume: true, config: runConfig, ...options });
    } catch (e) {
      // a refused checkpoint leaves the learner as it was
      assert.deepEqual(l.params.get('prompt_learner.ctx')!.toArray(), before);
      throw e;
    }
  } finally {
    l.dispose();
  }
}

/** A fresh folder holding a copy of another folder's checkpoint (one training serves many cases). */
function copyOf(dir: string): string {
  const to = tmpDir('mpl-ckpt-');
  fs.copyFileSync(path.join(dir, CHECKPOINT_FILE), path.join(to, CHECKPOINT_FILE));
  return to;
}

/** Rewrites the checkpoint with changed metadata and/or tensors. */
function tamper(dir: string, edit: (meta: Record<string, string>, tensors: Map<string, RawTensor>) => void): void {
  const file = path.join(dir, CHECKPOINT_FILE);
  const { tensors, metadata } = readSafetensors(file);
  const copy = new Map([...tensors].map(([k, t]) => [k, { ...t, data: Uint8Array.from(t.data) }]));
  edit(metadata, copy);
  writeSafetensors(file, copy, metadata);
}

/** Rejects with a one-line UserError matching `pattern`; an unusable checkpoint's names it and says to delete it. */
async function refused(p: Promise<unknown>, pattern: RegExp, file?: string): Promise<void> {
  await assert.rejects(p, (e: Error) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${e.stack}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    if (file) {
      assert.ok(e.message.startsWith(file), `names the file: ${e.message}`);
      if (!/another configuration/.test(e.message)) assert.match(e.message, /delete it to start this run over$/);
    }
    return true;
  });
}

test('the same configuration resumes after the last saved epoch; resume: false starts over', async () => {
  const dir = await interruptedRun(2);
  const again = copyOf(dir);
  const r = await resume(dir);
  assert.equal(r.resumedFrom, 2);
  assert.deepEqual(r.epochs.map((e) => e.epoch), [1, 2, 3]);
  const fresh = await resume(again, { resume: false });
  assert.equal(fresh.resumedFrom, 0);
});

test('a resume with another configuration is refused, naming every difference', async () => {
  const dir = await interruptedRun();
  await refused(resume(dir, { lr: 0.02 }), /saved with another configuration \(training\.lr: 0\.01 → 0\.02\); start over with --force \(or --no-resume\), or delete it/);
  await refused(resume(dir, { config: { ...runConfig, seed: 2, batch_size: 8 } }), /batch_size: 4 → 8; seed: 1 → 2/);
  await refused(resume(dir, { epochs: 5 }), /training\.epochs: 3 → 5/);
  // other method options change the parameters and the options: both are named
  const l = new PromptLearner(goldenModel(), ClipTokenizer.default(), 'mpl', ['left', 'right'], { depth: 2, seed: 1 });
  await refused(train(l, syntheticSource(), { epochs: 3, lr: 0.01, checkpointDir: dir, resume: true, config: runConfig }), /method_options\.depth: 3 → 2/);
  l.dispose();
});

test('every field of the checkpoint is validated; an unusable one says what to delete', async () => {
  const cases: Array<[string, (m: Record<string, string>, t: Map<string, RawTensor>) => void, RegExp]> = [
    ['epoch not a number', (m) => (m.epoch = 'abc'), /its epoch is "abc", not a number/],
    ['epoch beyond the run', (m) => (m.epoch = '7'), /its epoch 7 is outside 1\.\.3/],
    ['history not JSON', (m) => (m.history = '[{"epoch": 1,'), /its history is not valid JSON/],
    ['history too short', (m) => (m.history = '[]'), /does not list the 1 epochs/],
    ['history with NaN', (m) => (m.history = m.history.replace(/"loss":[^,]+/, '"loss":null')), /non-finite loss/],
    ['configuration not JSON', (m) => (m.config = '{'), /its configuration is not valid JSON/],
    ['configuration missing', (m) => delete m.config, /its metadata has no configuration/],
    // a hostile file: nesting that would end the key-by-key comparison in a stack overflow, and 200,000 keys
    ['configuration nested 100,000 deep', (m) => (m.config = '['.repeat(100_000) + ']'.repeat(100_000)), /its configuration is nested more than 64 levels deep/],
    ['history nested 100,000 deep', (m) => (m.history = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000)), /its history is nested more than 64 levels deep/],
    ['configuration of 200,000 keys', (m) => (m.config = JSON.stringify(Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i}`, i])))), /saved with another configuration \(.*; and \d+ more\)/],
    ['earlier format', (m) => (m.format = 'mpl-checkpoint/1'), /earlier version that did not record its configuration/],
    ['foreign file', (m) => (m.format = 'something'), /format something/],
    ['NaN parameter', (_m, t) => new Float32Array(t.get('prompt_learner.ctx')!.data.buffer).fill(NaN), /tensor prompt_learner\.ctx holds NaN or infinite values/],
    ['missing momentum', (_m, t) => t.delete('optimizer.momentum.prompt_learner.ctx'), /tensor optimizer\.momentum\.prompt_learner\.ctx is missing/],
    ['momentum list missing', (m) => delete m.momentum, /no list of momentum buffers/],
    ['wrong shape', (_m, t) => t.set('prompt_learner.ctx', { dtype: 'float32', shape: [1], data: new Uint8Array(4) }), /has shape \[1\], expected/],
    ['unexpected aggregation sums', (m) => (m.gpa = 'true'), /prompt-aggregation sums this method does not use/],
  ];
  const good = await interruptedRun();
  for (const [what, edit, pattern] of cases) {
    const dir = copyOf(good);
    tamper(dir, edit);
    await refused(resume(dir), pattern, path.join(dir, CHECKPOINT_FILE)).catch((e: Error) => assert.fail(`${what}: ${e.message}`));
  }
  // a truncated file
  const dir = copyOf(good);
  const file = path.join(dir, CHECKPOINT_FILE);
  fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 100));
  await refused(resume(dir), /unusable checkpoint .*; delete it to start this run over$/, file);
  // and the untouched copy still resumes
  assert.equal((await resume(copyOf(good))).resumedFrom, 1);
});

test('PromptSRC checkpoints must carry the aggregation sums', async () => {
  const dir = await interruptedRun(1, 'promptsrc');
  const dir2 = copyOf(dir);
  assert.equal((await resume(dir, {}, 'promptsrc')).resumedFrom, 1);
  tamper(dir2, (m, t) => {
    for (const k of [...t.keys()]) if (k.startsWith('gpa.')) t.delete(k);
  });
  await refused(resume(dir2, {}, 'promptsrc'), /tensor gpa\.\S+ is missing/);
  tamper(dir2, (m) => (m.gpa = 'false'));
  await refused(resume(dir2, {}, 'promptsrc'), /the prompt-aggregation sums are missing/);
});
