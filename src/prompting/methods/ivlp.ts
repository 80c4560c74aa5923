/** IVLP (independent vision-language prompting, as in MaPLe's and PromptSRC's comparisons): deep prompts on both encoders. */
import { defineMethod } from './method.js';
import { deepPromptShapes, deepPrompts } from './deep-prompts.js';

export const ivlp = defineMethod({
  name: 'ivlp',
  summary: 'IVLP: independent deep prompts on both encoders',
  aliases: ['independentvl'],
  display: { name: 'IVLP', colour: '#CC79A7', column: 4 },
  // no `depth`: the default depthText / depthVision always stood in its place (it never applied; run identities keep it so)
  options: ['nCtx', 'nCtxVision', 'depthText', 'depthVision', 'ctxInit'],
  defaults: { nCtx: 2, nCtxVision: 2, depthText: 12, depthVision: 12, ctxInit: 'a photo of a' },
  recipe: { lr: 0.0035, epochs: 5, batchSize: 4 },
  trainable: true,
  build: (o, arch) => deepPrompts('ivlp', o, arch),
  tagWords: (o) => [`c${o.nCtx}`, `v${o.nCtxVision}`, `dt${o.depthText}`, `dv${o.depthVision}`],
  dassl: { trainers: { IVLP: {} }, modelName: 'VLPromptLearner' },
  fromTensors: (t) => deepPromptShapes(t, true),
});
