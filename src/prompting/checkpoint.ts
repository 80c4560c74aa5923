/**
 * Learned prompts on disk. `prompts.safetensors` holds the trainable tensors under the official state-dict
 * keys (prompt_learner.ctx, prompt_learner.compound_prompts_text.0, image_encoder.VPT, ...), so they load
 * into the official PyTorch code; `prompts.json` beside it holds the method, its resolved options, the class
 * names and the backbone, so `mpl predict` needs no flags. Official Dassl checkpoints (`model.pth.tar-N`, a
 * zip with a pickled dict) are read without executing pickle code (src/io/torchzip.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { firstNonFinite, type RawTensor } from '../io/tensor.js';
import { readTorchCheckpoint, sniffFormat } from '../io/torchzip.js';
import { UserError, fileError } from '../util/errors.js';
import { writeJsonAtomic } from '../util/fs.js';
import { camelKeys, snakeKeys } from '../util/json.js';
import type { PromptLearner } from './learner.js';
import type { BackboneArchitecture } from '../backbones/model.js';
import type { PlanLayout } from './layout.js';
import type { MethodName, MethodOptions } from './methods/index.js';
import { MAX_CONFIG_BYTES, readJsonFile, reasonOf } from '../util/parse.js';

export interface PromptsConfig {
  format: 'mpl-prompts/1';
  method: MethodName;
  /** the method's resolved options: snake_case in prompts.json, camelCase once loaded (loadPrompts) */
  options: MethodOptions;
  classnames: string[];
  backbone?: string;
  /** sha256 of the weights file the prompts were trained on (a package refuses other weights) */
  backbone_sha256?: string;
  /** the architecture of that backbone */
  backbone_architecture?: BackboneArchitecture;
  dataset?: string;
  seed?: number;
  /** precision the prompts were trained in (fp32, fp16, amp, bf16) */
  precision?: string;
  trainable_parameters: number;
  /** the per-layer token layout of the prompt plan (what `mpl plot --kind layout` and the HTML report draw) */
  layout?: PlanLayout;
  /** what was chosen on validation data when fitting (Tip-Adapter's alpha, beta, best_epoch; the linear probe's c) */
  fitted?: Record<string, number>;
}

export const PROMPTS_FILE = 'prompts.safetensors';

/** Writes prompts.safetensors and prompts.json (both atomically) into `dir`; returns the tensor file. */
export function savePrompts(
  dir: string,
  learner: PromptLearner,
  meta: { backbone?: string; backbone_sha256?: string; backbone_architecture?: BackboneArchitecture; dataset?: string; seed?: number; precision?: string } = {},
): string {
  const file = path.join(dir, PROMPTS_FILE);
  const tensors = new Map<string, RawTensor>();
  for (const [k, t] of learner.savedTensors()) {
    const raw = t.toRawFloat32();
    if (firstNonFinite(raw) >= 0) {
      throw new UserError(`${file}: not written: the learned ${k} holds NaN or ±inf (the training diverged); run again with a lower learning rate (--lr)`);
    }
    tensors.set(k, raw);
  }
  const config: PromptsConfig = {
    format: 'mpl-prompts/1',
    method: learner.method,
    options: snakeKeys(learner.design.options as unknown as MethodOptions),
    classnames: learner.trainedClassnames,
    trainable_parameters: learner.trainableParameters,
    layout: learner.layout(),
    ...(Object.keys(learner.fitted).length ? { fitted: { ...learner.fitted } } : {}),
    ...meta,
  };
  const metadata: Record<string, string> = { format: 'mpl-prompts/1', method: learner.method };
  if (Object.keys(learner.fitted).length) metadata.fitted = JSON.stringify(learner.fitted);
  writeSafetensors(file, tensors, metadata);
  writeJsonAtomic(configPathFor(file), config);
  return file;
}

/** The JSON config that sits beside a prompts file (prompts.safetensors -> prompts.json). */
export function configPathFor(promptsFile: string): string {
  return promptsFile.replace(/\.safetensors$/, '') + '.json';
}

