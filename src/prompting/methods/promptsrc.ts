/**
 * PromptSRC (Khattak et al., ICCV 2023): IVLP's prompts, regulated by the frozen CLIP -- L1 consistency of
 * the text and image features with the frozen model's, KL consistency of the logits -- and Gaussian prompt
 * aggregation (GPA): the prompts after training are a Gaussian-weighted average of every epoch's prompts.
 */
import { nn } from '../../torch/index.js';
import { defineMethod } from './method.js';
import { deepPromptShapes, deepPrompts } from './deep-prompts.js';

/** The 60 templates of PromptSRC's frozen text teacher (a subset of CLIP's 80 ImageNet templates). */
export const PROMPTSRC_TEMPLATES = [
  'a photo of a {}.', 'a bad photo of a {}.', 'a photo of many {}.', 'a sculpture of a {}.',
  'a photo of the hard to see {}.', 'a low resolution photo of the {}.', 'a rendering of a {}.', 'graffiti of a {}.',
  'a bad photo of the {}.', 'a cropped photo of the {}.', 'a tattoo of a {}.', 'the embroidered {}.',
  'a photo of a hard to see {}.', 'a bright photo of a {}.', 'a photo of a clean {}.', 'a photo of a dirty {}.',
  'a dark photo of the {}.', 'a drawing of a {}.', 'a photo of my {}.', 'the plastic {}.',
  'a photo of the cool {}.', 'a close-up photo of a {}.', 'a black and white photo of the {}.', 'a painting of the {}.',
  'a painting of a {}.', 'a pixelated photo of the {}.', 'a sculpture of the {}.', 'a bright photo of the {}.',
  'a cropped photo of a {}.', 'a plastic {}.', 'a photo of the dirty {}.', 'a jpeg corrupted photo of a {}.',
  'a blurry photo of the {}.', 'a photo of the {}.', 'a good photo of the {}.', 'a rendering of the {}.',
  'a {} in a video game.', 'a photo of one {}.', 'a doodle of a {}.', 'a close-up photo of the {}.',
  'the origami {}.', 'the {} in a video game.', 'a sketch of a {}.', 'a doodle of the {}.',
  'a origami {}.', 'a low resolution photo of a {}.', 'the toy {}.', 'a rendition of the {}.',
  'a photo of the clean {}.', 'a photo of a large {}.', 'a rendition of a {}.', 'a photo of a nice {}.',
  'a photo of a weird {}.', 'a blurry photo of a {}.', 'a cartoon {}.', 'art of a {}.',
  'a sketch of the {}.', 'a embroidered {}.', 'a pixelated photo of a {}.', 'itap of the {}.',
];

/** Gaussian prompt-aggregation weights of PromptSRC: N(e; mean, std) for e = 1..epochs, normalised to sum 1. */
export function gpaWeights(epochs: number, mean: number, std: number): number[] {
  const g = (x: number) => (1 / (std * Math.sqrt(2 * Math.PI))) * Math.exp(-0.5 * ((x - mean) / std) ** 2);
  const w = Array.from({ length: epochs }, (_, i) => g(i + 1));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / s);
}

export const promptsrc = defineMethod({
  name: 'promptsrc',
  summary: 'PromptSRC: IVLP regulated by the frozen CLIP, with Gaussian prompt aggregation',
  display: { name: 'PromptSRC', colour: '#E69F00', column: 6 },
  // no `depth`: the default depthText / depthVision always stood in its place (it never applied; run identities keep it so)
  options: ['nCtx', 'nCtxVision', 'depthText', 'depthVision', 'ctxInit', 'textLossWeight', 'imageLossWeight', 'gpaMean', 'gpaStd'],
  defaults: { nCtx: 4, nCtxVision: 4, depthText: 9, depthVision: 9, ctxInit: 'a photo of a', textLossWeight: 25, imageLossWeight: 10, gpaMean: 15, gpaStd: 1 },
  recipe: { lr: 0.0025, epochs: 20, batchSize: 4 },
  trainable: true,
  build: (o, arch) => ({
    ...deepPrompts('promptsrc', o, arch),
    // the frozen teacher: CLIP without prompts; its class text = mean of the un-normalised features over the 60 templates
    teacher: { templates: PROMPTSRC_TEMPLATES },
    lossTerms: ({ imageFeatures, textFeatures, logits, scale, teacher }) => {
      const zsImage = teacher!.image();
      const zsLogits = zsImage.matmul(teacher!.text.T).mul(scale);
      // summed in this order after the cross-entropy, as the official trainer does
      return {
        scl_logits: nn.klDiv(logits.logSoftmax(1), zsLogits.logSoftmax(1), 'sum', true).div(logits.numel),
        scl_text: nn.l1Loss(textFeatures, teacher!.text).mul(o.textLossWeight),
        scl_image: nn.l1Loss(imageFeatures, zsImage).mul(o.imageLossWeight),
      };
    },
    epochWeights: (epochs) => gpaWeights(epochs, o.gpaMean, o.gpaStd),
  }),
  tagWords: (o) => [`c${o.nCtx}`, `v${o.nCtxVision}`, `dt${o.depthText}`, `dv${o.depthVision}`],
  dassl: { trainers: { PROMPTSRC: {} }, modelName: 'VLPromptLearner' },
  fromTensors: (t) => deepPromptShapes(t, true),
});
