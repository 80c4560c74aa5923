/**
 * The method registry: every prompt-learning method, registered once. A method is one file in this folder
 * (a `MethodDef`, see method.ts) listed in `METHOD_DEFS` below; the CLI (flags, --help, Dassl config files),
 * run identity, reports, checkpoints and the trainer read what they need from here, by capability, never
 * by comparing method names.
 */
import type { ClipArchitecture } from '../../backbones/clip/model.js';
import { UserError } from '../../util/errors.js';
import { unmetNeed } from '../../backbones/index.js';
import { didYouMean } from '../../util/suggest.js';
import type { DatasetPrompt, MethodDef, MethodDesign, Recipe, TensorShapes } from './method.js';
import { resolveWith, type MethodOptions, type ResolvedOptions } from './options.js';
import { zeroshot } from './zeroshot.js';
import { coop } from './coop.js';
import { cocoop } from './cocoop.js';
import { vpt } from './vpt.js';
import { ivlp } from './ivlp.js';
import { maple } from './maple.js';
import { mpl } from './mpl.js';
import { promptsrc } from './promptsrc.js';
import { prograd } from './prograd.js';
import { kgcoop } from './kgcoop.js';
import { linearProbe } from './linear-probe.js';
import { clipAdapter } from './clip-adapter.js';
import { tipAdapter } from './tip-adapter.js';
import { tipAdapterF } from './tip-adapter-f.js';

/** Every method, in the order of --help and of the CLI's `--method` list. Adding a method = one line here. */
const METHOD_DEFS = [
  zeroshot, coop, cocoop, vpt, ivlp, maple, mpl, promptsrc,
  prograd,
  kgcoop,
  linearProbe,
  clipAdapter,
  tipAdapter,
  tipAdapterF,
] as const;

export type MethodName = (typeof METHOD_DEFS)[number]['name'];
export const METHODS: readonly MethodName[] = METHOD_DEFS.map((d) => d.name);

/**
 * A method with the options it takes, as a union discriminated by `method` (each MethodDef's `options`):
 * `{ method: 'coop', options: { classTokenPosition: 'middle' } }` type-checks, `{ method: 'coop', options:
 * { nAdd: 2 } }` does not. (Flags, config files and result files carry the loose MethodOptions.)
 */
export type MethodConfig = {
  [D in (typeof METHOD_DEFS)[number] as D['name']]: { method: D['name']; options?: Pick<MethodOptions, D['options'][number]> };
}[MethodName];

const BY_NAME = new Map<string, MethodDef>(METHOD_DEFS.map((d) => [d.name, d as MethodDef]));

/** A registered method's definition. */
export function methodDef(name: MethodName): MethodDef<MethodName> {
  const d = BY_NAME.get(name);
  if (!d) throw new Error(`no method ${name}`);
  return d as MethodDef<MethodName>;
}

/**
 * Whether a method (as a result file names it) learns prompts: false only for a registered method with
 * nothing to learn (zero-shot CLIP); a name this version does not know is taken to learn.
 */
export function learnsPrompts(name: string): boolean {
  return BY_NAME.get(name)?.trainable ?? true;
}

/** Every registered method's definition, in registry order. */
export function methodDefs(): readonly MethodDef<MethodName>[] {
  return METHOD_DEFS as readonly MethodDef<MethodName>[];
}

/** Optimiser recipe of each method's official base-to-new config. */
export const RECIPES: Record<MethodName, Recipe> = Object.fromEntries(METHOD_DEFS.map((d) => [d.name, d.recipe])) as Record<MethodName, Recipe>;

const spelling = (s: string) => s.toLowerCase().replace(/[-_ ]/g, '');

/** The method a `--method` value names (its name or an alias, any case, '-', '_' and spaces ignored). */
export function checkMethod(name: string): MethodName {
  const n = spelling(name);
  // both sides normalised: `tip-adapter-f`, `Tip_Adapter_F` and `tipadapterf` all name the same method
  const found = METHOD_DEFS.find((d) => spelling(d.name) === n || (d as MethodDef).aliases?.some((a) => spelling(a) === n));
  if (!found) {
    const hint = didYouMean(name, METHODS);
    throw new UserError(`unknown method '${name}' (${hint ? `${hint} ` : ''}known: ${METHODS.join(', ')})`);
  }
  return found.name;
}

