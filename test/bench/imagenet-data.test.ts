/**
 * `mpl bench imagenet-data` on a small tree: what it reports is what the tree holds (files, the few-shot subset,
 * the variants' classes), it reads the subset back from its cache, removes its tree, and its text says so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { formatImagenetDataBench, runImagenetDataBench } from '../../bench/imagenet-data.js';
import { tmpDir } from '../helpers.js';

test('imagenet-data: counts of a 30-class tree, its 16-shot subset, variants with their classes; the tree is removed', async () => {
  const dir = tmpDir('mpl-imagenet-bench-');
  const r = await runImagenetDataBench({ classes: 30, trainPerClass: 20, valPerClass: 2, variantPerClass: 1, dir });
  assert.deepEqual(
    { classes: r.classes, train: r.train_files, val: r.val_files, variants: r.variant_files, shots: r.shots, fewshot: r.fewshot_images },
    { classes: 30, train: 600, val: 60, variants: 30 + 30 + 30 + 30, shots: 16, fewshot: 480 },
  );
  assert.deepEqual(Object.fromEntries(Object.entries(r.variants).map(([k, v]) => [k, v.classes])), { imagenet_v2: 30, imagenet_sketch: 30, imagenet_a: 30, imagenet_r: 30 });
  for (const s of [r.generate_seconds, r.list_seconds, r.fewshot_draw_seconds, r.fewshot_cached_seconds]) assert.ok(Number.isFinite(s) && s >= 0);
  assert.deepEqual(fs.readdirSync(dir), [], 'the generated tree is removed');
  const text = formatImagenetDataBench(r);
  assert.match(text, /^ImageNet-layout tree: 30 classes, 600 train \+ 60 val files \+ 120 in the variants/);
  assert.match(text, /16-shot subset, drawn \+ cached +\d+\.\d\d s +\(480 images, Dassl's draw\)/);
  assert.match(text, /imagenet_a +30 classes/);
});
