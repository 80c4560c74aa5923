/**
 * KgCoOp and ProGrad against their official code on the golden tiny CLIP (vectors and generator in
 * test/fixtures/methods/, made by make_kgcoop_prograd_golden.py): the official initialisation, the hand-crafted
 * text features of each method's own template table, evaluation logits, each loss term, the gradient the
 * optimiser uses (KgCoOp's of CE + W·(1 − cos); ProGrad's after the projection, one case where the two gradients
 * conflict and one where they do not), and the parameters after two SGD steps -- on the test device in every
 * precision it supports, with the tolerances of test/tolerance.ts (fp32 relative to each tensor's largest element;
 * reduced precisions as a relative L2 error against the fp32 vectors). Two differences, both for reasons of the numbers, not of slack:
 *  - ProGrad's projected gradient g − (g·ĥ)ĥ is shorter than g where they conflict (cos −0.92 here: 0.4‖g‖), so
 *    the same error in g is a larger relative error of the result: its bounds are scaled by ‖g‖/‖projected‖
 *    (read from the vectors);
 *  - a parameter stored in half (the fp16 recipe's context) may be off by four half ulps plus the bound times
 *    the largest change of any element (parity.test.ts uses each element's own change, which ProGrad's
 *    near-zero padded context tokens, updated by a few ulps per step, do not satisfy).
 * MPL_PARITY_REPORT=FILE appends one JSON line of measured errors per case and precision, as parity.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensors } from '../../src/io/safetensors.js';
import type { RawTensor } from '../../src/io/tensor.js';
import { ClipTokenizer } from '../../src/backbones/clip/tokenizer.js';
import { PromptLearner } from '../../src/prompting/learner.js';
import { inferMethod, type MethodName, type MethodOptions } from '../../src/prompting/methods/index.js';
import { backward, projectGradients } from '../../src/train/step.js';
import { GradScaler, SGD, noGrad, tensor, tidy } from '../../src/torch/index.js';
import { fixturesDir } from '../helpers.js';
import { assertClose, float32, goldenImages, goldenModel, testDevice, testPrecisions } from './golden.js';
import { REDUCED, assertScaled, assertUpdate, fp32Tolerance, relativeL2 } from '../tolerance.js';

interface Case {
  dir: string;
  method: MethodName;
  options(o: Record<string, unknown>): MethodOptions;
}
const CASES: Case[] = [
  { dir: 'kgcoop', method: 'kgcoop', options: (o) => ({ nCtx: o.n_ctx as number, ctxInit: o.ctx_init as string, kgWeight: o.kg_weight as number }) },
  { dir: 'prograd', method: 'prograd', options: (o) => ({ lambda: o.lambda as number, temperature: o.temperature as number }) },
  { dir: 'prograd_t2', method: 'prograd', options: (o) => ({ lambda: o.lambda as number, temperature: o.temperature as number }) },
];

const read = (dir: string, file: string): Map<string, RawTensor> => readSafetensors(path.join(fixturesDir, 'methods', dir, file)).tensors;

/** Bounds: test/tolerance.ts (fp32 relative to each tensor's largest element; reduced precisions as relative L2). */
const BOUNDS = REDUCED;
const FP32 = fp32Tolerance(testDevice);

