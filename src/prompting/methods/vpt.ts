/** VPT-deep (Jia et al., ECCV 2022) on CLIP's vision encoder, with a fixed hand-crafted text prompt. */
import { DEFAULT_TEMPLATE } from '../templates.js';
import { defineMethod } from './method.js';
import { deepPromptShapes, deepVisionPrompts } from './deep-prompts.js';

export const vpt = defineMethod({
  name: 'vpt',
  summary: 'VPT-deep: learnable vision prompts at every prompted layer, a fixed text template',
  aliases: ['vptdeep'],
  display: { name: 'VPT', colour: '#7F3C8D', column: 3 },
  // no `depth`: the default depthVision always stood in its place (it never applied; run identities keep it so)
  options: ['nCtxVision', 'depthVision', 'template'],
  defaults: { nCtxVision: 8, depthVision: 12 },
  recipe: { lr: 0.0025, epochs: 5, batchSize: 4 },
  trainable: true,
  // the text side is the fixed "a photo of a {}." unless a template is given (not the dataset's)
  build: (o, arch) => deepVisionPrompts('vpt', o, arch, { kind: 'fixed', templates: () => [o.template ?? DEFAULT_TEMPLATE] }),
  tagWords: (o) => [`v${o.nCtxVision}`, `dv${o.depthVision}`],
  dassl: { trainers: { VPT: {} }, modelName: 'prompt_learner' },
  fromTensors: (t) => deepPromptShapes(t, false),
});
