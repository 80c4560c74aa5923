/**
 * ProGrad (Zhu, Niu, Han, Wu, Zhang, "Prompt-aligned Gradient for Prompt Tuning", ICCV 2023; official code
 * github.com/BeierZhu/Prompt-align, ProGrad.public/trainers/prograd.py and the step of its modified Dassl,
 * Dassl.ProGrad.pytorch/dassl/engine/trainer.py): CoOp trained on the cross-entropy, whose gradient is
 * projected off the gradient of the distillation loss from zero-shot CLIP where the two conflict:
 *   kl = T²·mean_i Σ_c −softmax(z_i/T)_c · log_softmax(s_i/T)_c   (z: zero-shot logits, s: the prompts' logits)
 *   g = ∇ce, h = ∇kl per parameter tensor; if cos(g, h) < 0: g ← g − λ(g·ĥ)ĥ   (two backward passes per step)
 * Zero-shot CLIP is the frozen model with ProGrad's own per-dataset template (PROGRAD_TEMPLATES, not CoOp's),
 * and the 16 context tokens start as that template's words, zeros in front ("X X ... a type of pet, a photo of").
 *
 * Released configs are RN50 only (configs/trainers/ProGrad/rn50*.yaml; base-to-new: rn50_ep100, 4 shots,
 * scripts/base2new_train_prograd.sh): N_CTX 16, CTX_INIT True, λ 1 (0.8 for 8/16 shots on Flowers, DTD,
 * EuroSAT), T 1, SGD lr 0.002, batch 32, 100 epochs (50 on ImageNet). Nothing in ProGrad depends on the image
 * encoder, so the ViT-B/16 settings here are those same values; the one choice is the number of shots, where
 * base-to-new keeps the 16 of every other method of the tables (docs/methods.md says why; `--shots 4` follows
 * the released script). Evaluation is CoOp's (the prompts' logits).
 * `--ctx-init` takes "{template}" (the default: the words of the dataset's template before its {}, as
 * CTX_INIT True), other words (zero-padded in front the same way), or "" (random N(0, 0.02), CTX_INIT False).
 */
import { defineMethod, type DatasetPrompt, type DesignParts } from './method.js';
import type { ResolvedOptions } from './options.js';
import type { ClipArchitecture } from '../../backbones/clip/model.js';
import { P, draft, finish, methodError, ownTemplate, placeholders } from './kit.js';
import { learnedContext } from './text-context.js';

/** ProGrad's CUSTOM_TEMPLATES (trainers/prograd.py), by Dassl DATASET.NAME: zero-shot CLIP's and the context's words. */
export const PROGRAD_TEMPLATES: Readonly<Record<string, string>> = {
  OxfordPets: 'a type of pet, a photo of a {}.',
  OxfordFlowers: 'a type of flower, a photo of a {}.',
  FGVCAircraft: 'a type of aircraft, a photo of a {}.',
  DescribableTextures: 'a texture of {}.',
  EuroSAT: 'a centered satellite photo of {}.',
  StanfordCars: 'a photo of a {}.',
  Food101: 'a type of food, a photo of {}.',
  SUN397: 'a photo of a {}.',
  Caltech101: 'a photo of a {}.',
  UCF101: 'a photo of a person doing {}.',
  ImageNet: 'a photo of a {}.',
  ImageNetSketch: 'a photo of a {}.',
  ImageNetV2: 'a photo of a {}.',
  ImageNetA: 'a photo of a {}.',
  ImageNetR: 'a photo of a {}.',
};

/** `--ctx-init` value that stands for the dataset's template words (the official CTX_INIT True). */
export const TEMPLATE_WORDS = '{template}';

/** The words before a template's {} (the official `.replace(" {}.", "")` on its table), else "a photo of a". */
function wordsOf(template: string): string {
  const i = template.indexOf('{}');
  const words = (i < 0 ? template : template.slice(0, i)).trim();
  return words || 'a photo of a';
}

/** CoOp's context of nCtx tokens, the context words' embeddings last and zeros before them (official PromptLearner). */
function paddedContext(o: ResolvedOptions, arch: ClipArchitecture, dataset?: DatasetPrompt): DesignParts {
  if (o.ctxInit === '') return learnedContext('prograd', { ...o, ctxInit: '' }, arch, { csc: false, position: 'end' });
  const words = o.ctxInit === TEMPLATE_WORDS ? wordsOf(ownTemplate(PROGRAD_TEMPLATES, dataset)) : o.ctxInit.replace(/_/g, ' ').trim();
  const k = words.split(/\s+/).length;
  if (o.nCtx < k) throw methodError('prograd', `--n-ctx ${o.nCtx} is fewer than the ${k} words of the context "${words}": give --n-ctx ${k} or more`);
  const d = draft({ kind: 'learned', nCtx: o.nCtx, promptPrefix: `${placeholders(o.nCtx - k)} ${words}`.trim(), ctxFromWords: true, csc: false, position: 'end' });
  d.params.push({ key: `${P}ctx`, shape: [o.nCtx, arch.text.width], init: { kind: 'words', zeros: o.nCtx - k } });
  return finish('prograd', d);
}

export const prograd = defineMethod({
  name: 'prograd',
  summary: "ProGrad: CoOp whose gradient is projected off zero-shot CLIP's distillation gradient where they conflict",
  display: { name: 'ProGrad', colour: '#332288', column: 2.3 },
  options: ['nCtx', 'ctxInit', 'lambda', 'temperature'],
  defaults: { nCtx: 16, ctxInit: TEMPLATE_WORDS, lambda: 1, temperature: 1 },
  recipe: { lr: 0.002, epochs: 100, batchSize: 32 },
  trainable: true,
  build: (o, arch, dataset) => ({
    ...paddedContext(o, arch, dataset),
    teacher: { templates: [ownTemplate(PROGRAD_TEMPLATES, dataset)] },
    lossTerms: ({ logits, scale, teacher }) => {
      const t = o.temperature;
      // zero-shot CLIP's logits: the frozen image features (no vision prompts here) against its template's text
      const zs = teacher!.image().matmul(teacher!.text.T).mul(scale);
      return { kl: zs.div(t).softmax(1).mul(logits.div(t).logSoftmax(1)).sum(1).mean().mul(-t * t) };
    },
    gradientProjection: { guide: 'kl', lambda: o.lambda },
  }),
  tagWords: (o) => [`c${o.nCtx}`, ...(o.ctxInit === TEMPLATE_WORDS ? [] : [o.ctxInit ? 'words' : 'rand']), `lam${o.lambda}`, `t${o.temperature}`],
  dassl: { trainers: { PROGRAD: {} }, modelName: 'prompt_learner', bareKeys: true, section: 'COOP' },
  // an official checkpoint holds CoOp's tensors alone (the context): it cannot be told from CoOp's
  fromTensors: () => null,
});