/** A method's options with its defaults applied, as every run records them (see options.ts). */
export function resolveOptions(method: MethodName, options: MethodOptions): ResolvedOptions {
  const d = methodDef(method);
  return resolveWith(d.defaults, options, d.options);
}

/**
 * Builds a method's design for a model architecture (and the dataset it learns, when known: see
 * MethodDef.build); rejects impossible settings with a clear message.
 */
export function designMethod(method: MethodName, options: MethodOptions, arch: ClipArchitecture, dataset?: DatasetPrompt): MethodDesign {
  const why = unmetNeed(methodDef(method).needs, arch);
  if (why) throw new UserError(`method ${method} cannot run on this model: it ${why}`);
  const o = resolveOptions(method, options);
  return { method, options: o, ...methodDef(method).build(o, arch, dataset) };
}

/**
 * Trainable parameter count of a design (CoOp's class-specific context and the linear probe need the class
 * count; Tip-Adapter-F's keys the number of cache entries).
 */
export function countParameters(design: MethodDesign, nClasses = 1, cacheEntries = 0): number {
  return design.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * (b === -1 ? nClasses : b === -2 ? cacheEntries : b), 1), 0);
}

/** A method's official settings for a dataset (its CLI name): option defaults and epochs, empty when it has none. */
export function datasetDefaults(method: MethodName, dataset: string): { options: MethodOptions; epochs?: number } {
  return methodDef(method).datasetDefaults?.(dataset) ?? { options: {} };
}

/**
 * Whether the official trainers create a parameter in CLIP's dtype (so it is half, and updated in half, under
 * PREC "fp16"): the text context `ctx` (all methods), MaPLe/MPL's shallow projection `proj` (`.half()`) and
 * CoCoOp's meta-net (`.half()` in fp16). Deep prompts and their projections are float32 and cast to half
 * where they are inserted.
 */
export function createdInModelDtype(key: string): boolean {
  return /^prompt_learner\.(ctx$|proj\.|meta_net\.)/.test(key);
}

/**
 * The method and the options that shape its tensors, read off the tensors themselves (an official
 * model.pth.tar-N comes without a config): each method says whether the tensors are its own. When several
 * claim them with the same options (IVLP and PromptSRC hold the same tensors) the options are inferred, the
 * method is not. Options that leave no trace in the shapes (MPL's N_RM_OP, the context words) keep their
 * defaults unless given.
 */
export function inferMethod(tensors: TensorShapes): { method?: MethodName; options: MethodOptions; candidates: MethodName[] } {
  const claims = METHOD_DEFS.map((d) => ({ method: d.name, options: d.fromTensors(tensors) })).filter((c) => c.options !== null);
  const candidates = claims.map((c) => c.method);
  if (claims.length === 1) return { method: claims[0].method, options: claims[0].options!, candidates };
  return { options: claims[0]?.options ?? {}, candidates };
}

/** The method whose official trainer is TRAINER.NAME `trainer` (upper-case), and the options that name implies. */
export function dasslTrainer(trainer: string): { method: MethodName; options: MethodOptions } | undefined {
  for (const d of METHOD_DEFS) {
    const options = (d.dassl.trainers as Record<string, MethodOptions>)[trainer];
    if (options) return { method: d.name, options };
  }
  return undefined;
}

/** Every TRAINER.NAME the registry knows. */
export function dasslTrainerNames(): string[] {
  return METHOD_DEFS.flatMap((d) => Object.keys(d.dassl.trainers));
}

export { gpaWeights, PROMPTSRC_TEMPLATES } from './promptsrc.js';
export { IMAGENET_TEMPLATES_SELECT } from './zeroshot.js';
export { KGCOOP_TEMPLATES } from './kgcoop.js';
export { PROGRAD_TEMPLATES, TEMPLATE_WORDS } from './prograd.js';
export { OPTION_SPECS, optionSpec, type MethodOptions, type OptionKey, type OptionSpec, type OptionValue, type ResolvedOptions } from './options.js';
export type { DatasetPrompt, LossInputs, MethodDef, MethodDesign, ParamInit, ParamSpec, Recipe, TensorShapes, TextDesign } from './method.js';
