/**
 * Prompt packages: learned prompts as a self-describing folder in the Hugging Face layout, to share the way
 * adapters are shared.
 *
 *   README.md            model card (YAML front matter: library, method, backbone and its weights' sha256,
 *                        dataset, classes, shots, seeds, accuracy with its protocol, license; how to use it)
 *   config.json          method and options, class names, templates, precision, backbone (name, sha256,
 *                        architecture), training settings and accuracy
 *   prompts.safetensors  the learned tensors under the official state-dict keys (as a run's prompts.safetensors)
 *
 * Made by `mpl export RUN --package DIR` (from a run) or `mpl import CHECKPOINT --package DIR` (from an official
 * Dassl checkpoint); read by `mpl predict|eval|serve --prompts DIR` and `loadPromptPackage(dir, { model })`.
 * A package is written into a temporary folder beside DIR and renamed into place: a reader never sees half of
 * one, and an existing package is replaced only with `force`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackboneArchitecture } from '../backbones/model.js';
import type { RunResult } from '../eval/results.js';
import { writeSafetensors } from '../io/safetensors.js';
import type { RawTensor } from '../io/tensor.js';
import { PROMPTS_FILE, loadPrompts, type LoadedPrompts, type PromptsConfig } from '../prompting/checkpoint.js';
import { designMethod, methodDef, type MethodName, type MethodOptions } from '../prompting/methods/index.js';
import { datasetPrompt } from '../prompting/templates.js';
import { UserError, fileError } from '../util/errors.js';
import { ensureDir, writeFileAtomic, writeJsonAtomic } from '../util/fs.js';
import { camelKeys, snakeKeys } from '../util/json.js';
import type { BackboneIdentity, BackboneRequirement } from './backbone.js';
import { renderCard } from './card.js';

export const PACKAGE_FORMAT = 'mpl-package/1';
export const CARD_FILE = 'README.md';
export const PACKAGE_CONFIG_FILE = 'config.json';
export const LIBRARY_NAME = 'modular-prompt-learning';

/** The accuracy a package was measured at, with its protocol (from the run's result.json). */
export interface PackageAccuracy {
  protocol: RunResult['protocol'];
  /** base2new: base, new and their harmonic mean (%) */
  base?: number;
  new?: number;
  hm?: number;
  /** the other protocols: accuracy (%) per evaluated dataset */
  datasets?: Record<string, number>;
  /** test images evaluated, all evaluations together */
  test_images: number;
  /** set when the run evaluated an evenly strided subset of at most this many images per split */
  max_test_images: number | null;
}

/** config.json of a package (snake_case, as every JSON file the tool writes). */
export interface PackageConfig {
  format: typeof PACKAGE_FORMAT;
  library_name: typeof LIBRARY_NAME;
  library_version: string;
  /** the license the prompts are shared under (SPDX id; `--license`) */
  license: string;
  method: MethodName;
  /** every option of the method, its defaults applied (snake_case) */
  method_options: Record<string, unknown>;
  classnames: string[];
  /** the text around each class name: `{}` is the name; a learned context replaces its first n_ctx words */
  templates: string[];
  precision: string;
  /** the dataset trained on (its zero-shot template is part of some methods' text), null when not known */
  dataset: string | null;
  backbone: BackboneIdentity;
  trainable_parameters: number;
  training: { protocol: string; shots: number; seed: number; epochs: number; lr: number; batch_size: number } | null;
  accuracy: PackageAccuracy | null;
  /** where the prompts came from: a run folder, or an official checkpoint */
  source: string;
}

function libraryVersion(): string {
  // dist/src/packages/package.js -> package.json three folders up
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../../../package.json') as { version: string }).version;
}

/** The templates a method's text uses for these options (what config.json records). */
export function templatesOf(method: MethodName, options: MethodOptions, architecture: BackboneArchitecture, dataset: string | null): string[] {
  const text = designMethod(method, options, architecture).text;
  if (text.kind === 'none') return []; // no class text (the linear probe): its head's weights are the classifier
  return text.kind === 'learned' ? [`${text.promptPrefix} {}.`] : text.templates(dataset ? datasetPrompt(dataset) : undefined);
}

/** The method's own options (the ones it takes), its defaults applied, snake_case. */
function methodOptionsOf(method: MethodName, options: MethodOptions, architecture: BackboneArchitecture): Record<string, unknown> {
  const resolved = designMethod(method, options, architecture).options as unknown as Record<string, unknown>;
  const own = methodDef(method).options as readonly string[];
  return snakeKeys(Object.fromEntries(own.map((k) => [k, resolved[k]])) as MethodOptions) as Record<string, unknown>;
}

/** The parts of a package config every source fills the same way. */
export function packageConfig(p: {
  method: MethodName;
  options: MethodOptions;
  classnames: string[];
  precision: string;
  dataset: string | null;
  backbone: BackboneIdentity;
  trainableParameters: number;
  training: PackageConfig['training'];
  accuracy: PackageAccuracy | null;
  source: string;
  license?: string;
}): PackageConfig {
  if (!methodDef(p.method).trainable) throw new UserError(`${methodDef(p.method).display.name} has no learned prompts to package`);
  return {
    format: PACKAGE_FORMAT,
    library_name: LIBRARY_NAME,
    library_version: libraryVersion(),
    license: p.license ?? 'mit',
    method: p.method,
    method_options: methodOptionsOf(p.method, p.options, p.backbone.architecture),
    classnames: p.classnames,
    templates: templatesOf(p.method, p.options, p.backbone.architecture, p.dataset),
    precision: p.precision,
    dataset: p.dataset,
    backbone: p.backbone,
    trainable_parameters: p.trainableParameters,
    training: p.training,
    accuracy: p.accuracy,
    source: p.source,
  };
}

