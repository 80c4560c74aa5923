/**
 * Parity of every method with the official PyTorch code on the golden tiny CLIP (../shared/golden/methods):
 * eval logits, training loss, the gradient of every parameter, the parameters after two SGD steps, the
 * vision sequence lengths and the trainable parameter count -- on the test device (MPL_TEST_DEVICE, the CPU
 * given explicitly by default) in every precision it supports (golden.ts: testPrecisions).
 *
 * The bounds and their reasons are in test/tolerance.ts: fp32 elementwise against each tensor's largest element,
 * reduced precisions by the relative L2 error against the same fp32 vectors; the change of each parameter over
 * the two steps is compared (not the parameter, which barely moves). bf16 on a CPU without native bf16 is
 * refused by the tool (docs/precision.md): there the test checks the refusal. Test names carry the CPU class.
 * Set MPL_PARITY_REPORT=FILE to append one JSON line of measured errors per method and precision.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { GradScaler, SGD, cpuClass, cpuHasNativeBf16, nn, noGrad, resolvePrecision, tensor, tidy } from '../../src/torch/index.js';
import { UserError } from '../../src/util/errors.js';
import { PromptLearner } from '../../src/prompting/learner.js';
import { gpaWeights } from '../../src/prompting/methods/index.js';
import type { MethodName } from '../../src/prompting/methods/index.js';
import { ClipTokenizer } from '../../src/backbones/clip/tokenizer.js';
import { float32, goldenImages, goldenModel, goldenTensors, optionsFor, outputs, testDevice, testPrecisions } from './golden.js';
import { PROMPTSRC_GRAD, REDUCED, assertHalfStored, assertScaled, assertUpdate, change, fp32Tolerance, relativeL2 } from '../tolerance.js';


const FP32 = fp32Tolerance(testDevice);
/** the CPU class in test names, so the output says what was tested */
const where = testDevice === 'cpu' ? `cpu, class ${cpuClass()}` : testDevice;

const methods: MethodName[] = ['zeroshot', 'coop', 'cocoop', 'vpt', 'ivlp', 'maple', 'mpl', 'promptsrc'];

