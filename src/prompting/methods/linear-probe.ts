/**
 * The linear probe of CLIP as CoOp's lpclip (linear_probe.py; also in the official MPL repository): sklearn's
 * LogisticRegression(solver="lbfgs", penalty="l2", max_iter=1000) on the un-normalised image features
 * (clip_model.visual, evaluation transform), C chosen on few-shot validation features: the accuracy at each of
 * 1e6, 1e4, ..., 1e-6, then 8 steps of a binary search in log10(C) around the best; the classifier of the last
 * step is tested. The samples are lpclip's, not Dassl's: numpy-seeded, K training and min(K, 4) validation
 * images per class drawn from the full splits (src/data/nprandom.ts). lpclip reports 10 runs (seeds 1-10).
 * The problem is convex: the fit is solved to its optimum (src/train/logistic.ts), as sklearn approximates it.
 */
import { defineMethod } from './method.js';
import { methodError } from './kit.js';

/** lpclip's search_list. */
export const LPCLIP_C_GRID = [1e6, 1e4, 1e2, 1, 1e-2, 1e-4, 1e-6] as const;

export const linearProbe = defineMethod({
  name: 'linear-probe',
  summary: "linear probe (lpclip): logistic regression on the image features, C searched on validation; no text",
  aliases: ['lpclip', 'linearprobe'],
  display: { name: 'Linear probe', colour: '#BBBBBB', column: 0.5 },
  options: ['cSearchSteps'],
  defaults: { cSearchSteps: 8 },
  // fitted, not trained by epochs; the batch size is the feature extraction's
  recipe: { lr: 0, epochs: 0, batchSize: 100, trainImages: 'evaluation' },
  trainable: true,
  sampler: 'lpclip',
  validation: 'few-shot',
  classifiesUnseenClasses: false,
  build: (o, arch) => {
    if (!Number.isInteger(o.cSearchSteps) || o.cSearchSteps < 0) throw methodError('linear-probe', `--c-search-steps must be a non-negative integer, got ${o.cSearchSteps}`);
    return {
      plan: { method: 'linear-probe', vision: { shallow: [], steps: [] }, text: { ctxTokens: 0, steps: [] } },
      // sklearn's coef_ [C, E] and intercept_ [C]; lbfgs starts from zeros
      params: [
        { key: 'coef', shape: [-1, arch.embed_dim], init: { kind: 'zeros' } },
        { key: 'intercept', shape: [-1], init: { kind: 'zeros' } },
      ],
      text: { kind: 'none' },
      linearProbe: { grid: LPCLIP_C_GRID, steps: o.cSearchSteps, maxIter: 1000, weights: 'coef', bias: 'intercept' },
    };
  },
  tagWords: (o) => [`steps${o.cSearchSteps}`],
  dassl: { trainers: {} },
  export: { kind: 'none', why: 'lpclip keeps its fitted sklearn classifier in memory and saves none; prompts.safetensors holds it as coef [C, E] and intercept [C] (sklearn\'s coef_ and intercept_)' },
  fromTensors: (t) => (t.has('coef') && t.has('intercept') && t.size === 2 ? {} : null),
});
