/**
 * CLIP's initialisation for training from scratch, as openai/CLIP's model.py does it:
 *  - text tower: `CLIP.initialize_parameters` (token embedding N(0, 0.02), positional N(0, 0.01), per block
 *    attention in-proj N(0, W^-½), out-proj and c_proj N(0, W^-½·(2L)^-½), c_fc N(0, (2W)^-½),
 *    text_projection N(0, W^-½));
 *  - image tower: `VisionTransformer.__init__` (class and positional embeddings, proj: W^-½·N(0, 1)) and
 *    PyTorch's module defaults for the rest (conv1, Linear: kaiming-uniform, i.e. U(±1/√fan_in), biases of
 *    Linear layers U(±1/√fan_in); MultiheadAttention: xavier-uniform in-proj, zero in/out-proj biases);
 *  - layer norms: ones and zeros; text blocks' Linear biases keep PyTorch's defaults too.
 * Seeded, in place on the model's weights.
 */
import type { ClipModel } from '../backbones/clip/model.js';
import { Generator, noGrad, type Tensor } from '../torch/index.js';

type Init = { normal: number } | { uniform: number } | { constant: number };

function initFor(name: string, t: Tensor, model: ClipModel): Init {
  const { vision, text } = model.arch;
  const isVision = name.startsWith('visual.');
  const W = isVision ? vision.width : text.width;
  const block = /resblocks\.\d+\.(.+)$/.exec(name)?.[1];
  if (/(^|\.)ln_|ln_final/.test(name)) return { constant: name.endsWith('weight') ? 1 : 0 };
  if (name === 'token_embedding.weight') return { normal: 0.02 };
  if (name === 'positional_embedding') return { normal: 0.01 };
  if (name === 'text_projection') return { normal: W ** -0.5 };
  if (name === 'visual.class_embedding' || name === 'visual.positional_embedding' || name === 'visual.proj') return { normal: W ** -0.5 };
  if (name === 'visual.conv1.weight') return { uniform: 1 / Math.sqrt(t.shape[1] * t.shape[2] * t.shape[3]) };
  if (block === 'attn.in_proj_bias' || block === 'attn.out_proj.bias') return { constant: 0 };
  if (block === 'attn.in_proj_weight' && isVision) return { uniform: Math.sqrt(6 / (W + 3 * W)) }; // xavier: fan_in W, fan_out 3W
  const fanIn = t.shape[t.shape.length - 1];
  if (!isVision && block) {
    const projStd = W ** -0.5 * (2 * text.layers) ** -0.5;
    if (block === 'attn.in_proj_weight') return { normal: W ** -0.5 };
    if (block === 'attn.out_proj.weight' || block === 'mlp.c_proj.weight') return { normal: projStd };
    if (block === 'mlp.c_fc.weight') return { normal: (2 * W) ** -0.5 };
  }
  if (block?.startsWith('mlp.') && block.endsWith('.bias')) {
    // a Linear's bias: U(±1/√fan_in) of its weight (c_fc: W inputs, c_proj: 4W)
    return { uniform: 1 / Math.sqrt(block === 'mlp.c_fc.bias' ? W : 4 * W) };
  }
  if (block) return { uniform: 1 / Math.sqrt(fanIn) }; // vision Linear weights (kaiming-uniform, a = √5)
  throw new Error(`no initialisation rule for ${name}`);
}

/** Initialises every weight of `model` (built with `trainable: true` or not) in place; seeded. */
export function initClipWeights(model: ClipModel, seed: number): void {
  const g = new Generator(seed);
  noGrad(() => {
    for (const [name, t] of model.namedWeights()) {
      const rule = initFor(name, t, model);
      if ('normal' in rule) t.normal_(0, rule.normal, g);
      else if ('uniform' in rule) t.uniform_(-rule.uniform, rule.uniform, g);
      else t.fill_(rule.constant);
    }
  });
}
