/** CLI helpers to get a model or just its architecture from --arch / --weights / --model (any backbone family). */
import { knownArchitecture as findArchitecture, knownArchitectureNames, loadModel, readArchitecture, type LoadedModel } from '../backbones/index.js';
import type { BackboneArchitecture } from '../backbones/model.js';
import { resolveWeightsPath } from '../net/hub.js';
import { UserError } from '../util/errors.js';
import { terminalReporter } from './reporter.js';
import type { Compute } from './compute-options.js';

export function knownArchitecture(name: string): BackboneArchitecture {
  const arch = findArchitecture(name);
  if (!arch) throw new UserError(`unknown architecture '${name}' (known: ${knownArchitectureNames().join(', ')}; or a model name of mpl models)`);
  return arch;
}

export async function architectureOf(opts: { arch?: string; weights?: string; model?: string }): Promise<BackboneArchitecture> {
  if (opts.weights) return readArchitecture(resolveWeightsPath(opts.weights));
  const name = opts.arch ?? opts.model;
  if (!name) throw new UserError('give --arch NAME (e.g. ViT-B/16) or --weights FILE');
  return knownArchitecture(name);
}

export async function modelFrom(opts: { weights?: string; model?: string }, compute?: Compute): Promise<LoadedModel> {
  if (!opts.weights && !opts.model) throw new UserError('give --weights PATH or --model NAME (mpl models lists them)');
  return loadModel({ weights: opts.weights, model: opts.model, reporter: terminalReporter(), device: compute?.device, precision: compute?.precision });
}
