/**
 * The float32 bound of test/tolerance.ts holds for the right reason. It must pass whatever rounding another
 * kernel does -- here every weight of the golden tiny CLIP moved by one ulp, a perturbation of the same size as a
 * different summation order -- and still catch a real bug in either tower: a weight matrix 0.1% too large, or
 * the sign of one weight flipped. Each case prints its measured error beside the bound.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ClipModel } from '../../../src/backbones/clip/model.js';
import { loadClipWeights } from '../../../src/backbones/clip/weights.js';
import type { RawTensor } from '../../../src/io/tensor.js';
import { cpuClass, nn, noGrad, tensor, tidy, torchVersion } from '../../../src/torch/index.js';
import { goldenDir } from '../../helpers.js';
import { float32, goldenImages, goldenTensors } from '../../prompting/golden.js';
import { FP32, assertScaled, scaledError } from '../../tolerance.js';

const golden = goldenTensors('clip_forward.safetensors');
const weights = loadClipWeights(path.join(goldenDir, 'tiny_clip.safetensors'));
const OUTPUTS = ['image_features_normalized', 'text_features_normalized', 'logits_per_image'] as const;
type Outputs = Record<(typeof OUTPUTS)[number], Float32Array>;

function forward(tensors: Map<string, RawTensor>): Outputs {
  const model = ClipModel.fromTensors(weights.config, tensors);
  try {
    return noGrad(() =>
      tidy(() => {
        const img = model.encodeImage(goldenImages());
        const ids = golden.get('input_ids')!;
        const idt = tensor(ids.data, ids.shape, 'int64');
        const txt = model.encodeText(idt, idt.argmax(-1).toArray());
        return {
          image_features_normalized: nn.l2normalize(img).toFloat32(),
          text_features_normalized: nn.l2normalize(txt).toFloat32(),
          logits_per_image: model.logits(img, txt).toFloat32(),
        };
      }),
    );
  } finally {
    model.dispose();
  }
}

/** The weights with `edit` applied to a float32 copy of each tensor it names (all when `only` is omitted). */
function edited(edit: (name: string, values: Float32Array) => void, only?: string): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  for (const [name, t] of weights.tensors) {
    if (t.dtype !== 'float32' || (only && name !== only)) {
      out.set(name, t);
      continue;
    }
    const data = new Uint8Array(t.data); // a copy
    edit(name, new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4));
    out.set(name, { ...t, data });
  }
  return out;
}

/** The worst error of each output against the official forward, as a ratio to the tensor's largest element. */
function errors(o: Outputs): Record<string, number> {
  return Object.fromEntries(OUTPUTS.map((k) => [k, scaledError(o[k], float32(golden.get(k)!))]));
}
const show = (e: Record<string, number>) => OUTPUTS.map((k) => `${k} ${e[k].toExponential(2)}`).join(', ');

test(`every weight moved by one ulp: the official forward still holds within ${FP32.forward} of each tensor's largest element`, (t) => {
  let seed = 12345;
  const nudged = edited((_, v) => {
    const bits = new Int32Array(v.buffer, v.byteOffset, v.length);
    for (let i = 0; i < bits.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      if (v[i] !== 0) bits[i] += seed & 0x10000 ? 1 : -1; // the next float32 toward or away from zero
    }
  });
  const exact = forward(weights.tensors);
  const moved = forward(nudged);
  for (const k of OUTPUTS) assert.ok(moved[k].some((x, i) => x !== exact[k][i]), `${k}: the one-ulp model computes something else`);
  for (const k of OUTPUTS) assertScaled(moved[k], float32(golden.get(k)!), FP32.forward, `one-ulp model: ${k}`);
  t.diagnostic(`libtorch ${torchVersion()}, cpu class ${cpuClass()}: exact weights ${show(errors(exact))}; one ulp off ${show(errors(moved))} (bound ${FP32.forward})`);
});

const scaleBy = (f: number) => (_: string, v: Float32Array) => v.forEach((x, i) => (v[i] = x * f));
const flipLargest = (_: string, v: Float32Array) => {
  let at = 0;
  v.forEach((x, i) => (at = Math.abs(x) > Math.abs(v[at]) ? i : at));
  v[at] = -v[at];
};
for (const [what, name, edit, output] of [
  ['one image-tower matrix 0.1% too large', 'visual.transformer.resblocks.1.mlp.c_fc.weight', scaleBy(1.001), 'image_features_normalized'],
  ['one text-tower matrix 0.1% too large', 'transformer.resblocks.2.attn.in_proj_weight', scaleBy(1.001), 'text_features_normalized'],
  ['the largest weight of an image-tower matrix with its sign flipped', 'visual.transformer.resblocks.3.attn.out_proj.weight', flipLargest, 'image_features_normalized'],
  ['the largest weight of a text-tower matrix with its sign flipped', 'transformer.resblocks.0.mlp.c_proj.weight', flipLargest, 'text_features_normalized'],
] as const) {
  test(`${what} fails the bound (${name})`, (t) => {
    const o = forward(edited(edit, name));
    const e = errors(o);
    t.diagnostic(`${what}: ${show(e)} (bound ${FP32.forward})`);
    assert.throws(() => assertScaled(o[output], float32(golden.get(output)!), FP32.forward, output), /over the bound/);
    assert.ok(e.logits_per_image > FP32.forward, 'the logits see it too');
  });
}
