/**
 * The backbone-family registry: every family, registered once. A family is one folder (src/backbones/<name>/)
 * whose family.ts says how its files are recognised, read and loaded, its traits (class token, start token,
 * causal text, sigmoid or softmax probabilities) and its known architectures. Everything above asks the registry;
 * adding a family = its folder + one line in FAMILIES (+ its catalogue entries in catalogue.ts).
 */
import * as path from 'node:path';
import { findClipModel } from '../net/hub.js';
import { readSafetensorsHeader } from '../io/safetensors.js';
import { fileError, UserError } from '../util/errors.js';
import type { BackboneFamily } from './family.js';
import type { Preprocess } from './clip/preprocess.js';
import type { BackboneArchitecture, BackboneModel, BackboneNeed, BackboneTraits, FamilyName, TextTokenizer } from './model.js';
import { clipFamily } from './clip/family.js';
import { ClipTokenizer } from './clip/tokenizer.js';
import { siglipFamily } from './siglip/family.js';
import type { LoadClipOptions } from './clip/load.js';
import { catalogueWeights, MODEL_CATALOGUE, type CatalogueEntry } from './catalogue.js';

/** Every family, most specific first: the first that recognises a file loads it (CLIP is the fallback). */
const FAMILIES: readonly BackboneFamily[] = [siglipFamily, clipFamily];

export function families(): readonly BackboneFamily[] {
  return FAMILIES;
}

/** The family of an architecture (absent `family` = CLIP). */
export function familyOf(arch: BackboneArchitecture): BackboneFamily {
  const name = arch.family ?? 'clip';
  const f = FAMILIES.find((x) => x.name === name);
  if (!f) throw new Error(`no backbone family ${name}`);
  return f;
}

export function traitsOf(arch: BackboneArchitecture): BackboneTraits {
  return familyOf(arch).traits;
}

const NEED_TEXT: Record<BackboneNeed, string> = {
  classToken: 'a vision class token',
  textStartToken: 'a text start token',
  causalText: 'a causal text encoder',
};

/** Why a method that needs these traits cannot run on this architecture's family, or null when it can. */
export function unmetNeed(needs: readonly BackboneNeed[] | undefined, arch: BackboneArchitecture): string | null {
  const f = familyOf(arch);
  const missing = (needs ?? []).filter((n) => !f.traits[n]);
  return missing.length ? `needs ${missing.map((n) => NEED_TEXT[n]).join(' and ')}, which ${f.name} models do not have` : null;
}

/**
 * The family whose files these are: asked in registry order. A safetensors file with SigLIP's tensors but no
 * SigLIP config.json beside it is refused here (it would otherwise be misread as a broken CLIP).
 */
export function detectFamily(file: string): BackboneFamily {
  for (const f of FAMILIES) if (f !== clipFamily && f.recognises(file)) return f;
  if (file.endsWith('.safetensors')) {
    let names: string[] = [];
    try {
      names = readSafetensorsHeader(file).entries.map((e) => e.name);
    } catch {
      names = [];
    }
    if (names.includes('vision_model.head.probe')) {
      throw fileError(file, `holds SigLIP weights but ${path.join(path.dirname(file), 'config.json')} is missing or not a SigLIP config: pass the whole model folder (config.json, model.safetensors, spiece.model, tokenizer_config.json, preprocessor_config.json) with --weights DIR`);
    }
  }
  return clipFamily;
}

/** The catalogue entry of a model name (its name, an alias or its repository, any case). */
export function catalogueEntry(name: string): CatalogueEntry {
  return findClipModel(name, MODEL_CATALOGUE) as CatalogueEntry;
}

export { MODEL_CATALOGUE, type CatalogueEntry } from './catalogue.js';

/**
 * The tokenizer of a loaded model: the one its family's load attached (SigLIP: its folder's spiece.model), or
 * CLIP's BPE for a CLIP.
 */
export function tokenizerFor(model: BackboneModel): TextTokenizer {
  const own = (model as { tokenizer?: TextTokenizer }).tokenizer;
  if (own) return own;
  if (familyOf(model.arch).name === 'clip') return ClipTokenizer.default();
  throw new UserError(`this ${familyOf(model.arch).name} model has no tokenizer attached: load it with loadModel() (its folder's tokenizer files)`);
}

