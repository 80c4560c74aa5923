/**
 * An official Dassl checkpoint (`model.pth.tar-N` of the official MPL, MaPLe, CoOp, ... code) as a package
 * (`mpl import`): its tensors, read without executing pickle code; the method and options read off their shapes
 * (or given); the classes given (the checkpoint does not hold their names); and the backbone it is meant for,
 * loaded so that every tensor is checked against the model's shapes before anything is written.
 */
import * as path from 'node:path';
import { tokenizerFor } from '../backbones/index.js';
import { loadPrompts } from '../prompting/checkpoint.js';
import { PromptLearner } from '../prompting/learner.js';
import { inferMethod, type MethodName, type MethodOptions } from '../prompting/methods/index.js';
import { UserError } from '../util/errors.js';
import { backboneOf, type LoadedBackbone } from './backbone.js';
import { packageConfig, writePackage, type PackageConfig } from './package.js';

export interface ImportOptions {
  /** the backbone the checkpoint was trained on (its sha256 goes into the package) */
  model: LoadedBackbone;
  classnames: string[];
  /** the method, when the tensors' shapes fit several (options given here win over what the shapes say) */
  method?: MethodName;
  options?: MethodOptions;
  /** the dataset it was trained on, when known (the card names it) */
  dataset?: string;
  license?: string;
  force?: boolean;
}

export async function importDasslCheckpoint(file: string, out: string, o: ImportOptions): Promise<PackageConfig> {
  const prompts = loadPrompts(file);
  const inferred = inferMethod(prompts.tensors);
  const method = o.method ?? inferred.method;
  if (!method) {
    const which = inferred.candidates.length ? `the tensors fit ${inferred.candidates.join(' and ')}: say which with --method` : 'no method has these tensors: say which method wrote them with --method';
    throw new UserError(`${file}: ${which}`);
  }
  const options = { ...(method === inferred.method ? inferred.options : {}), ...o.options };
  // every tensor checked against the model's shapes (a checkpoint for another CLIP fails here, naming the tensor)
  const learner = new PromptLearner(o.model.model, tokenizerFor(o.model.model), method, o.classnames, { ...options, ...(o.dataset ? { dataset: o.dataset } : {}) });
  try {
    learner.loadStateDict(prompts.tensors, file);
    // the checkpoint's own tensors (fp16 as the official GPU recipe saves them), not the learner's copies in the
    // model's precision: loadStateDict found every one of them with its shape
    const tensors = new Map([...learner.params.keys()].map((k) => [k, prompts.tensors.get(k)!]));
    const config = packageConfig({
      method,
      options: learner.design.options as unknown as MethodOptions,
      classnames: o.classnames,
      // the official GPU recipe trains in fp16 and saves half tensors (ctx, the projections)
      precision: [...prompts.tensors.values()].some((t) => t.dtype === 'float16') ? 'fp16' : 'fp32',
      dataset: o.dataset ?? null,
      backbone: await backboneOf(o.model),
      trainableParameters: learner.trainableParameters,
      training: null,
      accuracy: null,
      source: `official Dassl checkpoint ${path.basename(file)}${prompts.epoch !== undefined ? ` (epoch ${prompts.epoch})` : ''}`,
      license: o.license,
    });
    writePackage(out, config, tensors, { force: o.force });
    return config;
  } finally {
    learner.dispose();
  }
}
