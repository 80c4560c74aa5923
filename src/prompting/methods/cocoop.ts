/** CoCoOp (Zhou et al., CVPR 2022): CoOp's context shifted per image by a meta-net of the image features. */
import { defineMethod } from './method.js';
import { P, shapesOf } from './kit.js';
import { learnedContext } from './text-context.js';

export const cocoop = defineMethod({
  name: 'cocoop',
  summary: "CoCoOp: CoOp's context shifted for each image by a meta-net of its features",
  display: { name: 'CoCoOp', colour: '#56B4E9', column: 2 },
  options: ['nCtx', 'ctxInit'],
  defaults: { nCtx: 4, ctxInit: 'a photo of a' },
  recipe: { lr: 0.002, epochs: 10, batchSize: 1 },
  trainable: true,
  build: (o, arch) => {
    const parts = learnedContext('cocoop', o, arch, { csc: false, position: 'end' });
    const [e, dt] = [arch.embed_dim, arch.text.width];
    const hidden = Math.floor(e / 16);
    parts.params.push(
      { key: `${P}meta_net.linear1.weight`, shape: [hidden, e], init: { kind: 'linear-weight', fanIn: e } },
      { key: `${P}meta_net.linear1.bias`, shape: [hidden], init: { kind: 'linear-bias', fanIn: e } },
      { key: `${P}meta_net.linear2.weight`, shape: [dt, hidden], init: { kind: 'linear-weight', fanIn: hidden } },
      { key: `${P}meta_net.linear2.bias`, shape: [dt], init: { kind: 'linear-bias', fanIn: hidden } },
    );
    return { ...parts, metaNet: { inDim: e, hidden, outDim: dt } };
  },
  tagWords: (o) => [`c${o.nCtx}`],
  dassl: { trainers: { COCOOP: {} }, modelName: 'prompt_learner', bareKeys: true },
  fromTensors: (t) => {
    const s = shapesOf(t);
    // meta_net.linear2: KgCoOp's official checkpoints hold an unused one-layer meta_net
    return s.has(`${P}meta_net.linear2.`) ? { nCtx: s.nCtx, ...s.words } : null;
  },
});
