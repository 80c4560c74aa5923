/**
 * The benchmarks' memory cap and peaks (bench/memory.ts, bench/python/memcap.py): an allocation past the cap is
 * refused and recognised as not fitting, on both sides (mpl in a child node process, the PyTorch baseline in
 * Python); the watchdog ends a process that passes the limit anyway; the high-water mark resets per phase; and
 * `mpl bench train`'s text says "did not fit in N GiB" for a side that did not, with its limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatTrainBench, type TrainBenchResult } from '../../bench/train.js';
import { PYTHON, benchDir } from '../../bench/common.js';
import { isOutOfMemory, peakRss, resetPeakRss, runPythonCapped } from '../../bench/memory.js';
import { ones } from '../../src/torch/index.js';
import { repoRoot, tmpDir } from '../helpers.js';

const MiB = 2 ** 20;

test('mpl under the cap: a tensor past it is refused (recognised as out of memory), a small one still fits', () => {
  const script = `
    const { capSelf, isOutOfMemory } = require(${JSON.stringify(path.join(repoRoot, 'dist', 'bench', 'memory.js'))});
    const torch = require(${JSON.stringify(path.join(repoRoot, 'dist', 'src', 'torch', 'index.js'))});
    const rss = require('node:process').memoryUsage().rss;
    if (!capSelf(rss + 256 * 2 ** 20)) throw new Error('no cap set');
    let refused = false;
    try { torch.zeros([2 ** 28]).dispose(); } catch (e) { refused = isOutOfMemory(e); if (!refused) throw e; }
    torch.zeros([2 ** 20]).dispose();
    console.log(JSON.stringify({ refused }));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { refused: true }, 'a 1 GiB tensor under a cap of 256 MiB above the current resident size');
});

test('the PyTorch baseline under the cap: memcap.cap refuses an allocation past the limit and out_of_memory recognises it', () => {
  const script = [
    'import sys, torch',
    `sys.path.insert(0, ${JSON.stringify(path.join(benchDir(), 'python'))})`,
    'import memcap',
    'limit = memcap.cap(False)',
    'try:',
    '    torch.zeros(2 ** 28)',
    '    print("allocated")',
    'except Exception as e:',
    '    print("refused" if memcap.out_of_memory(e) else "other: %s" % e)',
    'torch.zeros(2 ** 20)',
    'print(limit)',
  ].join('\n');
  const rss = 600 * MiB;
  const r = spawnSync(PYTHON, ['-c', script], { encoding: 'utf8', env: { ...process.env, MPL_BENCH_MEMORY_LIMIT: String(rss) } });
  assert.equal(r.status, 0, `${PYTHON} with torch is needed (python3-torch; MPL_BENCH_PYTHON): ${r.stderr}`);
  assert.deepEqual(r.stdout.trim().split('\n'), ['refused', String(rss)]);
});

test('the watchdog ends a baseline whose resident size passes the limit (no address-space cap: the GPU case)', async () => {
  const script = path.join(tmpDir('mpl-memcap-'), 'grow.py');
  fs.writeFileSync(script, 'import time\nblocks = []\nfor i in range(400):\n    blocks.append(bytearray(8 * 2 ** 20))\n    time.sleep(0.01)\nprint("{}")\n');
  const run = await runPythonCapped(PYTHON, script, [], 200 * MiB, 60_000);
  assert.equal(run.killedOverLimit, true);
  assert.ok(run.peakSeen > 200 * MiB && run.peakSeen < 1600 * MiB, `peak seen ${run.peakSeen}`);
});

test('the resident high-water mark resets to the current size', () => {
  // 128 MiB touched, then freed at once (a large allocation is unmapped when the tensor is freed): the resident
  // size drops, the high-water mark stays until reset, then follows the current size
  const big = ones([32 * MiB], 'float32');
  const high = peakRss();
  big.dispose();
  assert.ok(high >= 128 * MiB);
  assert.ok(peakRss() >= high - 8 * MiB, 'the mark stays until reset'); // (the kernel's per-thread counters lag by a few pages)
  if (resetPeakRss()) assert.ok(peakRss() < high - 64 * MiB, `after the reset ${peakRss()} bytes, before ${high}`);
  assert.equal(isOutOfMemory(new Error('[enforce fail at alloc_cpu.cpp:75] DefaultCPUAllocator: can\'t allocate memory: you tried to allocate 1073741824 bytes')), true);
  assert.equal(isOutOfMemory(new Error('mat1 and mat2 shapes cannot be multiplied')), false);
});

test("bench train's text names a side that did not fit, with the limit; ratios need both sides", () => {
  const r: TrainBenchResult = {
    model: 'ViT-B/16 (random weights)',
    method: 'mpl (N_CTX 1, add 2, remove 1, depth 9)',
    device: 'cpu',
    device_name: 'cpu (test)',
    precision: 'fp32',
    classes: 1000,
    train_images: 8,
    eval_images: 20,
    threads: 2,
    libtorch: '1.13.0',
    trainable_parameters: 6702336,
    train_images_per_s: 0.05,
    eval_images_per_s: 0.5,
    eval_text_seconds: 12.5,
    eval_images_per_s_without_text: 2,
    memory_limit_bytes: 10 * 2 ** 30,
    peak_rss_bytes: 3 * 2 ** 30,
    train_peak_rss_bytes: 3 * 2 ** 30,
    eval_peak_rss_bytes: 2 * 2 ** 30,
    did_not_fit: [],
    text_blocks: { blocks: 12, kept: 2, recomputed: 10 },
    torch_version: '1.13.0',
    torch_train_images_per_s: null,
    torch_eval_images_per_s: 0.1,
    torch_peak_rss_bytes: 9.9 * 2 ** 30,
    torch_did_not_fit: ['train'],
    eval_ratio: 5,
  };
  const text = formatTrainBench(r);
  assert.match(text, /mpl fp32 +train 0\.050 images\/s +eval 0\.500 images\/s +peak RSS 3\.0 GiB/);
  assert.match(text, /PyTorch fp32 +train did not fit in 10\.0 GiB +eval 0\.100 images\/s +peak RSS 9\.9 GiB/);
  assert.match(text, /memory limit 10\.0 GiB per side/);
  assert.match(text, /12 blocks of classes, 2 kept for the backward pass, 10 recomputed in it/);
  assert.match(text, /text features once: 12\.50 s of it; without it 2\.000 images\/s/);
  assert.match(text, /ratio mpl\/PyTorch, same precision: train - +eval 5\.000x/);
});
