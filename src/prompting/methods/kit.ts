/** Small pieces the method builders share: key prefixes, errors that name the flag, plan assembly, tensor shapes. */
import type { ClipArchitecture } from '../../backbones/clip/model.js';
import { UserError } from '../../util/errors.js';
import type { PromptPlan, Source, TextStep, TokenGroup, VisionStep } from '../plan.js';
import { DEFAULT_TEMPLATE } from '../templates.js';
import type { DatasetPrompt, DesignParts, ParamSpec, TensorShapes, TextDesign } from './method.js';

/** The official prompt learner's state-dict prefix. */
export const P = 'prompt_learner.';

export const param = (key: string): Source => ({ kind: 'param', key });

/** "X X X X": the placeholder words of a randomly initialised context (the official prompt_prefix). */
export const placeholders = (n: number): string => Array(n).fill('X').join(' ');

/** A UserError about a method's settings. */
export function methodError(method: string, msg: string): UserError {
  return new UserError(`method ${method}: ${msg}`);
}

/** A prompt depth must be 1..layers; the message names the flag (and the library option). */
export function checkDepth(method: string, d: number, layers: number, what: 'prompt depth' | 'text prompt depth' | 'vision prompt depth'): void {
  if (!Number.isInteger(d) || d < 1) throw methodError(method, `${what} must be at least 1 (got ${d})`);
  if (d > layers) {
    const [flag, key] = what === 'vision prompt depth' ? ['--depth-vision', 'depthVision'] : what === 'text prompt depth' ? ['--depth-text', 'depthText'] : ['--depth', 'depth'];
    throw methodError(method, `${what} ${d} is beyond the model's ${layers} layers: give ${flag} ${layers} or less (option ${key} in the library)`);
  }
}

/** What a builder collects before it becomes a design. */
export interface Draft {
  params: ParamSpec[];
  shallow: TokenGroup[];
  visionSteps: VisionStep[];
  textSteps: TextStep[];
  text: TextDesign;
}

export function draft(text: TextDesign): Draft {
  return { params: [], shallow: [], visionSteps: [], textSteps: [], text };
}

/** The plan and parameters of a draft. */
export function finish(method: string, d: Draft): DesignParts {
  const plan: PromptPlan = {
    method,
    vision: { shallow: d.shallow, steps: d.visionSteps },
    text: { ctxTokens: d.text.kind === 'learned' ? d.text.nCtx : 0, steps: d.textSteps },
  };
  return { plan, params: d.params, text: d.text };
}

/** The learnable text context `prompt_learner.ctx` [n, text width]: from the prompt's words, or N(0, 0.02). */
export function contextParam(arch: ClipArchitecture, n: number, fromWords: boolean, perClass = false): ParamSpec {
  const dt = arch.text.width;
  return { key: `${P}ctx`, shape: perClass ? [-1, n, dt] : [n, dt], init: fromWords ? { kind: 'words' } : { kind: 'normal', std: 0.02 } };
}

/** Facts of a state dict that several methods' `fromTensors` read. */
export function shapesOf(t: TensorShapes) {
  const keys = [...t.keys()];
  const ctx = t.get(`${P}ctx`);
  const vpt = t.get('image_encoder.VPT');
  return {
    has: (prefix: string) => keys.some((k) => k.startsWith(prefix)),
    /** distinct values of the first group of `re` over the keys */
    count: (re: RegExp) => new Set(keys.map((k) => re.exec(k)?.[1]).filter((x) => x !== undefined)).size,
    ctx,
    vpt,
    /** context tokens (the second-last dimension: CoOp's class-specific context is [C, n, W]) */
    nCtx: ctx ? ctx.shape[ctx.shape.length - 2] : undefined,
    /** CoOp/CoCoOp initialise from "a photo of a" (4 tokens) by default; another length means random init */
    words: ctx && ctx.shape[ctx.shape.length - 2] === 4 ? {} : { ctxInit: '' },
  };
}

/**
 * A method's own template for a dataset: its per-dataset table (keyed by Dassl's DATASET.NAME, as the official
 * code's CUSTOM_TEMPLATES), else the dataset's zero-shot template, else "a photo of a {}.".
 */
export function ownTemplate(table: Readonly<Record<string, string>>, dataset?: DatasetPrompt): string {
  const name = dataset?.displayName;
  return (name !== undefined && Object.hasOwn(table, name) ? table[name] : undefined) ?? dataset?.template ?? DEFAULT_TEMPLATE;
}
