#!/usr/bin/env node
'use strict';
/**
 * What each method's training step costs as the classes grow (docs/scale.md): a random ViT-B/16 (fp32, CPU
 * by default), batch 4, one timed step after a warm-up step per (method, classes, mode), where mode is
 *   blocked  the default: the text tower in blocks of similar prompt length, 1 GiB of activations kept, the
 *            other blocks recomputed in the backward pass (src/prompting/class-text.ts);
 *   plain    one block, every activation kept (the computation before blocks; what autograd does by itself).
 * Prints one JSON line per measurement (seconds per step, the step's peak resident memory above the model,
 * the blocks) and a Markdown table at the end. A plain run whose estimated text activations exceed
 * --max-plain-gib is not run (reported as such); every run is under the memory cap of bench/memory.ts.
 *   npm run build && node scripts/measure-text-scale.js --classes 100,500,1000 --methods coop,mpl --modes blocked,plain
 */
const path = require('node:path');
const dist = path.join(__dirname, '..', 'dist');
const { knownArchitectures } = require(path.join(dist, 'src', 'backbones', 'clip', 'config.js'));
const { ClipModel } = require(path.join(dist, 'src', 'backbones', 'clip', 'model.js'));
const { ClipTokenizer } = require(path.join(dist, 'src', 'backbones', 'clip', 'tokenizer.js'));
const { PromptLearner, defaultTextMemory } = require(path.join(dist, 'src', 'prompting', 'learner.js'));
const torch = require(path.join(dist, 'src', 'torch', 'index.js'));
const { imagenetClass } = require(path.join(dist, 'bench', 'imagenet-tree.js'));
const { capSelf, defaultMemoryLimit, isOutOfMemory, peakRss, procStatus, resetPeakRss, gib } = require(path.join(dist, 'bench', 'memory.js'));

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const classCounts = flag('--classes', '100,500,1000').split(',').map(Number);
const methods = flag('--methods', 'coop,cocoop,vpt,ivlp,maple,mpl,promptsrc').split(',');
const modes = flag('--modes', 'blocked,plain').split(',');
const maxPlain = Number(flag('--max-plain-gib', '8')) * 2 ** 30;
const limit = Number(flag('--memory-limit', String(defaultMemoryLimit() / 2 ** 30))) * 2 ** 30;
const arch = knownArchitectures[flag('--arch', 'ViT-B/16')];

torch.checkBlas();
capSelf(limit);
const model = ClipModel.random(arch, 0, {});
const tokenizer = ClipTokenizer.default();
const S = model.imageSize;
const images = torch.randn([4, 3, S, S], new torch.Generator(1)).keep();
const rows = [];

for (const C of classCounts) {
  const names = Array.from({ length: C }, (_, i) => imagenetClass(i).name);
  for (const method of methods) {
    const learner = new PromptLearner(model, tokenizer, method, names, { seed: 1 });
    const labels = torch.tensor(Array.from({ length: 4 }, (_, i) => i % C), [4], 'int64').keep();
    for (const mode of modes) {
      const row = { method, classes: C, mode, threads: torch.getNumThreads() };
      learner.textMemory = mode === 'plain' ? { blockTokens: Number.MAX_SAFE_INTEGER, keepBytes: Number.MAX_SAFE_INTEGER } : defaultTextMemory();
      // the plain graph's size, estimated as the learner does (prompt rows x longest prompt)
      const text = method === 'cocoop' ? null : learner.design.text.kind === 'learned' ? learner['classText']() : null;
      const estimate = text ? text.blocks.reduce((n, b) => n + text.graphBytes(b), 0) * (method === 'cocoop' ? 4 : 1) : 0;
      if (mode === 'plain' && estimate > maxPlain) {
        rows.push({ ...row, skipped: `estimated ${gib(estimate)} of text activations > --max-plain-gib` });
        console.log(JSON.stringify(rows.at(-1)));
        continue;
      }
      const step = () => torch.tidy(() => {
        for (const p of learner.parameters()) p.zeroGrad();
        learner.forwardBackward(images, labels);
      });
      try {
        step(); // warm-up: kernels, masks, allocator
        torch.releaseFreedMemory();
        const base = procStatus()?.rss ?? 0;
        resetPeakRss();
        const t0 = process.hrtime.bigint();
        step();
        row.step_seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        row.step_peak_above_model_bytes = peakRss() - base;
        row.text_blocks = learner.lastTextBlocks;
      } catch (e) {
        if (!isOutOfMemory(e)) throw e;
        row.did_not_fit = `did not fit in ${gib(limit)}`;
      }
      for (const p of learner.parameters()) p.zeroGrad();
      torch.releaseFreedMemory();
      rows.push(row);
      console.log(JSON.stringify(row));
    }
    labels.dispose();
    learner.dispose();
  }
}

const cell = (r) => (!r ? '' : r.skipped ? 'not run' : r.did_not_fit ? r.did_not_fit : `${r.step_seconds.toFixed(1)} s, ${gib(r.step_peak_above_model_bytes)}`);
console.log(`\n| method | classes | ${modes.join(' | ')} |\n|---|---|${modes.map(() => '---|').join('')}`);
for (const C of classCounts) {
  for (const method of methods) {
    console.log(`| ${method} | ${C} | ${modes.map((m) => cell(rows.find((r) => r.method === method && r.classes === C && r.mode === m))).join(' | ')} |`);
  }
}
