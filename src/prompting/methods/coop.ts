/** CoOp (Zhou et al., IJCV 2022): a learnable text context, shared or class-specific, before, around or after the class name. */
import { defineMethod } from './method.js';
import { shapesOf } from './kit.js';
import { learnedContext } from './text-context.js';

export const coop = defineMethod({
  name: 'coop',
  summary: 'CoOp: a learnable text context before, around or after the class name',
  display: { name: 'CoOp', colour: '#0072B2', column: 1 },
  options: ['nCtx', 'ctxInit', 'csc', 'classTokenPosition'],
  // CoCoOp's base-to-new comparison runs CoOp with vit_b16_ctxv1: 4 tokens from "a photo of a"
  defaults: { nCtx: 4, ctxInit: 'a photo of a', csc: false, classTokenPosition: 'end' },
  recipe: { lr: 0.002, epochs: 200, batchSize: 32 },
  trainable: true,
  build: (o, arch) => learnedContext('coop', o, arch, { csc: o.csc, position: o.classTokenPosition }),
  tagWords: (o) => [`c${o.nCtx}`, ...(o.csc ? ['csc'] : []), ...(o.classTokenPosition !== 'end' ? [o.classTokenPosition] : [])],
  dassl: { trainers: { COOP: {} }, modelName: 'prompt_learner', bareKeys: true },
  fromTensors: (t) => {
    const s = shapesOf(t);
    const others = ['prompt_learner.txt2img_proj.', 'prompt_learner.compound_prompt_projections.', 'prompt_learner.meta_net.'];
    if (!s.ctx || s.vpt || others.some((p) => s.has(p))) return null;
    return { nCtx: s.nCtx, csc: s.ctx.shape.length === 3, ...s.words };
  },
});