export interface LoadedPrompts {
  tensors: Map<string, RawTensor>;
  /** the config saved beside the file by this tool, when present */
  config: PromptsConfig | null;
  epoch?: number;
  /** the hyper-parameters fitted on validation data, from the file's metadata (or its config) */
  fitted?: Record<string, number>;
}

/**
 * Reads learned prompts from our safetensors (+ JSON config), from any safetensors with official keys, or
 * from an official Dassl checkpoint (model.pth.tar-N). token_prefix/token_suffix are dropped as the
 * official load_model does (they depend on the class names).
 */
export function loadPrompts(file: string): LoadedPrompts {
  if (!fs.existsSync(file)) throw fileError(file, 'prompts file not found');
  const head = Buffer.alloc(16);
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, head, 0, 16, 0);
  fs.closeSync(fd);
  const kind = sniffFormat(head);
  let tensors: Map<string, RawTensor>;
  let epoch: number | undefined;
  let fitted: Record<string, number> | undefined;
  if (kind === 'safetensors') {
    const read = readSafetensors(file);
    tensors = read.tensors;
    if (read.metadata.fitted !== undefined) fitted = parseFitted(read.metadata.fitted, file);
  }
  else if (kind === 'zip' || kind === 'legacy-torch') {
    const ck = readTorchCheckpoint(file);
    tensors = ck.tensors;
    epoch = ck.epoch;
  } else throw fileError(file, 'not a safetensors file nor a PyTorch checkpoint');
  for (const k of [...tensors.keys()]) {
    if (k.endsWith('token_prefix') || k.endsWith('token_suffix')) tensors.delete(k);
    // nn.DataParallel checkpoints carry a module. prefix
    if (k.startsWith('module.')) {
      tensors.set(k.slice(7), tensors.get(k)!);
      tensors.delete(k);
    }
  }
  // Dassl's CoOp and CoCoOp register only the prompt learner: its keys come without the `prompt_learner.` prefix
  const prefixed = /^(prompt_learner|image_encoder|text_encoder)\./;
  if (![...tensors.keys()].some((k) => prefixed.test(k)) && tensors.has('ctx')) {
    tensors = new Map([...tensors].map(([k, v]) => [`prompt_learner.${k}`, v]));
  }
  const cfgPath = configPathFor(file);
  let config: PromptsConfig | null = null;
  if (kind === 'safetensors' && fs.existsSync(cfgPath)) {
    try {
      config = readJsonFile(cfgPath, 'prompts config', MAX_CONFIG_BYTES) as PromptsConfig;
    } catch (e) {
      throw fileError(cfgPath, `unreadable prompts config: ${reasonOf(e, cfgPath)}`);
    }
    if (config === null || typeof config !== 'object' || config.format !== 'mpl-prompts/1') {
      throw fileError(cfgPath, `not a prompts config written by mpl (format ${String((config as Partial<PromptsConfig> | null)?.format)})`);
    }
    const obj = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
    if (typeof config.method !== 'string' || (config.options !== undefined && !obj(config.options)) || !Array.isArray(config.classnames) || !config.classnames.every((c) => typeof c === 'string')) {
      throw fileError(cfgPath, 'a prompts config needs "method" (a name), "options" (a mapping) and "classnames" (a list of names); this one is damaged: delete it or train again');
    }
    // on disk snake_case (n_ctx), in memory camelCase (nCtx); files of older versions are camelCase already
    config.options = camelKeys<MethodOptions>((config.options ?? {}) as unknown as Record<string, unknown>);
  }
  if (tensors.size === 0) throw new UserError(`${file}: holds no tensors`);
  for (const [k, t] of tensors) {
    const bad = firstNonFinite(t);
    if (bad >= 0) throw fileError(file, `tensor "${k}" holds a non-finite value (NaN or ±inf) at element ${bad}: these prompts are broken (a diverged training?); train them again`);
  }
  fitted ??= config?.fitted;
  return { tensors, config, epoch, ...(fitted ? { fitted } : {}) };
}

function parseFitted(text: string, file: string): Record<string, number> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw fileError(file, 'its fitted hyper-parameters are not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Object.values(v).some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
    throw fileError(file, 'its fitted hyper-parameters must be finite numbers');
  }
  return v as Record<string, number>;
}