for (const precision of testPrecisions()) {
  for (const c of CASES) {
    test(`${c.dir} [${testDevice} ${precision}]: parity with the official implementation`, () => {
      const o = JSON.parse(fs.readFileSync(path.join(fixturesDir, 'methods', c.dir, 'outputs.json'), 'utf8')) as Record<string, unknown>;
      const model = goldenModel(precision, testDevice);
      // the dataset by its Dassl name, as the official cfg.DATASET.NAME: the methods read their own tables by it
      const learner = new PromptLearner(model, ClipTokenizer.default(), c.method, o.classes as string[], { ...c.options(o), dataset: o.dataset as string });
      const strict = precision === 'fp32';
      const grads = read(c.dir, 'grads.safetensors');
      // ProGrad: ‖g‖/‖g projected‖ (1 where nothing was projected)
      const norm = (x: Float32Array) => Math.hypot(...x);
      const ce = grads.get('prompt_learner.ctx.grad_ce');
      const shrink = ce ? norm(float32(ce)) / norm(float32(grads.get('prompt_learner.ctx.grad')!)) : 1;
      const bounds = strict ? null : { ...BOUNDS[precision], grad: BOUNDS[precision].grad * shrink, delta: BOUNDS[precision].delta * shrink };
      const measured: Record<string, number | string> = { method: c.dir, precision, device: testDevice };
      const within = (what: string, err: number, bound: number) => {
        measured[what] = Number(err.toExponential(3));
        assert.ok(err <= bound, `${c.dir} [${precision}] ${what}: relative L2 error ${err.toExponential(3)} exceeds ${bound}`);
      };
      const images = goldenImages().keep();
      const labels = tensor(o.labels as number[], [(o.labels as number[]).length], 'int64').keep();
      try {
        // the official initialisation (ProGrad: zeros, then the template words' embeddings)
        const init = read(c.dir, 'official_init.safetensors');
        assert.deepEqual([...learner.params.keys()], [...init.keys()], 'parameter names');
        if (strict) for (const [k, p] of learner.params) assertClose(p.toFloat32(), float32(init.get(k)!), 1e-6, 1e-7, `${c.dir} ${k} at initialisation`);
        if (o.prompt_prefix !== undefined) assert.equal((learner.design.text as { promptPrefix: string }).promptPrefix, o.prompt_prefix);
        assert.equal(learner.trainableParameters, o.trainable_parameters);
        const params = read(c.dir, 'params.safetensors');
        learner.loadStateDict(params);
        const golden = read(c.dir, 'logits.safetensors');
        // the hand-crafted text features of the method's own template for the dataset
        const teacher = learner.teacherTextFeatures()!.toFloat32();
        if (strict) assertScaled(teacher, float32(golden.get('teacher_text')!), FP32.forward, `${c.dir} hand-crafted text features (${o.template})`);
        else within('teacher_text', relativeL2(teacher, float32(golden.get('teacher_text')!)), bounds!.logits);
        tidy(() => {
          const logits = noGrad(() => learner.forward(images).logits).toFloat32();
          if (strict) assertScaled(logits, float32(golden.get('logits_eval')!), FP32.forward, `${c.dir} eval logits`);
          else within('logits', relativeL2(logits, float32(golden.get('logits_eval')!)), bounds!.logits);
        });

        const opt = new SGD(learner.parameters(), { lr: o.sgd_lr as number, momentum: 0.9, weightDecay: 5e-4 });
        const scaler = model.precision.lossScaling ? new GradScaler({ scale: 256, growthTracker: 0 }) : null;
        for (const step of [1, 2]) {
          tidy(() => {
            opt.zeroGrad();
            const out = learner.forward(images, labels);
            for (const [k, v] of Object.entries(o[`losses_step${step}`] as Record<string, number>)) {
              const got = out.terms![k].item();
              if (strict) assertScaled([got], [v], FP32.forward, `${c.dir} ${k} (step ${step})`);
              else within(`${k} (step ${step})`, Math.abs(got - v) / Math.abs(v), bounds!.loss);
            }
            backward(learner, out, scaler);
            if (step === 1) {
              for (const [key, p] of learner.params) {
                const actual = p.grad!.toFloat32();
                if (scaler) for (let i = 0; i < actual.length; i++) actual[i] /= scaler.scale;
                const want = float32(grads.get(`${key}.grad`)!);
                if (strict) assertScaled(actual, want, FP32.backward, `${c.dir} gradient of ${key}`);
                else within(`gradient of ${key}`, relativeL2(actual, want), bounds!.grad);
              }
            }
            if (scaler) assert.ok(scaler.step(opt), 'amp: the gradients overflowed at scale 256');
            else opt.step();
          });
        }
        const after = read(c.dir, 'params_after_2_steps.safetensors');
        for (const [key, p] of learner.params) {
          const actual = p.toFloat32();
          const expected = float32(after.get(key)!);
          if (strict) assertUpdate(actual, expected, float32(params.get(key)!), 2, FP32.backward, `${c.dir} ${key} after 2 steps`);
          else {
            const start = float32(params.get(key)!);
            const change = expected.map((x, i) => x - start[i]);
            if (p.dtype !== 'float16') {
              // the change over the two steps (the parameter itself barely moves)
              within(`${key} change over 2 steps`, relativeL2(actual.map((x, i) => x - start[i]), change), bounds!.delta);
              continue;
            }
            // stored in half: every update is rounded to half (see the header)
            const largest = Math.max(...change.map(Math.abs));
            for (let i = 0; i < actual.length; i++) {
              const ulps = 4 * 2 ** (Math.floor(Math.log2(Math.max(Math.abs(expected[i]), 6.1e-5))) - 10);
              const err = Math.abs(actual[i] - expected[i]);
              assert.ok(err <= ulps + bounds!.delta * largest, `${c.dir} [${precision}] ${key}[${i}] after 2 steps: ${actual[i]} vs ${expected[i]} (from ${start[i]})`);
            }
          }
        }
        opt.disposeState();
      } finally {
        images.dispose();
        labels.dispose();
        learner.dispose();
        if (process.env.MPL_PARITY_REPORT) fs.appendFileSync(process.env.MPL_PARITY_REPORT, JSON.stringify(measured) + '\n');
      }
    });
  }
}

