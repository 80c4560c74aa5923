/** Zero-shot CLIP (CoOp's ZeroshotCLIP / ZeroshotCLIP2): hand-crafted templates, nothing learned. */
import { DEFAULT_TEMPLATE } from '../templates.js';
import { defineMethod } from './method.js';

/** ZeroshotCLIP2's ensemble: these 7, plus the dataset's own template except for ImageNet. */
export const IMAGENET_TEMPLATES_SELECT = [
  'itap of a {}.',
  'a bad photo of the {}.',
  'a origami {}.',
  'a photo of the large {}.',
  'a {} in a video game.',
  'art of the {}.',
  'a photo of the small {}.',
];

export const zeroshot = defineMethod({
  name: 'zeroshot',
  summary: "zero-shot CLIP: hand-crafted templates, nothing learned (--ensemble: ZeroshotCLIP2's 7 templates)",
  aliases: ['zsclip', 'clip', 'zeroshotclip'],
  display: { name: 'CLIP', colour: '#999999', column: 0 },
  options: ['template', 'ensemble'],
  defaults: { ensemble: false },
  recipe: { lr: 0, epochs: 0, batchSize: 100 },
  trainable: false,
  build: (o) => ({
    plan: { method: 'zeroshot', vision: { shallow: [], steps: [] }, text: { ctxTokens: 0, steps: [] } },
    params: [],
    text: {
      kind: 'fixed',
      templates: (dataset) => {
        const own = o.template ?? dataset?.template ?? DEFAULT_TEMPLATE;
        if (!o.ensemble) return [own];
        return dataset?.ensembleAddsTemplate === false ? [...IMAGENET_TEMPLATES_SELECT] : [...IMAGENET_TEMPLATES_SELECT, own];
      },
    },
  }),
  tagWords: (o) => [o.ensemble ? 'ensemble' : 'single'],
  dassl: { trainers: { ZSCLIP: {}, ZEROSHOTCLIP: {}, ZEROSHOTCLIP2: { ensemble: true } } },
  fromTensors: () => null,
});
