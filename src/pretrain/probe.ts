/**
 * The zero-shot probe of pretraining: classify the shape of held-back synthetic images (their own
 * stream, never trained on, held-out shape–colour combinations included) with the prompts
 * "a photo of a {shape}." — overall, on combinations pretraining saw, and on held-out ones.
 */
import type { ClipModel } from '../backbones/clip/model.js';
import { ClipTokenizer } from '../backbones/clip/tokenizer.js';
import { tokenIds } from '../prompting/learner.js';
import { sceneBatch, shapeLabels } from '../synth/batch.js';
import { SHAPE_NAMES } from '../synth/shapes.js';
import type { WorldOptions } from '../synth/world.js';
import { noGrad, tensor, tidy } from '../torch/index.js';

export interface ProbeResult {
  /** top-1 shape accuracy in percent: all images, seen combinations, held-out combinations */
  accuracy: number;
  seen: number;
  heldOut: number;
  images: number;
}

export interface ProbeSet {
  images: Float32Array;
  labels: number[];
  heldOut: boolean[];
  size: number;
}

/** `n` validation images (stream "validation", held-out combinations included) at `size` pixels. */
export function probeSet(seed: number, n: number, size: number, world: WorldOptions = {}): ProbeSet {
  const b = sceneBatch(seed, 'validation', 0, n, size, { ...world, heldOut: true });
  return { images: b.images, ...shapeLabels(b.scenes), size };
}

export function zeroShotProbe(model: ClipModel, set: ProbeSet, template = 'a photo of a {}.'): ProbeResult {
  const n = set.labels.length;
  const px = 3 * set.size * set.size;
  const preds: number[] = [];
  noGrad(() => {
    const text = tidy(() => {
      const { ids, eot } = tokenIds(ClipTokenizer.default(), SHAPE_NAMES.map((s) => template.replace('{}', s)));
      return model.encodeText(ids, eot);
    }).keep();
    try {
      for (let i = 0; i < n; i += 100) {
        const m = Math.min(100, n - i);
        const p = tidy(() => {
          const images = tensor(set.images.subarray(i * px, (i + m) * px), [m, 3, set.size, set.size]);
          return model.logits(model.encodeImage(images), text).argmax(1).toArray();
        });
        preds.push(...p);
      }
    } finally {
      text.dispose();
    }
  });
  const acc = (keep: (i: number) => boolean): number => {
    let hit = 0;
    let total = 0;
    preds.forEach((p, i) => {
      if (!keep(i)) return;
      total++;
      if (p === set.labels[i]) hit++;
    });
    return total ? (100 * hit) / total : 0;
  };
  return { accuracy: acc(() => true), seen: acc((i) => !set.heldOut[i]), heldOut: acc((i) => set.heldOut[i]), images: n };
}
