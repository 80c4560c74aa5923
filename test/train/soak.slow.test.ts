/**
 * Soak: 2,000 MPL training steps on the tiny CLIP (20 epochs of 100 batches of 4) with the resident set size
 * sampled after every epoch. After a warm-up of 200 steps RSS must grow by less than 5 MB: a tensor leaked
 * per step (any activation here is 8 KB or more, 16 MB over 1,800 steps) or a JS array growing per step shows.
 *
 * Two measurement details, both found while writing this test:
 *  - glibc's malloc keeps freed memory in fragmented heaps: with the default settings RSS drifts up in steps
 *    (+27 MB over these 2,000 steps with the real DataLoader) although nothing leaks (malloc_trim(0) from a
 *    debugger gave back 200 MB, below the first epoch's RSS). The soak therefore runs in a child process
 *    whose glibc returns freed memory at once (one arena, no top pad, trim threshold 0, blocks from 8 KB up
 *    mmapped), so that RSS follows the memory in use;
 *  - the engine frees a tensor's storage on dispose(), but the tiny holder behind its JS handle is released
 *    by Node-API finalizers, which run on an event-loop turn. A batch source must therefore yield to the event
 *    loop, as the DataLoader does (its batches arrive as worker messages); one that only awaits promises never
 *    lets them run (~140 bytes per op accumulate).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { ClipTokenizer } from '../../src/backbones/clip/tokenizer.js';
import { PromptLearner } from '../../src/prompting/learner.js';
import { liveTensors, setNumThreads } from '../../src/torch/index.js';
import type { Batch, BatchSource } from '../../src/train/batches.js';
import { train } from '../../src/train/trainer.js';
import { goldenModel } from '../prompting/golden.js';

const STEPS_PER_EPOCH = 100;
const EPOCHS = 20;
const WARMUP_EPOCHS = 2;
const S = 32;
const CHILD = 'MPL_SOAK_CHILD';

/** glibc malloc settings under which freed memory goes back to the system at once (see above). */
const RETURN_FREED_MEMORY = { MALLOC_ARENA_MAX: '1', MALLOC_TOP_PAD_: '0', MALLOC_TRIM_THRESHOLD_: '0', MALLOC_MMAP_THRESHOLD_: '8192' };

interface SoakResult {
  rssMB: number[];
  tensors: number[];
  seconds: number;
}

/** 100 batches of 4 synthetic images per epoch, fresh arrays each batch, one event-loop turn per batch. */
function source(): BatchSource {
  return {
    length: 4 * STEPS_PER_EPOCH,
    batchesPerEpoch: () => STEPS_PER_EPOCH,
    async *batches(epoch: number): AsyncGenerator<Batch> {
      for (let b = 0; b < STEPS_PER_EPOCH; b++) {
        await new Promise((resolve) => setImmediate(resolve));
        const images = new Float32Array(4 * 3 * S * S);
        for (let i = 0; i < images.length; i++) images[i] = Math.sin(i * 0.01 + b + epoch);
        yield { images, labels: Int32Array.from([0, 1, 0, 1]), size: 4, imageSize: S };
      }
    },
    async close() {},
  };
}

/** The soak itself (in the child process). */
async function soak(): Promise<SoakResult> {
  // One intra-op thread: on a shared 2-core machine more threads only spin (20 ms a step becomes 400).
  setNumThreads(1);
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const learner = new PromptLearner(goldenModel(), ClipTokenizer.default(), 'mpl', ['left', 'right'], { depth: 3, seed: 1 });
  const rssMB: number[] = [];
  const tensors: number[] = [];
  const t0 = Date.now();
  await train(learner, source(), {
    epochs: EPOCHS,
    lr: 0.0035,
    onEpoch: () => {
      gc();
      rssMB.push(process.memoryUsage().rss / 2 ** 20);
      tensors.push(liveTensors());
    },
  });
  learner.dispose();
  return { rssMB, tensors, seconds: (Date.now() - t0) / 1000 };
}

if (process.env[CHILD]) {
  void soak().then((r) => process.stdout.write(JSON.stringify(r) + '\n'));
} else {
  test(`soak: ${EPOCHS * STEPS_PER_EPOCH} training steps, RSS flat after warm-up`, (t) => {
    const child = spawnSync(process.execPath, [__filename], {
      env: { ...process.env, ...RETURN_FREED_MEMORY, [CHILD]: '1' },
      encoding: 'utf8',
      timeout: 580_000,
    });
    assert.equal(child.status, 0, `soak child failed (${child.signal ?? child.status}): ${child.stderr}`);
    const r = JSON.parse(child.stdout.trim().split('\n').pop()!) as SoakResult;
    const warm = r.rssMB[WARMUP_EPOCHS - 1]!;
    const growth = r.rssMB[r.rssMB.length - 1]! - warm;
    const peak = Math.max(...r.rssMB.slice(WARMUP_EPOCHS - 1)) - warm;
    t.diagnostic(
      `${EPOCHS * STEPS_PER_EPOCH} steps in ${r.seconds.toFixed(1)} s; RSS after warm-up (${WARMUP_EPOCHS * STEPS_PER_EPOCH} steps) ${warm.toFixed(1)} MB, ` +
        `growth to the end ${growth.toFixed(2)} MB, largest excursion ${peak.toFixed(2)} MB`,
    );
    t.diagnostic(`RSS per epoch (MB): ${r.rssMB.map((x) => x.toFixed(1)).join(' ')}`);
    // the same native tensors alive after every epoch once warm (the first epoch fills the model's mask cache)
    assert.deepEqual(new Set(r.tensors.slice(WARMUP_EPOCHS - 1)), new Set([r.tensors[WARMUP_EPOCHS - 1]]), `live tensors per epoch: ${r.tensors.join(' ')}`);
    assert.ok(growth < 5, `RSS grew by ${growth.toFixed(2)} MB over ${(EPOCHS - WARMUP_EPOCHS) * STEPS_PER_EPOCH} steps after warm-up`);
  });
}
