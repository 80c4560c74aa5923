/** CLI helpers to get a model or just its architecture from --arch / --weights / --model. */
import { knownArchitectures, type ClipConfig } from '../backbones/clip/config.js';
import { loadClip, type LoadedClip } from '../backbones/clip/load.js';
import { readClipConfig } from '../backbones/clip/weights.js';
import { resolveWeightsPath } from '../net/hub.js';
import { UserError } from '../util/errors.js';
import { terminalReporter } from './reporter.js';
import type { Compute } from './compute-options.js';

export function knownArchitecture(name: string): ClipConfig {
  const arch = knownArchitectures[name] ?? knownArchitectures[name.replace(/-(\d)/, '/$1')];
  if (!arch) throw new UserError(`unknown architecture '${name}' (known: ${Object.keys(knownArchitectures).join(', ')})`);
  return arch;
}

export async function architectureOf(opts: { arch?: string; weights?: string; model?: string }): Promise<ClipConfig> {
  if (opts.weights) return readClipConfig(resolveWeightsPath(opts.weights));
  const name = opts.arch ?? opts.model;
  if (!name) throw new UserError('give --arch NAME (e.g. ViT-B/16) or --weights FILE');
  return knownArchitecture(name);
}

export async function modelFrom(opts: { weights?: string; model?: string }, compute?: Compute): Promise<LoadedClip> {
  if (!opts.weights && !opts.model) throw new UserError('give --weights FILE or --model ViT-B/16');
  return loadClip({ weights: opts.weights, model: opts.model, reporter: terminalReporter(), device: compute?.device, precision: compute?.precision });
}
