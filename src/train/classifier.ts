/**
 * Class probabilities for preprocessed images (what `mpl predict` prints and `mpl serve` answers): the class
 * text features are computed once for the learner's classes, then every batch costs one image-encoder pass
 * (CoCoOp, whose text depends on each image, and the linear probe, which has no class text, run forward per batch).
 */
import { traitsOf } from '../backbones/index.js';
import type { PromptLearner } from '../prompting/learner.js';
import { noGrad, tensor, tidy, type Tensor } from '../torch/index.js';

export class Classifier {
  private text: Tensor | null;

  constructor(readonly learner: PromptLearner) {
    this.text = learner.perBatchForward ? null : noGrad(() => learner.textFeatures()).keep();
  }

  get classnames(): string[] {
    return this.learner.classnames;
  }

  /** Class probabilities (CLIP: a softmax over the classes; SigLIP: a sigmoid per class, as transformers' zero-shot pipeline), one Float32Array per image ([3, S, S] pixels each, S the model's size). */
  probabilities(pixels: Float32Array[]): Float32Array[] {
    const size = this.learner.model.imageSize;
    const C = this.learner.classnames.length;
    const sigmoid = traitsOf(this.learner.model.arch).probabilities === 'sigmoid';
    const flat = noGrad(() =>
      tidy(() => {
        const batch = new Float32Array(pixels.length * 3 * size * size);
        pixels.forEach((p, i) => batch.set(p, i * p.length));
        const x = tensor(batch, [pixels.length, 3, size, size], 'float32', this.learner.model.device);
        const logits = this.text ? this.learner.logitsWithText(x, this.text) : this.learner.forward(x).logits;
        return (sigmoid ? logits.sigmoid() : logits.softmax(-1)).toFloat32();
      }),
    );
    return pixels.map((_, i) => flat.subarray(i * C, (i + 1) * C));
  }

  /** Frees the cached text features (the learner and the model stay the caller's). */
  dispose(): void {
    this.text?.dispose();
    this.text = null;
  }
}