test('ProGrad projects only where the gradients conflict: the recorded cosines of the two cases', () => {
  // the vectors cover both branches of the official step: the conflicting case's gradient differs from the
  // cross-entropy's, the other's equals it
  for (const [dir, conflict] of [['prograd', true], ['prograd_t2', false]] as const) {
    const o = JSON.parse(fs.readFileSync(path.join(fixturesDir, 'methods', dir, 'outputs.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(o.projected_step1, [conflict], `${dir}: projected at step 1`);
    const g = read(dir, 'grads.safetensors');
    const [grad, ce] = [float32(g.get('prompt_learner.ctx.grad')!), float32(g.get('prompt_learner.ctx.grad_ce')!)];
    assert.equal(relativeL2(grad, ce) > 1e-3, conflict, `${dir}: the optimiser's gradient ${conflict ? 'differs from' : 'is'} the cross-entropy's`);
  }
});

test('projectGradients: g − λ(g·ĥ)ĥ where cos(g, h) < 0; g untouched where they agree or the guide has no gradient', () => {
  const cases: Array<[guide: number[], want: number[]]> = [
    // g = (1, 0, −1), h = (−1, 1, 0): cos = −1/2, g·ĥ = −1/√2, ĥ = h/√2 → g + λh/2 with λ = 0.5
    [[-1, 1, 0], [0.75, 0.25, -1]],
    [[1, 1, 0], [1, 0, -1]], // cos = 1/2: no conflict
    [[0, 0, 0], [1, 0, -1]], // ĥ = 0/0: the official comparison is false, g stays
  ];
  for (const [h, want] of cases) {
    const p = tensor([1, 2, 3], [3]).keep();
    p.requiresGrad = true;
    try {
      tidy(() => projectGradients([p], p.mul(tensor([1, 0, -1], [3])).sum(), p.mul(tensor(h, [3])).sum(), 0.5));
      assertClose(tidy(() => p.grad!.toFloat32()), want, 1e-6, 1e-7, `guide gradient (${h})`);
    } finally {
      p.dispose();
    }
  }
});

test("each method's own template table by the dataset's Dassl name; a dataset outside it has its own template", () => {
  const model = goldenModel('fp32', testDevice);
  const prefix = (method: MethodName, dataset: string | undefined) => {
    const l = new PromptLearner(model, ClipTokenizer.default(), method, ['cat'], dataset ? { dataset } : {});
    try {
      return (l.design.text as { promptPrefix: string }).promptPrefix;
    } finally {
      l.dispose();
    }
  };
  // ProGrad's context starts as the template's words, zeros (the X's) before them; any spelling of the dataset
  assert.equal(prefix('prograd', 'oxford_pets'), 'X X X X X X X X a type of pet, a photo of a');
  assert.equal(prefix('prograd', 'DescribableTextures'), 'X X X X X X X X X X X X X a texture of');
  assert.equal(prefix('prograd', 'eurosat'), 'X X X X X X X X X X X a centered satellite photo of');
  assert.equal(prefix('prograd', 'synthshapes'), 'X X X X X X X X X X X X a photo of a'); // not in the table: its own "a photo of a {}."
  assert.equal(prefix('prograd', undefined), 'X X X X X X X X X X X X a photo of a');
  assert.equal(prefix('kgcoop', 'dtd'), 'a photo of a');
  assert.throws(() => new PromptLearner(model, ClipTokenizer.default(), 'prograd', ['cat'], { nCtx: 4, dataset: 'oxford_pets' }), /--n-ctx 4 is fewer than the 8 words/);
});

test('setClassnames with a dataset: the design follows it (ProGrad\'s prompt text, zero-shot\'s template), the tensors stay', () => {
  const model = goldenModel('fp32', testDevice);
  const tok = ClipTokenizer.default();
  const names = ['banded', 'dotted', 'striped'];
  for (const [method, from, to] of [['prograd', 'oxford_pets', 'dtd'], ['zeroshot', 'eurosat', 'dtd']] as const) {
    const moved = new PromptLearner(model, tok, method, ['dog', 'cat'], { dataset: from, seed: 1 });
    const built = new PromptLearner(model, tok, method, names, { dataset: to, seed: 2 });
    try {
      const before = [...moved.params.values()].map((p) => p.toFloat32());
      moved.setClassnames(names, to);
      assert.deepEqual([...moved.params.values()].map((p) => p.toFloat32()), before, `${method}: the trained tensors are kept`);
      built.loadStateDict(moved.stateDict());
      const [a, b] = [moved, built].map((l) => noGrad(() => tidy(() => l.textFeatures().toFloat32())));
      assertClose(a, b, 1e-6, 1e-7, `${method}: text features as if built for ${to}`);
    } finally {
      moved.dispose();
      built.dispose();
    }
  }
});

test("an official KgCoOp checkpoint (its unused bias_vectors and one-layer meta_net) is KgCoOp's, not CoCoOp's", () => {
  const shapes = (keys: Record<string, number[]>) => new Map(Object.entries(keys).map(([k, shape]) => [k, { shape }]));
  const kg = shapes({ 'prompt_learner.ctx': [4, 512], 'prompt_learner.bias_vectors': [1, 512], 'prompt_learner.meta_net.linear1.weight': [512, 512], 'prompt_learner.meta_net.linear1.bias': [512] });
  assert.deepEqual(inferMethod(kg), { method: 'kgcoop', options: { nCtx: 4 }, candidates: ['kgcoop'] });
  const cocoop = shapes({ 'prompt_learner.ctx': [4, 512], 'prompt_learner.meta_net.linear1.weight': [32, 512], 'prompt_learner.meta_net.linear1.bias': [32], 'prompt_learner.meta_net.linear2.weight': [512, 32], 'prompt_learner.meta_net.linear2.bias': [512] });
  assert.equal(inferMethod(cocoop).method, 'cocoop');
  // ProGrad's checkpoint is CoOp's context alone: CoOp's (the evaluation is the same)
  assert.equal(inferMethod(shapes({ 'prompt_learner.ctx': [16, 512] })).method, 'coop');
});
