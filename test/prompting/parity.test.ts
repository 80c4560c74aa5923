/**
 * Parity of every method with the official PyTorch code on the golden tiny CLIP (../shared/golden/methods):
 * eval logits, training loss, the gradient of every parameter, the parameters after two SGD steps, the
 * vision sequence lengths and the trainable parameter count -- on the test device (MPL_TEST_DEVICE, the CPU
 * given explicitly by default) in every precision it supports (golden.ts: testPrecisions).
 *
 * fp32 is held to the reference vectors' recommended tolerances (elementwise). Reduced precisions are held to
 * stated bounds on the relative L2 error ‖a − e‖/‖e‖ against the same fp32 vectors (docs/precision.md lists
 * them with the errors measured); the change of each parameter over the two steps is compared (not the
 * parameter, which barely moves), and tensors the fp16 recipe stores in half are allowed four half-precision
 * ulps of the parameter per element, as the official recipe rounds every update to half.
 * Set MPL_PARITY_REPORT=FILE to append one JSON line of measured errors per method and precision.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GradScaler, SGD, nn, noGrad, tensor, tidy, type PrecisionName } from '../../src/torch/index.js';
import { PromptLearner } from '../../src/prompting/learner.js';
import { gpaWeights } from '../../src/prompting/methods/index.js';
import type { MethodName, MethodOptions } from '../../src/prompting/methods/index.js';
import { ClipTokenizer } from '../../src/clip/tokenizer.js';
import { goldenDir } from '../helpers.js';
import { assertClose, float32, goldenImages, goldenModel, goldenTensors, relativeL2, testDevice, testPrecisions } from './golden.js';

interface Outputs {
  classes: string[];
  labels: number[];
  loss?: number;
  loss_step2?: number;
  vision_lengths?: number[];
  trainable_parameters?: number;
  [k: string]: unknown;
}

function outputs(method: string): Outputs {
  const read = (m: string) => JSON.parse(fs.readFileSync(path.join(goldenDir, 'methods', m, 'outputs.json'), 'utf8')) as Outputs;
  const o = read(method);
  // zero-shot's file holds only its template; the classes and labels are the same for every method
  const shared = read('coop');
  return { ...o, classes: o.classes ?? shared.classes, labels: o.labels ?? shared.labels };
}

function optionsFor(method: MethodName, o: Outputs): MethodOptions {
  const n = (k: string) => o[k] as number | undefined;
  const s = (k: string) => o[k] as string | undefined;
  switch (method) {
    case 'zeroshot':
      return { template: s('template') };
    case 'coop':
      return { nCtx: n('n_ctx'), ctxInit: s('ctx_init'), csc: o.csc as boolean, classTokenPosition: s('class_token_position') as 'end' };
    case 'cocoop':
      return { nCtx: n('n_ctx'), ctxInit: s('ctx_init') };
    case 'vpt':
      return { nCtxVision: n('n_ctx_vision'), depthVision: n('depth'), template: s('text_template') };
    case 'ivlp':
    case 'promptsrc':
      return {
        nCtx: n('n_ctx_text'),
        nCtxVision: n('n_ctx_vision'),
        depthText: n('depth_text'),
        depthVision: n('depth_vision'),
        ctxInit: s('ctx_init'),
        textLossWeight: n('text_loss_weight'),
        imageLossWeight: n('image_loss_weight'),
      };
    case 'maple':
      return { nCtx: n('n_ctx'), depth: n('depth'), ctxInit: s('ctx_init') };
    case 'mpl':
      return { nCtx: n('n_ctx'), nAdd: n('n_add'), nRm: n('n_rm'), depth: n('depth'), ctxInit: s('ctx_init') };
    default:
      throw new Error(`${method}: its parity test is its own (test/prompting/zoo-parity.test.ts)`);
  }
}

/** Bounds on the relative L2 error against the fp32 reference, per reduced precision. */
interface Bounds {
  logits: number;
  loss: number;
  grad: number;
  delta: number;
}
const BOUNDS: Record<Exclude<PrecisionName, 'fp32'>, Bounds> = {
  bf16: { logits: 0.03, loss: 0.01, grad: 0.15, delta: 0.15 },
  fp16: { logits: 0.01, loss: 0.003, grad: 0.05, delta: 0.05 },
  amp: { logits: 0.01, loss: 0.003, grad: 0.05, delta: 0.05 },
};
/**
 * PromptSRC's L1 terms differentiate to sign(image features − teacher features): elements where the two
 * agree to within rounding flip sign under reduced precision, so its gradients get a wider bound.
 */
const PROMPTSRC_GRAD_BOUND: Record<Exclude<PrecisionName, 'fp32'>, number> = { bf16: 0.5, fp16: 0.3, amp: 0.3 };

/** fp32 elementwise tolerances [rtol, atol]: the golden README's on the CPU; GPU kernels reorder sums. */
const FP32 = testDevice === 'cpu'
  ? { logits: [1e-5, 1e-4], loss: [1e-5, 0], grad: [1e-4, 1e-6], after: [1e-4, 1e-6] }
  : { logits: [1e-4, 1e-4], loss: [1e-4, 1e-7], grad: [1e-3, 1e-5], after: [1e-4, 1e-6] };

