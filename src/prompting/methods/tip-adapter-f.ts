/**
 * Tip-Adapter-F: Tip-Adapter whose cache keys are fine-tuned as a linear layer (AdamW lr 0.001, eps 1e-4,
 * cosine per step, batch 256, 20 epochs; 100 on EuroSAT), the best epoch kept, then α and β searched on
 * validation. The official code picks the best epoch on the TEST images (its authors acknowledge it): here the
 * validation images by default, the official behaviour with --select-on-test-set (recorded in result.json and
 * shown in tables).
 */
import { defineMethod } from './method.js';
import { TIP_DEFAULTS, TIP_IMAGES, TIP_OPTIONS, tipDatasetDefaults, tipDesign, tipTagWords } from './tip.js';

export const tipAdapterF = defineMethod({
  name: 'tip-adapter-f',
  summary: 'Tip-Adapter-F: the Tip-Adapter cache with fine-tuned keys (AdamW); best epoch and α, β chosen on validation',
  display: { name: 'Tip-Adapter-F', colour: '#117733', column: 2.7 },
  options: [...TIP_OPTIONS, 'selectOnTestSet'],
  defaults: { ...TIP_DEFAULTS, selectOnTestSet: false },
  recipe: {
    lr: 0.001,
    epochs: 20,
    batchSize: 256,
    optimizer: { name: 'adamw', eps: 1e-4, betas: [0.9, 0.999], weightDecay: 0.01 },
    schedule: 'cosine-per-step',
    trainImages: TIP_IMAGES,
  },
  trainable: true,
  validation: 'full',
  datasetDefaults: (dataset) => tipDatasetDefaults(dataset, true),
  build: (o, arch) => ({ ...tipDesign('tip-adapter-f', o, arch, true), selectEpochOn: o.selectOnTestSet ? 'test' : 'validation' }),
  tagWords: (o) => [...tipTagWords(o), ...(o.selectOnTestSet ? ['test-selected'] : [])],
  rowMarks: (o) => (o.selectOnTestSet ? ['test-selected'] : []),
  dassl: { trainers: {} },
  export: { kind: 'tip-adapter-cache' },
  fromTensors: (t) => (t.has('adapter.weight') && t.has('cache_values') ? {} : null),
});
