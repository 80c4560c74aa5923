#!/usr/bin/env node
'use strict';
/**
 * Measures over seeds what test/e2e/learning.slow.test.ts asserts on one seed (src/pretrain/learning.ts holds the
 * shared definition): zero-shot and every method's base/new accuracy on SynthShapes with the shipped tiny
 * CLIP. Prints each method's mean ± std and [min, max], the gain over zero-shot on base classes and the
 * change on new classes, and writes them to <out>/spreads.json. The test thresholds are set from these.
 *
 *   npm run build && node scripts/measure-learning.js [--seeds 1-10] [--methods mpl,coop] [--out DIR]
 */
const fs = require('node:fs');
const path = require('node:path');
const dist = path.join(__dirname, '..', 'dist', 'src');
const { loadClip } = require(`${dist}/clip/load.js`);
const { tinyClipWeights } = require(`${dist}/pretrain/recipe.js`);
const { LEARNING_DATA, LEARNING_EPOCHS, runLearningCheck } = require(`${dist}/pretrain/learning.js`);
const { writeSynthDataset } = require(`${dist}/synth/dataset.js`);

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
}
function range(spec) {
  return spec.split(',').flatMap((p) => {
    const [a, b] = p.split('-').map(Number);
    return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, i) => a + i);
  });
}
const stats = (xs) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  return { mean, std, min: Math.min(...xs), max: Math.max(...xs) };
};
const fmt = (s) => `${s.mean.toFixed(2)} ± ${s.std.toFixed(2)} [${s.min.toFixed(2)}, ${s.max.toFixed(2)}]`;

async function main() {
  const seeds = range(arg('--seeds', '1-10'));
  const methods = arg('--methods', Object.keys(LEARNING_EPOCHS).join(',')).split(',');
  const out = path.resolve(arg('--out', 'output/measure-learning'));
  const weights = arg('--weights', tinyClipWeights());
  const { model, backbone } = await loadClip({ weights });
  const root = path.join(out, 'data');
  await writeSynthDataset(root, LEARNING_DATA);
  const run = (method, s) => runLearningCheck({ model, backbone, root, out: path.join(out, 'runs'), method, seeds: s });
  const [zs] = await run('zeroshot', [1]);
  const report = { weights, seeds, data: LEARNING_DATA, epochs: LEARNING_EPOCHS, zeroshot: { base: zs.base, new: zs.new }, methods: {} };
  console.log(`zero-shot: base ${zs.base.toFixed(2)}  new ${zs.new.toFixed(2)}`);
  for (const method of methods) {
    const t0 = Date.now();
    const rs = await run(method, seeds);
    const m = {
      base: stats(rs.map((r) => r.base)),
      new: stats(rs.map((r) => r.new)),
      baseGain: stats(rs.map((r) => r.base - zs.base)),
      newChange: stats(rs.map((r) => r.new - zs.new)),
      trainSeconds: stats(rs.map((r) => r.train_seconds)),
      perSeed: rs.map((r) => ({ seed: r.seed, base: r.base, new: r.new })),
    };
    report.methods[method] = m;
    console.log(`${method.padEnd(9)} base ${fmt(m.base)}  new ${fmt(m.new)}  base gain ${fmt(m.baseGain)}  new change ${fmt(m.newChange)}  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
  fs.writeFileSync(path.join(out, 'spreads.json'), JSON.stringify(report, null, 2) + '\n');
  console.log(`wrote ${path.join(out, 'spreads.json')}`);
  model.dispose();
}
main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
