/**
 * One call from a package to a ready classifier, open_clip style:
 *
 *   const clip = await loadClip('ViT-B/16');
 *   const learner = await loadPromptPackage('eurosat-mpl/', { model: clip });
 *   const probs = learner.forward(images).logits.softmax(-1);
 *
 * A package trained on another backbone (architecture, or the same architecture with other weights) is refused
 * with a one-line error naming both.
 */
import { tokenizerFor } from '../backbones/index.js';
import { PromptLearner } from '../prompting/learner.js';
import { UserError } from '../util/errors.js';
import { checkBackbone, type LoadedBackbone } from './backbone.js';
import { loadPromptsSource } from './package.js';

export interface LoadPackageOptions {
  /** the backbone, as loadClip returns it (the model, its name and the weights file it was read from) */
  model: LoadedBackbone;
  /** other class names than the package's (methods whose context is shared across classes) */
  classnames?: string[];
}

/** The package's prompts on `model`, ready to classify (dispose() the learner when done). */
export async function loadPromptPackage(dir: string, options: LoadPackageOptions): Promise<PromptLearner> {
  const source = loadPromptsSource(dir);
  await checkBackbone(source.requirement, options.model, dir);
  const c = source.config;
  if (!c) throw new UserError(`${dir}: does not say which method and classes the prompts are for; give a prompt package (mpl export RUN --package DIR, mpl import)`);
  const learner = new PromptLearner(options.model.model, tokenizerFor(options.model.model), c.method, options.classnames ?? c.classnames, { ...c.options, ...(c.dataset ? { dataset: c.dataset } : {}) });
  try {
    learner.loadSaved(source, dir);
  } catch (e) {
    learner.dispose();
    throw e;
  }
  return learner;
}
