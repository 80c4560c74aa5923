/**
 * The methods: each is a prompt plan plus its parameters (official state-dict key names and
 * initialisation), a text-prompt construction, and its loss. Defaults equal the official configs for the
 * base-to-new protocol (spec §1.2 and §4); `RECIPES` holds the matching optimiser settings.
 */
import { UserError } from '../util/errors.js';
import type { ClipArchitecture } from '../clip/model.js';
import { parseSchedule, type PromptPlan, type TokenGroup, type VisionStep, type TextStep } from './plan.js';

export const METHODS = ['zeroshot', 'coop', 'cocoop', 'vpt', 'ivlp', 'maple', 'mpl', 'promptsrc'] as const;
export type MethodName = (typeof METHODS)[number];

export interface MethodOptions {
  /** text context tokens (MPL: N_CTX; MaPLe: N_CTX; CoOp/CoCoOp: derived from ctxInit when given) */
  nCtx?: number;
  /** MPL: prompts added per text prompt at each deep layer (N_ADD_OP) */
  nAdd?: number;
  /** MPL: prompts removed at each deep layer (N_RM_OP) */
  nRm?: number;
  /** prompt depth (layers 0..depth-1 are prompted); MaPLe/MPL: PROMPT_DEPTH; VPT/IVLP/PromptSRC: both encoders */
  depth?: number;
  depthText?: number;
  depthVision?: number;
  /** vision prompt tokens (VPT, IVLP, PromptSRC) */
  nCtxVision?: number;
  /** words whose embeddings initialise the text context ("" = random N(0, 0.02)) */
  ctxInit?: string;
  /** CoOp: class-specific context */
  csc?: boolean;
  /** CoOp: where the class name goes */
  classTokenPosition?: 'end' | 'middle' | 'front';
  /** MPL: per-layer vision add/remove counts, e.g. "1-4:add3,rm2;5-8:add1,rm1" */
  schedule?: string;
  /** zero-shot / VPT: the hand-crafted template; zero-shot: `ensemble` uses the 7-template ensemble */
  template?: string;
  ensemble?: boolean;
  /** PromptSRC loss weights and Gaussian prompt aggregation */
  textLossWeight?: number;
  imageLossWeight?: number;
  gpaMean?: number;
  gpaStd?: number;
}

export interface ResolvedOptions extends Required<Omit<MethodOptions, 'schedule' | 'template'>> {
  schedule: string | null;
  template: string | null;
}

const DEFAULTS: Record<MethodName, MethodOptions> = {
  zeroshot: { ensemble: false },
  // CoCoOp's base-to-new comparison runs CoOp with vit_b16_ctxv1: 4 tokens from "a photo of a"
  coop: { nCtx: 4, ctxInit: 'a photo of a', csc: false, classTokenPosition: 'end' },
  cocoop: { nCtx: 4, ctxInit: 'a photo of a' },
  vpt: { nCtxVision: 8, depthVision: 12 },
  ivlp: { nCtx: 2, nCtxVision: 2, depthText: 12, depthVision: 12, ctxInit: 'a photo of a' },
  maple: { nCtx: 2, depth: 9, ctxInit: 'a photo of a' },
  mpl: { nCtx: 1, nAdd: 2, nRm: 1, depth: 9, ctxInit: 'a photo of a' },
  promptsrc: {
    nCtx: 4,
    nCtxVision: 4,
    depthText: 9,
    depthVision: 9,
    ctxInit: 'a photo of a',
    textLossWeight: 25,
    imageLossWeight: 10,
    gpaMean: 15,
    gpaStd: 1,
  },
};

/** Optimiser recipe of each method's official base-to-new config. */
export interface Recipe {
  lr: number;
  epochs: number;
  batchSize: number;
}
export const RECIPES: Record<MethodName, Recipe> = {
  zeroshot: { lr: 0, epochs: 0, batchSize: 100 },
  coop: { lr: 0.002, epochs: 200, batchSize: 32 },
  cocoop: { lr: 0.002, epochs: 10, batchSize: 1 },
  vpt: { lr: 0.0025, epochs: 5, batchSize: 4 },
  ivlp: { lr: 0.0035, epochs: 5, batchSize: 4 },
  maple: { lr: 0.0035, epochs: 5, batchSize: 4 },
  mpl: { lr: 0.0035, epochs: 5, batchSize: 4 },
  promptsrc: { lr: 0.0025, epochs: 20, batchSize: 4 },
};

export function checkMethod(name: string): MethodName {
  const n = name.toLowerCase().replace(/[-_ ]/g, '');
  const alias: Record<string, MethodName> = { zsclip: 'zeroshot', clip: 'zeroshot', zeroshotclip: 'zeroshot', vptdeep: 'vpt', independentvl: 'ivlp' };
  const found = (METHODS as readonly string[]).includes(n) ? (n as MethodName) : alias[n];
  if (!found) throw new UserError(`unknown method '${name}' (known: ${METHODS.join(', ')})`);
  return found;
}

