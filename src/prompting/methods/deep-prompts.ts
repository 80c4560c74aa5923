/**
 * The deep-prompt family (VPT-deep, IVLP, PromptSRC): independent prompt tokens per layer, replaced at every
 * prompted layer (remove n, add n fresh parameters) -- on the vision side only (VPT) or on both encoders
 * (IVLP, PromptSRC), the text side replacing the context tokens after the start token.
 */
import type { ClipArchitecture } from '../../backbones/clip/model.js';
import type { DesignParts, TensorShapes, TextDesign } from './method.js';
import type { MethodOptions, ResolvedOptions } from './options.js';
import { checkDepth, contextParam, draft, finish, methodError, param, placeholders, shapesOf, type Draft } from './kit.js';

/** Vision prompts only; the text side is `text` (VPT: a hand-crafted template). */
export function deepVisionPrompts(method: string, o: ResolvedOptions, arch: ClipArchitecture, text: TextDesign): DesignParts {
  const d = draft(text);
  addVision(method, o, arch, d);
  return finish(method, d);
}

/** Vision and text prompts, independent of each other (IVLP's and PromptSRC's prompt learner). */
export function deepPrompts(method: string, o: ResolvedOptions, arch: ClipArchitecture): DesignParts {
  const fromWords = Boolean(o.ctxInit) && o.nCtx <= 4;
  const d = draft({ kind: 'learned', nCtx: o.nCtx, promptPrefix: fromWords ? o.ctxInit : placeholders(o.nCtx), ctxFromWords: fromWords, csc: false, position: 'end' });
  addVision(method, o, arch, d);
  checkDepth(method, o.depthText, arch.text.layers, 'text prompt depth');
  if (o.nCtx < 1) throw methodError(method, '--n-ctx must be at least 1');
  d.params.push(contextParam(arch, o.nCtx, fromWords));
  for (let i = 1; i < o.depthText; i++) {
    const key = `text_encoder.transformer.resblocks.${i}.VPT_shallow`;
    d.params.push({ key, shape: [o.nCtx, arch.text.width], init: { kind: 'normal', std: 0.02 } });
    d.textSteps.push({ layer: i, replace: { count: o.nCtx, source: param(key), label: `t${i}` } });
  }
  return finish(method, d);
}

function addVision(method: string, o: ResolvedOptions, arch: ClipArchitecture, d: Draft): void {
  checkDepth(method, o.depthVision, arch.vision.layers, 'vision prompt depth');
  if (o.nCtxVision < 1) throw methodError(method, '--n-ctx-vision must be at least 1');
  const dv = arch.vision.width;
  d.params.push({ key: 'image_encoder.VPT', shape: [o.nCtxVision, dv], init: { kind: 'normal', std: 0.02 } });
  d.shallow.push({ count: o.nCtxVision, source: param('image_encoder.VPT'), label: 'v0' });
  for (let i = 1; i < o.depthVision; i++) {
    const key = `image_encoder.transformer.resblocks.${i}.VPT_shallow`;
    d.params.push({ key, shape: [o.nCtxVision, dv], init: { kind: 'normal', std: 0.02 } });
    d.visionSteps.push({ layer: i, remove: o.nCtxVision, add: [{ count: o.nCtxVision, source: param(key), label: `v${i}` }] });
  }
}

/** The options a deep-prompt state dict's shapes say: vision prompts only, or vision and text prompts (`withText`). */
export function deepPromptShapes(t: TensorShapes, withText: boolean): MethodOptions | null {
  const s = shapesOf(t);
  if (!s.vpt || Boolean(s.ctx) !== withText) return null;
  const depthVision = s.count(/^image_encoder\.transformer\.resblocks\.(\d+)\.VPT_shallow$/) + 1;
  if (!withText) return { nCtxVision: s.vpt.shape[0], depthVision };
  return { nCtx: s.nCtx, nCtxVision: s.vpt.shape[0], depthVision, depthText: s.count(/^text_encoder\.transformer\.resblocks\.(\d+)\.VPT_shallow$/) + 1 };
}
