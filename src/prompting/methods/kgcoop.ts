/**
 * KgCoOp (Yao, Zhang, Xu, "Visual-Language Prompt Tuning with Knowledge-guided Context Optimization", CVPR 2023;
 * official code github.com/htyao89/KgCoOp, trainers/kgcoop.py): CoOp's learnable context, plus
 * W·(1 − mean over classes of cos(learned class text feature, hand-crafted class text feature)), which keeps
 * the learned prompts' text features near those of the hand-crafted prompt "a photo of a {}, a type of ..."
 * (its own per-dataset table, KGCOOP_TEMPLATES, not CoOp's) computed once by the frozen CLIP.
 *
 * Official recipe (configs/trainers/KgCoOp/vit_b16_ep100_ctxv1.yaml, scripts/base2new_train.sh): 4 context
 * tokens initialised from "a photo of a" (CTX_INIT True always means these words in the official code), W 8,
 * SGD lr 0.002, batch 128, 100 epochs, ViT-B/16; few-shot runs use batch 32. As the official trainer, only
 * the context trains; evaluation is CoOp's (the logits alone).
 * Decisions (docs/methods.md): `--ctx-init WORDS` uses the words given (the official code ignores them and
 * always takes "a photo of a"); `--ctx-init ""` is the official CTX_INIT False (random N(0, 0.02) context of
 * --n-ctx tokens). The hand-crafted features come from the model in its own precision (the official trainer
 * computes them with a separate fp16 copy of CLIP, also under PREC fp32).
 */
import type { Tensor } from '../../torch/index.js';
import { defineMethod } from './method.js';
import { P, ownTemplate, shapesOf } from './kit.js';
import { learnedContext } from './text-context.js';

/** KgCoOp's CUSTOM_TEMPLATES (trainers/kgcoop.py), by Dassl DATASET.NAME: the hand-crafted prompts it stays near. */
export const KGCOOP_TEMPLATES: Readonly<Record<string, string>> = {
  OxfordPets: 'a photo of a {}, a type of pet.',
  OxfordFlowers: 'a photo of a {}, a type of flower.',
  FGVCAircraft: 'a photo of a {}, a type of aircraft.',
  DescribableTextures: 'a photo of a {}, a type of texture.',
  EuroSAT: 'a centered satellite photo of {}.',
  StanfordCars: 'a photo of a {}.',
  Food101: 'a photo of {}, a type of food.',
  SUN397: 'a photo of a {}.',
  Caltech101: 'a photo of a {}.',
  UCF101: 'a photo of a person doing {}.',
  ImageNet: 'a photo of a {}.',
  ImageNetSketch: 'a photo of a {}.',
  ImageNetV2: 'a photo of a {}.',
  ImageNetA: 'a photo of a {}.',
  ImageNetR: 'a photo of a {}.',
};

/** torch.nn.CosineSimilarity(dim=1, eps) of two [N, E] tensors: Σ a·b / √max(Σa²·Σb², eps²). */
function cosineRows(a: Tensor, b: Tensor, eps: number): Tensor {
  return a.mul(b).sum(1).div(a.mul(a).sum(1).mul(b.mul(b).sum(1)).clamp(eps * eps).sqrt());
}

export const kgcoop = defineMethod({
  name: 'kgcoop',
  summary: "KgCoOp: CoOp's context kept near the hand-crafted prompts' text features (W·(1 − cos))",
  display: { name: 'KgCoOp', colour: '#44AA99', column: 2.6 },
  options: ['nCtx', 'ctxInit', 'kgWeight'],
  defaults: { nCtx: 4, ctxInit: 'a photo of a', kgWeight: 8 },
  recipe: { lr: 0.002, epochs: 100, batchSize: 128 },
  trainable: true,
  build: (o, arch, dataset) => ({
    ...learnedContext('kgcoop', o, arch, { csc: false, position: 'end' }),
    // the hand-crafted prompt of the dataset, its features normalised (one template: the mean is itself)
    teacher: { templates: [ownTemplate(KGCOOP_TEMPLATES, dataset)] },
    lossTerms: ({ textFeatures, teacher }) => ({
      kg: cosineRows(textFeatures, teacher!.text, 1e-7).mean().rsub(1).mul(o.kgWeight),
    }),
  }),
  tagWords: (o) => [`c${o.nCtx}`, `w${o.kgWeight}`],
  dassl: { trainers: { KGCOOP: {} }, modelName: 'prompt_learner', bareKeys: true, section: 'COOP' },
  // an official checkpoint also holds the unused `bias_vectors` and `meta_net.linear1` (KgCoOp's alone)
  fromTensors: (t) => {
    const s = shapesOf(t);
    return s.ctx && s.ctx.shape.length === 2 && t.has(`${P}bias_vectors`) ? { nCtx: s.nCtx, ...s.words } : null;
  },
});
