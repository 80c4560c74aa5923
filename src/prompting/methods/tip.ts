/**
 * The Tip-Adapter family (Zhang et al., ECCV 2022; github gaopengcuhk/Tip-Adapter, main.py and utils.py, not
 * Dassl): zero-shot CLIP beside a key-value cache of the few-shot images. Keys: each training image's
 * features averaged over 10 augmented passes (random resized crop 0.5-1, flip), then normalised; values: the
 * one-hot labels. For a normalised test feature f: logits = 100·f·textᵀ + α·exp(−β(1 − f·keysᵀ))·values.
 * α and β are searched on the validation images after fitting (search_hp). Tip-Adapter is training-free;
 * Tip-Adapter-F (tip-adapter-f.ts) makes the keys a trainable linear layer.
 *
 * The text is clip_classifier over the dataset's templates: CoOp's one template per dataset, the 7-template
 * ensemble for ImageNet (each template's features normalised, averaged, normalised: ZeroshotCLIP2's rule).
 * The per-dataset settings of the official configs/*.yaml (search_scale, init_alpha; train_epoch for -F) are
 * each dataset's defaults (`datasetDefaults`).
 */
import type { ClipArchitecture } from '../../backbones/clip/model.js';
import { DEFAULT_TEMPLATE } from '../templates.js';
import type { DesignParts, Recipe } from './method.js';
import type { MethodOptions, OptionKey, ResolvedOptions } from './options.js';
import { methodError } from './kit.js';
import { IMAGENET_TEMPLATES_SELECT } from './zeroshot.js';

/** The options both methods take. */
export const TIP_OPTIONS = ['tipAlpha', 'tipBeta', 'alphaSearchMax', 'betaSearchMax', 'alphaSearchSteps', 'betaSearchSteps', 'cachePasses'] as const satisfies readonly OptionKey[];

/** configs/<dataset>.yaml defaults for datasets the official code has no config of (its ImageNet one). */
export const TIP_DEFAULTS = { tipAlpha: 1.17, tipBeta: 1, alphaSearchMax: 3, betaSearchMax: 7, alphaSearchSteps: 20, betaSearchSteps: 200, cachePasses: 10 } as const;

/** configs/<dataset>.yaml of the official repository: search_scale [β, α], init_alpha, and train_epoch where it is not 20. */
const TIP_CONFIGS: Record<string, { betaSearchMax: number; alphaSearchMax: number; tipAlpha: number; epochs?: number }> = {
  caltech101: { betaSearchMax: 12, alphaSearchMax: 5, tipAlpha: 3 },
  dtd: { betaSearchMax: 13, alphaSearchMax: 13, tipAlpha: 2 },
  eurosat: { betaSearchMax: 12, alphaSearchMax: 10, tipAlpha: 2, epochs: 100 },
  fgvc_aircraft: { betaSearchMax: 30, alphaSearchMax: 30, tipAlpha: 5 },
  food101: { betaSearchMax: 10, alphaSearchMax: 10, tipAlpha: 1.17 },
  imagenet: { betaSearchMax: 7, alphaSearchMax: 3, tipAlpha: 1.17 },
  oxford_flowers: { betaSearchMax: 50, alphaSearchMax: 50, tipAlpha: 10 },
  oxford_pets: { betaSearchMax: 7, alphaSearchMax: 3, tipAlpha: 1.17 },
  stanford_cars: { betaSearchMax: 20, alphaSearchMax: 10, tipAlpha: 3 },
  sun397: { betaSearchMax: 12, alphaSearchMax: 10, tipAlpha: 1.17 },
  ucf101: { betaSearchMax: 7, alphaSearchMax: 3, tipAlpha: 3 },
};

/** A dataset's official Tip-Adapter settings (nothing for a dataset without a config: the method's defaults). */
export function tipDatasetDefaults(dataset: string, withEpochs: boolean): { options: MethodOptions; epochs?: number } {
  const c = TIP_CONFIGS[dataset];
  if (!c) return { options: {} };
  return { options: { tipAlpha: c.tipAlpha, alphaSearchMax: c.alphaSearchMax, betaSearchMax: c.betaSearchMax }, ...(withEpochs && c.epochs ? { epochs: c.epochs } : {}) };
}

/** The training images of both: torchvision's RandomResizedCrop(scale=(0.5, 1), bicubic) and a flip; no batch dropped. */
export const TIP_IMAGES: Recipe['trainImages'] = { cropScale: [0.5, 1], dropLast: false };

/** The design of both; `trainableKeys`: Tip-Adapter-F's adapter weight. */
export function tipDesign(method: string, o: ResolvedOptions, arch: ClipArchitecture, trainable: boolean): DesignParts {
  for (const [k, flag] of [['tipAlpha', '--tip-alpha'], ['tipBeta', '--tip-beta'], ['alphaSearchMax', '--alpha-search-max'], ['betaSearchMax', '--beta-search-max']] as const) {
    if (!(o[k] > 0)) throw methodError(method, `${flag} must be positive, got ${o[k]}`);
  }
  for (const [k, flag] of [['alphaSearchSteps', '--alpha-search-steps'], ['betaSearchSteps', '--beta-search-steps'], ['cachePasses', '--cache-passes']] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw methodError(method, `${flag} must be a positive integer, got ${o[k]}`);
  }
  return {
    plan: { method, vision: { shallow: [], steps: [] }, text: { ctxTokens: 0, steps: [] } },
    // nn.Linear(E, N, bias=False) whose weight is set to the cache keys [N, E]: its size is the cache's
    params: trainable ? [{ key: 'adapter.weight', shape: [-2, arch.embed_dim], init: { kind: 'cache-keys' } }] : [],
    text: {
      kind: 'fixed',
      // clip_classifier(classnames, dataset.template): ImageNet's 7 templates, another dataset's own one
      templates: (dataset) => (dataset?.ensembleAddsTemplate === false ? [...IMAGENET_TEMPLATES_SELECT] : [dataset?.template ?? DEFAULT_TEMPLATE]),
    },
    featureCache: {
      passes: o.cachePasses,
      ...(trainable ? { trainableKeys: 'adapter.weight' } : {}),
      alpha: o.tipAlpha,
      beta: o.tipBeta,
      search: { betaMax: o.betaSearchMax, betaSteps: o.betaSearchSteps, alphaMax: o.alphaSearchMax, alphaSteps: o.alphaSearchSteps },
    },
    logitScale: 100, // clip_logits = 100. * features @ clip_weights
  };
}

export function tipTagWords(o: ResolvedOptions): string[] {
  return [`a${o.tipAlpha}`, `b${o.tipBeta}`, `s${o.betaSearchMax}x${o.alphaSearchMax}`, ...(o.cachePasses !== TIP_DEFAULTS.cachePasses ? [`aug${o.cachePasses}`] : [])];
}
