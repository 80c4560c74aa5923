/** Tip-Adapter (training-free): zero-shot CLIP plus a key-value cache of the few-shot images; α and β searched on validation. */
import { defineMethod } from './method.js';
import { TIP_DEFAULTS, TIP_IMAGES, TIP_OPTIONS, tipDatasetDefaults, tipDesign, tipTagWords } from './tip.js';

export const tipAdapter = defineMethod({
  name: 'tip-adapter',
  summary: 'Tip-Adapter: zero-shot CLIP plus a training-free cache of the few-shot features (α, β searched on validation)',
  display: { name: 'Tip-Adapter', colour: '#44AA99', column: 2.6 },
  options: TIP_OPTIONS,
  defaults: { ...TIP_DEFAULTS },
  // nothing is trained by epochs: the cache is built (10 augmented passes, batch 256) and α, β searched
  recipe: { lr: 0, epochs: 0, batchSize: 256, trainImages: TIP_IMAGES },
  trainable: true,
  validation: 'full',
  datasetDefaults: (dataset) => tipDatasetDefaults(dataset, false),
  build: (o, arch) => tipDesign('tip-adapter', o, arch, false),
  tagWords: tipTagWords,
  dassl: { trainers: {} },
  export: { kind: 'tip-adapter-cache' },
  fromTensors: (t) => (t.has('cache_keys') && t.has('cache_values') && !t.has('adapter.weight') ? {} : null),
});
