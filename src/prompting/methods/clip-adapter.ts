/**
 * CLIP-Adapter (Gao et al., IJCV 2024; github gaopengcuhk/CLIP-Adapter, clip_adapter.py, a Dassl TrainerX): a
 * bias-free bottleneck MLP (Linear-ReLU-Linear-ReLU, reduction 4) on CLIP's image features, blended with them
 * as 0.2·adapter(f) + 0.8·f before normalisation; the text is the dataset's hand-crafted prompt (CoOp's
 * CUSTOM_TEMPLATES), frozen. Only the adapter is trained, with the cross-entropy.
 *
 * Decisions (no configs were released; the adapter width 1024 is hard-coded for RN50): the adapter's width is
 * the model's embedding width (512 for ViT-B/16: hidden 128); the optimiser is the one the README says to run
 * it with, CoOp's command and config (ViT-B/16: configs/trainers/CoOp/vit_b16.yaml, SGD lr 0.002, batch 32,
 * 200 epochs, one constant warm-up epoch at 1e-5, cosine). docs/methods.md says more.
 */
import { defineMethod } from './method.js';
import { methodError } from './kit.js';
import { DEFAULT_TEMPLATE } from '../templates.js';

/** The keys of the two linear layers: CustomCLIP's `adapter.fc.0` and `adapter.fc.2` (Dassl saves them without `adapter.`). */
export const ADAPTER_KEYS = ['adapter.fc.0.weight', 'adapter.fc.2.weight'] as const;

export const clipAdapter = defineMethod({
  name: 'clip-adapter',
  summary: 'CLIP-Adapter: a residual bottleneck MLP on the image features; the hand-crafted text stays fixed',
  display: { name: 'CLIP-Adapter', colour: '#882255', column: 2.5 },
  options: ['adapterRatio', 'adapterReduction', 'template'],
  defaults: { adapterRatio: 0.2, adapterReduction: 4 },
  recipe: { lr: 0.002, epochs: 200, batchSize: 32 },
  trainable: true,
  build: (o, arch) => {
    const E = arch.embed_dim;
    if (!(o.adapterRatio > 0 && o.adapterRatio <= 1)) throw methodError('clip-adapter', `--adapter-ratio must be in (0, 1], got ${o.adapterRatio}`);
    if (!Number.isInteger(o.adapterReduction) || o.adapterReduction < 1 || o.adapterReduction > E) {
      throw methodError('clip-adapter', `--adapter-reduction must be an integer from 1 to the embedding width ${E}, got ${o.adapterReduction}`);
    }
    const hidden = Math.floor(E / o.adapterReduction); // nn.Linear(c_in, c_in // reduction)
    return {
      plan: { method: 'clip-adapter', vision: { shallow: [], steps: [] }, text: { ctxTokens: 0, steps: [] } },
      params: [
        { key: ADAPTER_KEYS[0], shape: [hidden, E], init: { kind: 'linear-weight', fanIn: E } },
        { key: ADAPTER_KEYS[1], shape: [E, hidden], init: { kind: 'linear-weight', fanIn: hidden } },
      ],
      // TextEncoder: CUSTOM_TEMPLATES[DATASET.NAME], one template, frozen
      text: { kind: 'fixed', templates: (dataset) => [o.template ?? dataset?.template ?? DEFAULT_TEMPLATE] },
      imageAdapter: { ratio: o.adapterRatio, weights: ADAPTER_KEYS },
    };
  },
  tagWords: (o) => [`a${o.adapterRatio}`, `r${o.adapterReduction}`],
  // register_model('clip_adapter', self.model.adapter, ...): the state dict is the adapter's (fc.0.weight, fc.2.weight)
  dassl: { trainers: { CLIP_ADAPTER: {} }, modelName: 'clip_adapter', modulePrefix: 'adapter.' },
  fromTensors: (t) => {
    const keys = [...t.keys()];
    const w1 = t.get(ADAPTER_KEYS[0]) ?? t.get('fc.0.weight');
    const w2 = t.get(ADAPTER_KEYS[1]) ?? t.get('fc.2.weight');
    if (!w1 || !w2 || keys.length !== 2 || w1.shape.length !== 2) return null;
    return { adapterReduction: Math.round(w1.shape[1] / w1.shape[0]) };
  },
});
