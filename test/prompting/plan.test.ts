import { test } from 'node:test';
import assert from 'node:assert/strict';
import { knownArchitectures } from '../../src/backbones/clip/config.js';
import { countParameters, designMethod, METHODS } from '../../src/prompting/methods/index.js';
import { describeLayout, parseSchedule, planLayout, validatePlan } from '../../src/prompting/plan.js';

const b16 = knownArchitectures['ViT-B/16'];
const l14 = knownArchitectures['ViT-L/14'];

test('MPL and MaPLe on ViT-B/16: published parameter counts and sequence lengths', () => {
  const mpl = designMethod('mpl', {}, b16);
  assert.equal(countParameters(mpl), 6702336);
  assert.deepEqual(validatePlan(mpl.plan, b16), [198, 199, 200, 201, 202, 203, 204, 205, 206, 206, 206, 206]);
  assert.equal(countParameters(designMethod('mpl', { depth: 3 }, b16)), 1971456);
  assert.deepEqual(validatePlan(designMethod('mpl', { nCtx: 2 }, b16).plan, b16), [199, 202, 205, 208, 211, 214, 217, 220, 223, 223, 223, 223]);
  const maple = designMethod('maple', {}, b16);
  assert.equal(countParameters(maple), 3555072);
  assert.deepEqual(validatePlan(maple.plan, b16), Array(12).fill(199));
});

test('widths come from the model: every method builds on ViT-L/14', () => {
  for (const m of METHODS) {
    const d = designMethod(m, {}, l14);
    validatePlan(d.plan, l14);
    // coupling maps go from the text width (768) to the vision width (1024); methods.test.ts checks every
    // parameter on a CLIP whose widths all differ
    for (const p of d.params) if (/proj.*\.weight$/.test(p.key)) assert.deepEqual(p.shape, [1024, 768], p.key);
    for (const p of d.params) if (/proj.*\.bias$/.test(p.key)) assert.deepEqual(p.shape, [1024], p.key);
  }
  const mpl = designMethod('mpl', {}, l14);
  assert.deepEqual(mpl.params.find((p) => p.key === 'prompt_learner.proj.weight')!.shape, [1024, 768]);
});

test('invalid plans are rejected before any compute, saying why', () => {
  assert.throws(() => designMethod('mpl', { nAdd: 2, nRm: 3 }, b16), /--n-rm 3 exceeds --n-add × --n-ctx = 2/);
  assert.throws(() => designMethod('mpl', { depth: 13 }, b16), /prompt depth 13 is beyond the model's 12 layers/);
  assert.throws(() => designMethod('vpt', { depthVision: 0 }, b16), /--depth-vision must be an integer >= 1 and <= 48, got 0/);
  assert.throws(() => validatePlan(designMethod('mpl', { schedule: '1-4:add3,rm2' }, b16).plan, b16), /layer 1 removes 2 tokens but only 1 prompt tokens/);
  assert.throws(() => designMethod('mpl', { schedule: '10:add1,rm1', depth: 9 }, b16), /beyond the prompt depth 9/);
  assert.throws(() => designMethod('mpl', { schedule: '1:add3,rm1', nCtx: 2 }, b16), /multiple of --n-ctx 2/);
  assert.throws(() => parseSchedule('1-4:addx'), /operation 'addx'/);
  assert.throws(() => parseSchedule('4-1:add1'), /reversed/);
  assert.throws(() => parseSchedule('1:add1;1:add2'), /given twice/);
});

test('custom schedules: ranges and lists', () => {
  const m = parseSchedule('1-2:add3,rm1; 3:add1,rm2');
  assert.deepEqual([...m.entries()], [[1, { add: 3, remove: 1 }], [2, { add: 3, remove: 1 }], [3, { add: 1, remove: 2 }]]);
  assert.deepEqual([...parseSchedule('2/1,1/1').entries()], [[1, { add: 2, remove: 1 }], [2, { add: 1, remove: 1 }]]);
  const d = designMethod('mpl', { schedule: '1:add3,rm1;2-4:add3,rm2;5-8:add1,rm1' }, b16);
  assert.deepEqual(validatePlan(d.plan, b16), [198, 200, 201, 202, 203, 203, 203, 203, 203, 203, 203, 203]);
  // 3 maps at layers 1-4, 1 map at 5-8
  assert.equal(d.params.filter((p) => /txt2img_proj\.\d+\.\d+\.weight/.test(p.key)).length, 3 * 4 + 4);
});

test('the layout tells carried prompts from newly added ones', () => {
  const d = designMethod('mpl', {}, b16);
  const layout = planLayout(d.plan, b16, countParameters(d));
  const block2 = layout.vision[2].segments.filter((s) => s.kind.startsWith('prompt'));
  assert.deepEqual(block2.map((s) => [s.kind, s.count, s.label]), [['prompt-carried', 1, 'a0^1'], ['prompt-added', 1, 'a0^2'], ['prompt-added', 1, 'a1^2']]);
  assert.equal(layout.vision[11].length, 206);
  assert.match(describeLayout(layout), /6,702,336 trainable parameters/);
});