/** Four half-precision ulps of |x| (float16 has a 10-bit mantissa), for parameters stored in half. */
function halfUlps(x: number): number {
  const a = Math.max(Math.abs(x), 6.1e-5);
  return 4 * 2 ** (Math.floor(Math.log2(a)) - 10);
}

const methods: MethodName[] = ['zeroshot', 'coop', 'cocoop', 'vpt', 'ivlp', 'maple', 'mpl', 'promptsrc'];

for (const precision of testPrecisions()) {
  for (const method of methods) {
    test(`${method} [${testDevice} ${precision}]: parity with the official implementation`, () => {
      const o = outputs(method);
      const model = goldenModel(precision, testDevice);
      const learner = new PromptLearner(model, ClipTokenizer.default(), method, o.classes, optionsFor(method, o));
      const dir = `methods/${method}`;
      const strict = precision === 'fp32';
      const bounds = strict ? null : { ...BOUNDS[precision], ...(method === 'promptsrc' ? { grad: PROMPTSRC_GRAD_BOUND[precision], delta: PROMPTSRC_GRAD_BOUND[precision] } : {}) };
      const measured: Record<string, number | string> = { method, precision, device: testDevice };
      const within = (what: string, err: number, bound: number) => {
        measured[what] = Number(err.toExponential(3));
        assert.ok(err <= bound, `${method} [${precision}] ${what}: relative L2 error ${err.toExponential(3)} exceeds ${bound}`);
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
          if (strict) assertClose(logits, expectedLogits, FP32.logits[0], FP32.logits[1], `${method} eval logits`);
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
              if (strict) assertClose([out.terms![k].item()], [v], FP32.loss[0], 1e-7, `${method} ${k} (step 1)`);
              else if (k === 'total' || k === 'ce') within(`loss_${k}`, Math.abs(out.terms![k].item() - v) / Math.abs(v), bounds!.loss);
            }
          } else if (strict) assertClose([out.loss!.item()], [o.loss!], FP32.loss[0], FP32.loss[1], `${method} loss`);
          else within('loss', Math.abs(out.loss!.item() - o.loss!) / Math.abs(o.loss!), bounds!.loss);
          backwardAndStep(out.loss);
          let worst = 0;
          for (const [key, p] of learner.params) {
            const g = grads.get(`${key}.grad`);
            assert.ok(g, `golden gradient for ${key}`);
            const actual = p.grad!.toFloat32();
            if (scaler) for (let i = 0; i < actual.length; i++) actual[i] /= scaler.scale;
            if (strict) assertClose(actual, float32(g), FP32.grad[0], FP32.grad[1], `${method} grad ${key}`);
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
          if (strict) assertClose([got], [expected], FP32.loss[0], FP32.loss[1], `${method} loss (step 2)`);
          else within('loss_step2', Math.abs(got - expected) / Math.abs(expected), bounds!.loss);
          backwardAndStep(out.loss);
          step();
        });
        const after = goldenTensors(`${dir}/params_after_2_steps.safetensors`);
        let worstDelta = 0;
        for (const [key, p] of learner.params) {
          const actual = p.toFloat32();
          const expected = float32(after.get(key)!);
          if (strict) {
            assertClose(actual, expected, FP32.after[0], FP32.after[1], `${method} ${key} after 2 steps`);
            continue;
          }
          const start = float32(params.get(key)!);
          if (p.dtype === 'float16') {
            // stored in half (fp16 recipe): every element within four ulps of half plus the delta bound
            for (let i = 0; i < actual.length; i++) {
              const err = Math.abs(actual[i] - expected[i]);
              const allowed = halfUlps(expected[i]) + bounds!.delta * Math.abs(expected[i] - start[i]);
              assert.ok(err <= allowed, `${method} [${precision}] ${key}[${i}] after 2 steps: ${actual[i]} vs ${expected[i]}`);
            }
            continue;
          }
          const dActual = actual.map((x, i) => x - start[i]);
          const dExpected = expected.map((x, i) => x - start[i]);
          worstDelta = Math.max(worstDelta, relativeL2(dActual, dExpected));
        }
        if (!strict) within('delta', worstDelta, bounds!.delta);
        if (method === 'promptsrc' && strict) {
          const fixed = goldenTensors(`${dir}/logits.safetensors`).get('fixed_text_embeddings')!;
          tidy(() => {
            const expected = nn.l2normalize(tensor(fixed.data, fixed.shape, fixed.dtype)).toFloat32();
            assertClose(learner.teacherTextFeatures()!.toFloat32(), expected, 1e-5, 1e-6, 'PromptSRC frozen text teacher');
          });
          const gpa = o.gpa_weights as Record<string, number[]>;
          for (const [k, w] of Object.entries(gpa)) {
            const m = /epochs=(\d+),mean=(\d+),std=(\d+)/.exec(k)!;
            assertClose(gpaWeights(Number(m[1]), Number(m[2]), Number(m[3])), w, 1e-12, 1e-300, `GPA weights ${k}`);
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
