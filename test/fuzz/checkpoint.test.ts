/**
 * Fuzzing the metadata of training checkpoints (issue 22): a checkpoint is a file users keep, copy and share,
 * and resume reads its configuration, history, epoch, momentum list and loss-scaler state. Each case replaces
 * some of those fields of a real checkpoint (with mutated JSON, random text, deep or huge values) and resumes:
 * the run resumes or refuses with one line, and a refused checkpoint leaves the learner untouched. The number
 * of cases is printed as a test diagnostic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { ClipTokenizer } from '../../src/backbones/clip/tokenizer.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { PromptLearner } from '../../src/prompting/learner.js';
import { setNumThreads } from '../../src/torch/index.js';
import { CHECKPOINT_FILE } from '../../src/train/checkpoint.js';
import { train } from '../../src/train/trainer.js';
import { UserError } from '../../src/util/errors.js';
import { goldenModel } from '../prompting/golden.js';
import { tmpDir } from '../helpers.js';
import { syntheticSource } from '../train/synthetic.js';
import { SEED, edgyNumber, text } from './harness.js';

setNumThreads(1);
const CASES = 200;
const runConfig = { dataset: 'synthetic', seed: 1, batch_size: 4 };
const learner = () => new PromptLearner(goldenModel(), ClipTokenizer.default(), 'mpl', ['left', 'right'], { depth: 3, seed: 1 });

test(`fuzz: checkpoint metadata on resume (${CASES} cases)`, async (t) => {
  // one real checkpoint: epoch 1 of 3
  const good = tmpDir('mpl-fuzz-ckpt-');
  const first = learner();
  await assert.rejects(train(first, syntheticSource(), { epochs: 3, lr: 0.01, checkpointDir: good, config: runConfig, onEpoch: () => { throw new Error('stop'); } }), /stop/);
  first.dispose();
  const { tensors, metadata } = readSafetensors(path.join(good, CHECKPOINT_FILE));
  const fields = Object.keys(metadata);

  const deep = fc.integer({ min: 60, max: 100_000 }).map((n) => '['.repeat(n) + ']'.repeat(n));
  const json = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v));
  const mutatedField = fc.constantFrom(...fields).chain((f) =>
    fc.tuple(fc.nat(Math.max(0, metadata[f].length - 1)), fc.nat(8), text(4)).map(([at, del, ins]) => [f, metadata[f].slice(0, at) + ins + metadata[f].slice(at + del)] as const),
  );
  const replaced = fc.tuple(fc.constantFrom(...fields, 'grad_scaler'), fc.oneof(json, text(30), deep, edgyNumber.map(String), fc.constant(JSON.stringify(Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`k${i}`, i]))))));
  const edits = fc.array(fc.oneof(mutatedField, replaced), { minLength: 1, maxLength: 3 });

  const dir = tmpDir('mpl-fuzz-ckpt-');
  let cases = 0;
  let resumed = 0;
  await fc.assert(
    fc.asyncProperty(edits, async (changes) => {
      cases++;
      const meta = { ...metadata };
      for (const [k, v] of changes) meta[k] = v;
      writeSafetensors(path.join(dir, CHECKPOINT_FILE), tensors, meta);
      const l = learner();
      const before = l.params.get('prompt_learner.ctx')!.toArray();
      try {
        await train(l, syntheticSource(), { epochs: 3, lr: 0.01, checkpointDir: dir, resume: true, config: runConfig, onEpoch: () => { throw new Error('resumed'); } });
      } catch (e) {
        if ((e as Error).message === 'resumed') {
          resumed++;
          return;
        }
        if (!(e instanceof UserError)) throw new Error(`unexpected ${(e as Error).name}: ${(e as Error).stack}`);
        assert.ok(!e.message.includes('\n'), e.message);
        assert.deepEqual(l.params.get('prompt_learner.ctx')!.toArray(), before, 'a refused checkpoint loads nothing');
      } finally {
        l.dispose();
        fs.rmSync(path.join(dir, 'metrics.csv'), { force: true });
      }
    }),
    { seed: SEED, numRuns: CASES },
  );
  t.diagnostic(`checkpoint metadata: ${cases} cases (${resumed} still resumable)`);
  assert.equal(cases, CASES);
});