/** What a run's result.json says about accuracy, in a package's terms. */
export function accuracyOf(r: RunResult): PackageAccuracy {
  const common = { protocol: r.protocol, test_images: r.eval_images ?? 0, max_test_images: (r.config.max_test_images as number | null | undefined) ?? null };
  if (r.protocol === 'base2new') return { ...common, base: r.base, new: r.new, hm: r.hm };
  return { ...common, datasets: r.accuracy ?? {} };
}

/**
 * Writes a package into `dir`: all three files into a temporary folder beside it, then renamed into place.
 * An existing folder is replaced only when it is a package and `force` is set; anything else there is refused.
 */
export function writePackage(dir: string, config: PackageConfig, tensors: Map<string, RawTensor>, options: { force?: boolean } = {}): void {
  const target = path.resolve(dir);
  if (fs.existsSync(target)) {
    const entries = fs.statSync(target).isDirectory() ? fs.readdirSync(target) : null;
    if (entries === null) throw new UserError(`${dir}: is a file; give a folder for the package`);
    if (entries.length > 0) {
      if (!isPackage(target)) throw new UserError(`${dir}: this folder holds other files and is not a prompt package; give a new or empty folder`);
      if (!options.force) throw new UserError(`${dir}: a prompt package is already there; pass --force to replace it`);
    }
  }
  ensureDir(path.dirname(target));
  const tmp = `${target}.partial-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    ensureDir(tmp);
    writeSafetensors(path.join(tmp, PROMPTS_FILE), tensors, { format: 'pt', mpl_format: PACKAGE_FORMAT, method: config.method });
    writeJsonAtomic(path.join(tmp, PACKAGE_CONFIG_FILE), config);
    writeFileAtomic(path.join(tmp, CARD_FILE), renderCard(config));
    if (fs.existsSync(target)) {
      const old = `${target}.old-${process.pid}`;
      fs.renameSync(target, old);
      fs.renameSync(tmp, target);
      fs.rmSync(old, { recursive: true, force: true });
    } else {
      fs.renameSync(tmp, target);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** A folder holding a package's config.json (of any version: reading checks the format). */
export function isPackage(dir: string): boolean {
  const file = path.join(dir, PACKAGE_CONFIG_FILE);
  if (!fs.existsSync(file)) return false;
  try {
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as { format?: unknown };
    return typeof c.format === 'string' && c.format.startsWith('mpl-package/');
  } catch {
    return false;
  }
}

/** Learned prompts from any source, with the backbone they need (empty when the source does not say). */
export interface PromptsSource extends LoadedPrompts {
  requirement: BackboneRequirement;
  /** the package's config when the source is a package */
  package: PackageConfig | null;
}

/** Reads a package: its config (checked), its tensors (checked as any prompts file), and what backbone it needs. */
export function readPackage(dir: string): PromptsSource {
  const file = path.join(dir, PACKAGE_CONFIG_FILE);
  let config: PackageConfig;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8')) as PackageConfig;
  } catch (e) {
    throw fileError(file, `unreadable package config (${(e as Error).message})`);
  }
  if (config.format !== PACKAGE_FORMAT) throw fileError(file, `a package of format ${String(config.format)}, not ${PACKAGE_FORMAT}: read it with the version of mpl that wrote it`);
  const bad = (what: string) => {
    throw fileError(file, `${what}; the package is damaged: export it again`);
  };
  if (typeof config.method !== 'string' || !methodDef(config.method as MethodName)) bad(`unknown method ${JSON.stringify(config.method)}`);
  if (!Array.isArray(config.classnames) || config.classnames.length === 0 || config.classnames.some((c) => typeof c !== 'string')) bad('its classnames are not a list of names');
  const b = config.backbone;
  if (!b || typeof b.name !== 'string' || typeof b.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(b.sha256) || typeof b.architecture !== 'object') bad('its backbone (name, sha256, architecture) is missing or malformed');
  const promptsFile = path.join(dir, PROMPTS_FILE);
  if (!fs.existsSync(promptsFile)) throw fileError(promptsFile, 'missing: a package holds README.md, config.json and prompts.safetensors');
  const loaded = loadPrompts(promptsFile);
  const promptsConfig: PromptsConfig = {
    format: 'mpl-prompts/1',
    method: config.method,
    options: camelKeys<MethodOptions>(config.method_options ?? {}),
    classnames: config.classnames,
    backbone: b.name,
    backbone_sha256: b.sha256,
    backbone_architecture: b.architecture,
    dataset: config.dataset ?? undefined,
    seed: config.training?.seed,
    precision: config.precision,
    trainable_parameters: config.trainable_parameters,
  };
  return { ...loaded, config: promptsConfig, requirement: { name: b.name, sha256: b.sha256, architecture: b.architecture }, package: config };
}

/**
 * `--prompts X` of predict, eval and serve: a package folder, a run folder (its prompts.safetensors), a prompts
 * file, or an official Dassl checkpoint. The backbone requirement comes from the package or from prompts.json.
 */
export function loadPromptsSource(arg: string): PromptsSource {
  if (fs.existsSync(arg) && fs.statSync(arg).isDirectory()) {
    if (isPackage(arg)) return readPackage(arg);
    const inRun = path.join(arg, PROMPTS_FILE);
    if (!fs.existsSync(inRun)) throw new UserError(`${arg}: neither a prompt package (config.json, prompts.safetensors) nor a run folder (prompts.safetensors)`);
    arg = inRun;
  }
  const loaded = loadPrompts(arg);
  const c = loaded.config;
  return { ...loaded, requirement: c ? { name: c.backbone, sha256: c.backbone_sha256, architecture: c.backbone_architecture } : {}, package: null };
}
