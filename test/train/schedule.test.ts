import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { schedule } from '../../src/train/schedule.js';
import { goldenDir } from '../helpers.js';

test("the LR schedule equals Dassl's per-epoch values (warm-up + cosine)", () => {
  const golden = JSON.parse(fs.readFileSync(path.join(goldenDir, 'lr_schedule.json'), 'utf8'));
  for (const [key, values] of Object.entries(golden.per_epoch_lr as Record<string, number[]>)) {
    const m = /lr=([\d.]+),epochs=(\d+)/.exec(key)!;
    const got = schedule({ lr: Number(m[1]), epochs: Number(m[2]), warmupEpochs: golden.warmup.epochs, warmupLr: golden.warmup.lr });
    assert.equal(got.length, values.length);
    got.forEach((v, i) => assert.ok(Math.abs(v - values[i]) <= 1e-15 + 1e-12 * values[i], `${key} epoch ${i + 1}: ${v} vs ${values[i]}`));
  }
});
