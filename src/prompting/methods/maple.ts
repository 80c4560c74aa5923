/** MaPLe (Khattak et al., CVPR 2023): deep text prompts, each layer's vision prompts a linear map of its text prompts. */
import { defineMethod } from './method.js';
import { P, placeholders, shapesOf } from './kit.js';
import { coupledPrompts, linearMap } from './coupled.js';

export const maple = defineMethod({
  name: 'maple',
  summary: "MaPLe: deep text prompts, each layer's vision prompts a linear map of them",
  display: { name: 'MaPLe', colour: '#009E73', column: 5 },
  options: ['nCtx', 'depth', 'ctxInit'],
  defaults: { nCtx: 2, depth: 9, ctxInit: 'a photo of a' },
  recipe: { lr: 0.0035, epochs: 5, batchSize: 4 },
  trainable: true,
  build: (o, arch) => {
    const fromWords = Boolean(o.ctxInit) && o.nCtx <= 4;
    const text = { promptPrefix: fromWords ? o.ctxInit : placeholders(o.nCtx), fromWords };
    return coupledPrompts('maple', o, arch, text, (d, D, c) => {
      for (let k = 0; k < D - 1; k++) {
        const map = `${P}compound_prompt_projections.${k}`;
        // _get_clones(single_layer, depth-1): every map starts as a copy of the first
        const [w, b] = linearMap(arch, map, k ? `${P}compound_prompt_projections.0` : undefined);
        d.params.push(w, b);
        d.visionSteps.push({
          layer: k + 1,
          remove: c,
          add: [{ count: c, source: { kind: 'linear', input: `${P}compound_prompts_text.${k}`, weight: w.key, bias: b.key }, label: `m${k + 1}` }],
        });
      }
    });
  },
  tagWords: (o) => [`c${o.nCtx}`, `d${o.depth}`],
  dassl: { trainers: { MAPLE: {} }, modelName: 'MultiModalPromptLearner' },
  fromTensors: (t) => {
    const s = shapesOf(t);
    if (!s.has(`${P}compound_prompt_projections.`)) return null;
    return { nCtx: s.nCtx, depth: s.count(/^prompt_learner\.compound_prompts_text\.(\d+)$/) + 1 };
  },
});