export function resolveOptions(method: MethodName, options: MethodOptions): ResolvedOptions {
  const o = { ...DEFAULTS[method], ...stripUndefined(options) };
  if (o.depth !== undefined && o.depthText === undefined) o.depthText = o.depth;
  if (o.depth !== undefined && o.depthVision === undefined) o.depthVision = o.depth;
  return {
    nCtx: o.nCtx ?? 0,
    nAdd: o.nAdd ?? 0,
    nRm: o.nRm ?? 0,
    depth: o.depth ?? 0,
    depthText: o.depthText ?? 0,
    depthVision: o.depthVision ?? 0,
    nCtxVision: o.nCtxVision ?? 0,
    ctxInit: o.ctxInit ?? '',
    csc: o.csc ?? false,
    classTokenPosition: o.classTokenPosition ?? 'end',
    schedule: o.schedule ?? null,
    template: o.template ?? null,
    ensemble: o.ensemble ?? false,
    textLossWeight: o.textLossWeight ?? 0,
    imageLossWeight: o.imageLossWeight ?? 0,
    gpaMean: o.gpaMean ?? 0,
    gpaStd: o.gpaStd ?? 0,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** How a parameter is initialised (seeded), matching the official code. */
export type ParamInit =
  | { kind: 'words' } // token embeddings of the context words
  | { kind: 'normal'; std: number }
  | { kind: 'linear-weight'; fanIn: number; cloneOf?: string } // nn.Linear default; deepcopy of cloneOf
  | { kind: 'linear-bias'; fanIn: number; cloneOf?: string };

export interface ParamSpec {
  key: string;
  shape: number[];
  init: ParamInit;
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

/** Everything about a method that does not need weights: its plan, its parameters, its text prompt. */
export interface MethodDesign {
  method: MethodName;
  options: ResolvedOptions;
  plan: PromptPlan;
  params: ParamSpec[];
  /** learnable text context: number of tokens and the words before the class name in the prompt */
  text:
    | { kind: 'fixed' }
    | { kind: 'learned'; nCtx: number; promptPrefix: string; ctxFromWords: boolean; csc: boolean; position: 'end' | 'middle' | 'front' };
  /** CoCoOp's meta-net dims */
  metaNet?: { inDim: number; hidden: number; outDim: number };
}

const P = 'prompt_learner.';

/** Builds a method's design for a model architecture; rejects impossible settings with a clear message. */
export function designMethod(method: MethodName, options: MethodOptions, arch: ClipArchitecture): MethodDesign {
  const o = resolveOptions(method, options);
  const dt = arch.text.width;
  const dv = arch.vision.width;
  const bad = (msg: string) => new UserError(`method ${method}: ${msg}`);
  const checkDepth = (d: number, layers: number, what: string) => {
    if (!Number.isInteger(d) || d < 1) throw bad(`${what} must be at least 1 (got ${d})`);
    if (d > layers) {
      const flag = what.startsWith('vision') ? '--depth-vision' : what.startsWith('text') ? '--depth-text' : '--depth';
      throw bad(`${what} ${d} is beyond the model's ${layers} layers: give ${flag} ${layers} or less (option ${flag === '--depth' ? 'depth' : flag === '--depth-text' ? 'depthText' : 'depthVision'} in the library)`);
    }
  };
  const params: ParamSpec[] = [];
  const vision: { shallow: TokenGroup[]; steps: VisionStep[] } = { shallow: [], steps: [] };
  const textSteps: TextStep[] = [];
  const param = (key: string): TokenGroup['source'] => ({ kind: 'param', key });

  // the learnable text context (when any): "ctxInit words" (first nCtx learnable) or "X X ... X"
  const wordsCount = o.ctxInit ? o.ctxInit.trim().split(/\s+/).length : 0;
  let text: MethodDesign['text'] = { kind: 'fixed' };
  let nCtxText = 0;
  const learnedText = (nCtx: number, promptPrefix: string, fromWords: boolean, csc = false, position: 'end' | 'middle' | 'front' = 'end') => {
    nCtxText = nCtx;
    text = { kind: 'learned', nCtx, promptPrefix, ctxFromWords: fromWords, csc, position };
  };

  switch (method) {
    case 'zeroshot':
      break;
    case 'coop':
    case 'cocoop': {
      if (o.ctxInit) {
        // CoOp: n_ctx = number of words of CTX_INIT; the whole phrase is learnable
        learnedText(wordsCount, o.ctxInit, true, false, method === 'coop' ? o.classTokenPosition : 'end');
        params.push({ key: `${P}ctx`, shape: [wordsCount, dt], init: { kind: 'words' } });
        if (method === 'coop' && o.csc) throw bad('class-specific context (--csc) needs random initialisation (--ctx-init "")');
      } else {
        if (o.nCtx < 1) throw bad('--n-ctx must be at least 1');
        learnedText(o.nCtx, Array(o.nCtx).fill('X').join(' '), false, method === 'coop' && o.csc, method === 'coop' ? o.classTokenPosition : 'end');
        params.push({ key: `${P}ctx`, shape: method === 'coop' && o.csc ? [-1, o.nCtx, dt] : [o.nCtx, dt], init: { kind: 'normal', std: 0.02 } });
      }
      if (method === 'cocoop') {
        const e = arch.embed_dim;
        const hidden = Math.floor(e / 16);
        params.push(
          { key: `${P}meta_net.linear1.weight`, shape: [hidden, e], init: { kind: 'linear-weight', fanIn: e } },
          { key: `${P}meta_net.linear1.bias`, shape: [hidden], init: { kind: 'linear-bias', fanIn: e } },
          { key: `${P}meta_net.linear2.weight`, shape: [dt, hidden], init: { kind: 'linear-weight', fanIn: hidden } },
          { key: `${P}meta_net.linear2.bias`, shape: [dt], init: { kind: 'linear-bias', fanIn: hidden } },
        );
        return { method, options: o, plan: mk(), params, text, metaNet: { inDim: e, hidden, outDim: dt } };
      }
      break;
    }
    case 'vpt':
    case 'ivlp':
    case 'promptsrc': {
      const dV = o.depthVision;
      checkDepth(dV, arch.vision.layers, 'vision prompt depth');
      if (o.nCtxVision < 1) throw bad('--n-ctx-vision must be at least 1');
      params.push({ key: 'image_encoder.VPT', shape: [o.nCtxVision, dv], init: { kind: 'normal', std: 0.02 } });
      vision.shallow.push({ count: o.nCtxVision, source: param('image_encoder.VPT'), label: 'v0' });
      for (let i = 1; i < dV; i++) {
        const key = `image_encoder.transformer.resblocks.${i}.VPT_shallow`;
        params.push({ key, shape: [o.nCtxVision, dv], init: { kind: 'normal', std: 0.02 } });
        vision.steps.push({ layer: i, remove: o.nCtxVision, add: [{ count: o.nCtxVision, source: param(key), label: `v${i}` }] });
      }
      if (method !== 'vpt') {
        const dT = o.depthText;
        checkDepth(dT, arch.text.layers, 'text prompt depth');
        if (o.nCtx < 1) throw bad('--n-ctx must be at least 1');
        const fromWords = Boolean(o.ctxInit) && o.nCtx <= 4;
        learnedText(o.nCtx, fromWords ? o.ctxInit : Array(o.nCtx).fill('X').join(' '), fromWords);
        params.push({ key: `${P}ctx`, shape: [o.nCtx, dt], init: fromWords ? { kind: 'words' } : { kind: 'normal', std: 0.02 } });
        for (let i = 1; i < dT; i++) {
          const key = `text_encoder.transformer.resblocks.${i}.VPT_shallow`;
          params.push({ key, shape: [o.nCtx, dt], init: { kind: 'normal', std: 0.02 } });
          textSteps.push({ layer: i, replace: { count: o.nCtx, source: param(key), label: `t${i}` } });
        }
      }
      break;
    }
    case 'maple':
    case 'mpl': {
      const D = o.depth;
      checkDepth(D, Math.min(arch.vision.layers, arch.text.layers), 'prompt depth');
      const c = o.nCtx;
      if (c < 1) throw bad('--n-ctx must be at least 1');
      let promptPrefix: string;
      let fromWords: boolean;
      if (method === 'maple') {
        fromWords = Boolean(o.ctxInit) && c <= 4;
        promptPrefix = fromWords ? o.ctxInit : Array(c).fill('X').join(' ');
      } else {
        // MPL: "X ... X a photo of a {class}." — the learnable tokens sit before the template
        fromWords = true;
        promptPrefix = `${Array(c).fill('X').join(' ')} ${o.ctxInit.replace(/_/g, ' ')}`.trim();
      }
      learnedText(c, promptPrefix, fromWords);
      params.push({ key: `${P}ctx`, shape: [c, dt], init: fromWords ? { kind: 'words' } : { kind: 'normal', std: 0.02 } });
      params.push(
        { key: `${P}proj.weight`, shape: [dv, dt], init: { kind: 'linear-weight', fanIn: dt } },
        { key: `${P}proj.bias`, shape: [dv], init: { kind: 'linear-bias', fanIn: dt } },
      );
      vision.shallow.push({ count: c, source: { kind: 'linear', input: `${P}ctx`, weight: `${P}proj.weight`, bias: `${P}proj.bias` }, label: 'p0' });
      for (let k = 0; k < D - 1; k++) {
        params.push({ key: `${P}compound_prompts_text.${k}`, shape: [c, dt], init: { kind: 'normal', std: 0.02 } });
        textSteps.push({ layer: k + 1, replace: { count: c, source: param(`${P}compound_prompts_text.${k}`), label: `t${k + 1}` } });
      }
      if (method === 'maple') {
        for (let k = 0; k < D - 1; k++) {
          const w = `${P}compound_prompt_projections.${k}.weight`;
          const b = `${P}compound_prompt_projections.${k}.bias`;
          // _get_clones(single_layer, depth-1): every map starts as a copy of the first
          params.push(
            { key: w, shape: [dv, dt], init: { kind: 'linear-weight', fanIn: dt, cloneOf: k ? `${P}compound_prompt_projections.0.weight` : undefined } },
            { key: b, shape: [dv], init: { kind: 'linear-bias', fanIn: dt, cloneOf: k ? `${P}compound_prompt_projections.0.bias` : undefined } },
          );
          vision.steps.push({
            layer: k + 1,
            remove: c,
            add: [{ count: c, source: { kind: 'linear', input: `${P}compound_prompts_text.${k}`, weight: w, bias: b }, label: `m${k + 1}` }],
          });
        }
      } else {
        // MPL: per deep layer, remove R and add A·c tokens from A separate coupling maps of the layer's text prompt
        const counts = new Map<number, { add: number; remove: number }>();
        if (o.schedule) {
          for (const [layer, cnt] of parseSchedule(o.schedule)) {
            if (layer > D - 1) throw bad(`--schedule names layer ${layer}, beyond the prompt depth ${D} (deep layers 1..${D - 1})`);
            if (cnt.add % c !== 0) throw bad(`--schedule layer ${layer}: add ${cnt.add} must be a multiple of --n-ctx ${c} (each coupling map makes ${c} tokens)`);
            counts.set(layer, cnt);
          }
        } else {
          if (o.nAdd < 1) throw bad('--n-add must be at least 1');
          if (o.nRm > o.nAdd * c) {
            throw bad(`--n-rm ${o.nRm} exceeds --n-add × --n-ctx = ${o.nAdd * c}: removing more prompts than are added would delete image patch tokens`);
          }
          for (let l = 1; l < D; l++) counts.set(l, { add: o.nAdd * c, remove: o.nRm });
        }
        const maxMaps = Math.max(0, ...[...counts.values()].map((x) => x.add / c));
        for (let a = 0; a < maxMaps; a++) {
          for (let k = 0; k < D - 1; k++) {
            const cnt = counts.get(k + 1);
            if (!cnt || cnt.add / c <= a) continue;
            const first = firstMap(counts, c);
            params.push(
              { key: `${P}txt2img_proj.${a}.${k}.weight`, shape: [dv, dt], init: { kind: 'linear-weight', fanIn: dt, cloneOf: first === `${a}.${k}` ? undefined : `${P}txt2img_proj.${first}.weight` } },
              { key: `${P}txt2img_proj.${a}.${k}.bias`, shape: [dv], init: { kind: 'linear-bias', fanIn: dt, cloneOf: first === `${a}.${k}` ? undefined : `${P}txt2img_proj.${first}.bias` } },
            );
          }
        }
        for (let l = 1; l < D; l++) {
          const cnt = counts.get(l);
          if (!cnt) continue;
          const k = l - 1;
          const add: TokenGroup[] = [];
          for (let a = 0; a < cnt.add / c; a++) {
            add.push({
              count: c,
              source: { kind: 'linear', input: `${P}compound_prompts_text.${k}`, weight: `${P}txt2img_proj.${a}.${k}.weight`, bias: `${P}txt2img_proj.${a}.${k}.bias` },
              label: `a${a}^${l}`,
            });
          }
          vision.steps.push({ layer: l, remove: cnt.remove, add });
        }
      }
      break;
    }
  }
  function mk(): PromptPlan {
    return { method, vision, text: { ctxTokens: nCtxText, steps: textSteps } };
  }
  return { method, options: o, plan: mk(), params, text };
}

/** The first (a, k) coupling map in creation order: every other map starts as its copy (deepcopy of one Linear). */
function firstMap(counts: Map<number, { add: number }>, c: number): string {
  const layers = [...counts.keys()].sort((x, y) => x - y);
  for (const l of layers) if ((counts.get(l)!.add / c) >= 1) return `0.${l - 1}`;
  return '0.0';
}

/** Trainable parameter count of a design (CoOp's class-specific context needs the class count). */
export function countParameters(design: MethodDesign, nClasses = 1): number {
  return design.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * (b === -1 ? nClasses : b), 1), 0);
}