/** An architecture known by name: a catalogue model, or a family's architecture name (ViT-B/16, siglip-base-patch16-224). */
export function knownArchitecture(name: string): BackboneArchitecture | undefined {
  for (const f of FAMILIES) {
    const a = f.knownArchitectures[name] ?? f.knownArchitectures[name.replace(/-(\d)/, '/$1')];
    if (a) return a;
  }
  const key = name.trim().toLowerCase();
  return MODEL_CATALOGUE.find((m) => m.name.toLowerCase() === key || m.aliases.includes(key))?.arch;
}

/** Every architecture name known, for messages. */
export function knownArchitectureNames(): string[] {
  return FAMILIES.flatMap((f) => Object.keys(f.knownArchitectures));
}

/** The architecture of a weights file or folder (family detected from what it holds). */
export function readArchitecture(file: string): BackboneArchitecture {
  return detectFamily(file).readArchitecture(file);
}

/** Parameters of an architecture (every tensor), by its family's rule. */
export function architectureParameters(arch: BackboneArchitecture): number {
  return familyOf(arch).parameterCount(arch);
}

/**
 * loadClip's options, for a model of any family: `model` is a name of the catalogue (`mpl models`), fetched from the
 * Hugging Face hub into the cache; `weights` a local weights file or model folder (wins over `model`).
 */
export type LoadModelOptions = LoadClipOptions;

export interface LoadedModel {
  model: BackboneModel;
  tokenizer: TextTokenizer;
  /** the evaluation transform at the model's input size */
  preprocess: Preprocess;
  family: FamilyName;
  /** the model name, or the weights file's (or folder's) base name */
  backbone: string;
  file: string;
}

/** One call from a name or a file/folder to a ready model of any family. */
export async function loadModel(spec: string | LoadModelOptions): Promise<LoadedModel> {
  const o: LoadModelOptions = typeof spec === 'string' ? { model: spec } : spec;
  const { file, cached } = await catalogueWeights(
    o,
    'give a model name (--model ViT-B/16; mpl models lists them) or a weights file or folder (--weights PATH)',
    '--weights PATH',
  );
  const family = detectFamily(file);
  let loaded: ReturnType<BackboneFamily['load']>;
  try {
    loaded = family.load(file, { precision: o.precision, dtype: o.dtype, device: o.device });
  } catch (e) {
    if (e instanceof UserError) throw new UserError(e.message + cached);
    throw new UserError(`${file}: ${(e as Error).message}${cached}`);
  }
  if (!o.weights && o.model) {
    try {
      checkCatalogueArchitecture(o.model, loaded.model.arch, file);
    } catch (e) {
      loaded.model.dispose();
      throw e;
    }
  }
  const backbone = o.weights ? path.basename(o.weights.replace(/[/\\]+$/, '')) : o.model!;
  return { ...loaded, family: family.name, backbone, file };
}

function sameArchitecture(a: BackboneArchitecture, b: BackboneArchitecture): boolean {
  const v = (c: BackboneArchitecture) => [c.family ?? 'clip', c.vision.width, c.vision.layers, c.vision.patch_size, c.vision.image_size, c.text.width, c.text.layers, c.embed_dim].join(',');
  return v(a) === v(b);
}

/** A file found by model name must hold that model (a wrong file placed by hand would otherwise run as it). */
export function checkCatalogueArchitecture(name: string, arch: BackboneArchitecture, file: string): void {
  const entry = catalogueEntry(name);
  if (!sameArchitecture(entry.arch, arch)) {
    throw new UserError(`${file}: this file was found as ${entry.name} but holds another model (${describeArchitecture(arch)}; ${entry.name} is ${describeArchitecture(entry.arch)}). Delete it so that the right weights are fetched, or pass it with --weights PATH.`);
  }
}

/** "CLIP ViT, vision width 768, 12 layers, patch 16, 224 px; text width 512, 12 layers; embedding 512" */
export function describeArchitecture(c: BackboneArchitecture): string {
  const fam = (c.family ?? 'clip') === 'clip' ? 'ViT' : 'SigLIP';
  return `${fam}, vision width ${c.vision.width}, ${c.vision.layers} layers, patch ${c.vision.patch_size}, ${c.vision.image_size} px; text width ${c.text.width}, ${c.text.layers} layers; embedding ${c.embed_dim}`;
}