for (const precision of testPrecisions()) {
  for (const method of methods) {
    test(`${method} [${where} ${precision}]: parity with the official implementation`, () => {
      const o = outputs(method);
      const model = goldenModel(precision, testDevice);
      const learner = new PromptLearner(model, ClipTokenizer.default(), method, o.classes, optionsFor(method, o));
      const dir = `methods/${method}`;
      const strict = precision === 'fp32';
      const bounds = strict ? null : { ...REDUCED[precision], ...(method === 'promptsrc' ? { grad: PROMPTSRC_GRAD[precision], delta: PROMPTSRC_GRAD[precision] } : {}) };
      const measured: Record<string, number | string> = { method, precision, device: testDevice };
      const within = (what: string, err: number, bound: number) => {
        measured[what] = Number(err.toExponential(3));
        assert.ok(err <= bound, `${method} [${precision}] ${what}: relative L2 error ${err.toExponential(3)} exceeds ${bound}`);
      };
      /** fp32: elementwise against the tensor's largest element; records the worst ratio per quantity */
      const scaled = (what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, label: string) => {
        const err = assertScaled(actual, expected, tol, label);
        measured[what] = Math.max(Number(measured[what] ?? 0), Number(err.toExponential(3)));
      };
      try {
        const params = method === 'zeroshot' ? null : goldenTensors(`${dir}/params.safetensors`);
        if (params) {
          assert.deepEqual([...learner.params.keys()].sort(), [...params.keys()].sort(), 'parameter names');
          learner.loadStateDict(params);
          if (o.trainable_parameters !== undefined) assert.equal(learner.trainableParameters, o.trainable_parameters);
        }
        const images = goldenImages().keep();
        const labels = tensor(o.labels, [o.labels.length], 'int64').keep();
        // evaluation-mode logits
        const expectedLogits = float32(goldenTensors(`${dir}/logits.safetensors`).get('logits_eval')!);
        tidy(() => {
          const logits = noGrad(() => learner.forward(images).logits).toFloat32();
          if (strict) scaled('logits', logits, expectedLogits, FP32.forward, `${method} eval logits`);
          else within('logits', relativeL2(logits, expectedLogits), bounds!.logits);
        });
        if (o.vision_lengths) assert.deepEqual(learner.lastVisionLengths, o.vision_lengths, 'vision sequence lengths');
        if (method === 'zeroshot' || !params) return;

        // training loss, gradients, two SGD steps (amp: scaled loss, gradients read unscaled; a scale that
        // cannot overflow on this model, so neither step is skipped)
        const lr = (o.sgd_lr as number | undefined) ?? 0.0035;
        const opt = new SGD(learner.parameters(), { lr, momentum: 0.9, weightDecay: 5e-4 });
        const scaler = model.precision.lossScaling ? new GradScaler({ scale: 256, growthTracker: 0 }) : null;
        const backwardAndStep = (loss: ReturnType<typeof learner.forward>['loss']) => {
          (scaler ? scaler.scaleLoss(loss!) : loss!).backward();
        };
        const step = () => {
          if (scaler) assert.ok(scaler.step(opt), 'amp: the gradients overflowed at scale 256');
          else opt.step();
        };
        const grads = goldenTensors(`${dir}/grads.safetensors`);
        const losses = o.losses_step1 as Record<string, number> | undefined;
        tidy(() => {
          opt.zeroGrad();
          const out = learner.forward(images, labels);
          if (losses) {
            for (const [k, v] of Object.entries(losses)) {
              if (strict) scaled('loss', [out.terms![k].item()], [v], FP32.forward, `${method} ${k} (step 1)`);
              else if (k === 'total' || k === 'ce') within(`loss_${k}`, Math.abs(out.terms![k].item() - v) / Math.abs(v), bounds!.loss);
            }
          } else if (strict) scaled('loss', [out.loss!.item()], [o.loss!], FP32.forward, `${method} loss`);
          else within('loss', Math.abs(out.loss!.item() - o.loss!) / Math.abs(o.loss!), bounds!.loss);
          backwardAndStep(out.loss);
          let worst = 0;
          for (const [key, p] of learner.params) {
            const g = grads.get(`${key}.grad`);
            assert.ok(g, `golden gradient for ${key}`);
            const actual = p.grad!.toFloat32();
            if (scaler) for (let i = 0; i < actual.length; i++) actual[i] /= scaler.scale;
            if (strict) scaled('grad', actual, float32(g), FP32.backward, `${method} grad ${key}`);
            else worst = Math.max(worst, relativeL2(actual, float32(g)));
          }
          if (!strict) within('grad', worst, bounds!.grad);
          step();
        });
        const losses2 = o.losses_step2 as Record<string, number> | undefined;
        tidy(() => {
          opt.zeroGrad();
          const out = learner.forward(images, labels);
          const expected = losses2 ? losses2.total : o.loss_step2!;
          const got = losses2 ? out.terms!.total.item() : out.loss!.item();
          if (strict) scaled('loss_step2', [got], [expected], FP32.forward, `${method} loss (step 2)`);
          else within('loss_step2', Math.abs(got - expected) / Math.abs(expected), bounds!.loss);
          backwardAndStep(out.loss);
          step();
        });
        const after = goldenTensors(`${dir}/params_after_2_steps.safetensors`);
        let worstDelta = 0;
        for (const [key, p] of learner.params) {
          const actual = p.toFloat32();
          const expected = float32(after.get(key)!);
          const start = float32(params.get(key)!);
          if (strict) {
            const err = assertUpdate(actual, expected, start, 2, FP32.backward, `${method} ${key} after 2 steps`);
            measured.delta = Math.max(Number(measured.delta ?? 0), Number(err.toExponential(3)));
            continue;
          }
          if (p.dtype === 'float16') {
            // stored in half (fp16 recipe): the change's bound plus the half rounding of every store
            worstDelta = Math.max(worstDelta, assertHalfStored(actual, expected, start, bounds!.delta, 2, `${method} [${precision}] ${key} after 2 steps`));
            continue;
          }
          worstDelta = Math.max(worstDelta, relativeL2(change(actual, start), change(expected, start)));
        }
        if (!strict) within('delta', worstDelta, bounds!.delta);
        if (method === 'promptsrc' && strict) {
          const fixed = goldenTensors(`${dir}/logits.safetensors`).get('fixed_text_embeddings')!;
          tidy(() => {
            const expected = nn.l2normalize(tensor(fixed.data, fixed.shape, fixed.dtype)).toFloat32();
            assertScaled(learner.teacherTextFeatures()!.toFloat32(), expected, FP32.forward, 'PromptSRC frozen text teacher');
          });
          const gpa = o.gpa_weights as Record<string, number[]>;
          for (const [k, w] of Object.entries(gpa)) {
            const m = /epochs=(\d+),mean=(\d+),std=(\d+)/.exec(k)!;
            const got = gpaWeights(Number(m[1]), Number(m[2]), Number(m[3]));
            // float64 arithmetic on both sides: equal to the last bits
            got.forEach((v, i) => assert.ok(Math.abs(v - w[i]) <= 1e-12 * Math.abs(w[i]), `GPA weights ${k}[${i}]: ${v} vs ${w[i]}`));
          }
        }
        opt.disposeState();
        images.dispose();
        labels.dispose();
      } finally {
        learner.dispose();
        if (process.env.MPL_PARITY_REPORT) fs.appendFileSync(process.env.MPL_PARITY_REPORT, JSON.stringify(measured) + '\n');
      }
    });
  }
}

// bf16 on a CPU without native bf16: the tool refuses it (docs/precision.md), so that is what is checked here
if (testDevice === 'cpu' && !cpuHasNativeBf16() && !testPrecisions().includes('bf16')) {
  test(`bf16 [${where}]: refused on this CPU, naming the missing feature and the alternative`, () => {
    assert.throws(
      () => resolvePrecision('bf16', 'cpu'),
      (e: Error) => e instanceof UserError && /no AVX512-BF16 or AMX/.test(e.message) && /--precision fp32/.test(e.message),
    );
  });
}
