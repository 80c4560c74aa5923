/**
 * Parity of every method with the official PyTorch code on the golden tiny CLIP (../shared/golden/methods):
 * eval logits, training loss, the gradient of every parameter, the parameters after two SGD steps, the
 * vision sequence lengths and the trainable parameter count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SGD, nn, noGrad, tensor, tidy } from '../../src/torch/index.js';
import { PromptLearner, gpaWeights } from '../../src/prompting/learner.js';
import type { MethodName, MethodOptions } from '../../src/prompting/methods.js';
import { ClipTokenizer } from '../../src/clip/tokenizer.js';
import { goldenDir } from '../helpers.js';
import { assertClose, float32, goldenImages, goldenModel, goldenTensors } from './golden.js';

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
  }
}

const methods: MethodName[] = ['zeroshot', 'coop', 'cocoop', 'vpt', 'ivlp', 'maple', 'mpl', 'promptsrc'];

for (const method of methods) {
  test(`${method}: parity with the official implementation`, () => {
    const o = outputs(method);
    const model = goldenModel();
    const learner = new PromptLearner(model, ClipTokenizer.default(), method, o.classes, optionsFor(method, o));
    const dir = `methods/${method}`;
    try {
      if (method !== 'zeroshot') {
        const params = goldenTensors(`${dir}/params.safetensors`);
        assert.deepEqual([...learner.params.keys()].sort(), [...params.keys()].sort(), 'parameter names');
        learner.loadStateDict(params);
        if (o.trainable_parameters !== undefined) assert.equal(learner.trainableParameters, o.trainable_parameters);
      }
      const images = goldenImages().keep();
      const labels = tensor(o.labels, [o.labels.length], 'int64').keep();
      // evaluation-mode logits
      const expectedLogits = float32(goldenTensors(`${dir}/logits.safetensors`).get('logits_eval')!);
      tidy(() => {
        const logits = noGrad(() => learner.forward(images).logits);
        assertClose(logits.toFloat32(), expectedLogits, 1e-5, 1e-4, `${method} eval logits`);
      });
      if (o.vision_lengths) assert.deepEqual(learner.lastVisionLengths, o.vision_lengths, 'vision sequence lengths');
      if (method === 'zeroshot') return;

      // training loss, gradients, two SGD steps
      const lr = (o.sgd_lr as number | undefined) ?? 0.0035;
      const opt = new SGD(learner.parameters(), { lr, momentum: 0.9, weightDecay: 5e-4 });
      const grads = goldenTensors(`${dir}/grads.safetensors`);
      const losses = o.losses_step1 as Record<string, number> | undefined;
      tidy(() => {
        opt.zeroGrad();
        const out = learner.forward(images, labels);
        if (losses) {
          for (const [k, v] of Object.entries(losses)) assertClose([out.terms![k].item()], [v], 1e-5, 1e-7, `${method} ${k} (step 1)`);
        } else {
          assertClose([out.loss!.item()], [o.loss!], 1e-5, 0, `${method} loss`);
        }
        out.loss!.backward();
        for (const [key, p] of learner.params) {
          const g = grads.get(`${key}.grad`);
          assert.ok(g, `golden gradient for ${key}`);
          assertClose(p.grad!.toFloat32(), float32(g), 1e-4, 1e-6, `${method} grad ${key}`);
        }
        opt.step();
      });
      const losses2 = o.losses_step2 as Record<string, number> | undefined;
      tidy(() => {
        opt.zeroGrad();
        const out = learner.forward(images, labels);
        if (losses2) assertClose([out.terms!.total.item()], [losses2.total], 1e-5, 0, `${method} total loss (step 2)`);
        else assertClose([out.loss!.item()], [o.loss_step2!], 1e-5, 0, `${method} loss (step 2)`);
        out.loss!.backward();
        opt.step();
      });
      const after = goldenTensors(`${dir}/params_after_2_steps.safetensors`);
      for (const [key, p] of learner.params) {
        assertClose(p.toFloat32(), float32(after.get(key)!), 1e-4, 1e-6, `${method} ${key} after 2 steps`);
      }
      if (method === 'promptsrc') {
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
    }
  });
}
