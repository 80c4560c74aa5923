/**
 * The coupled family (MaPLe, MPL): text prompts at layers 0..D-1 -- the context, then
 * `compound_prompts_text.k` replacing it at layer k+1 -- and vision prompts made from them by affine maps
 * W·P + b (nn.Linear): the shallow vision prompt from the context through `proj`, the deep ones as each
 * method says (`deepVision`: MaPLe one map per layer replacing the prompts, MPL several maps per layer with
 * add / remove counts).
 */
import type { ClipArchitecture } from '../../backbones/clip/model.js';
import type { DesignParts, ParamSpec } from './method.js';
import type { ResolvedOptions } from './options.js';
import { P, checkDepth, contextParam, draft, finish, methodError, param, type Draft } from './kit.js';

export function coupledPrompts(
  method: string,
  o: ResolvedOptions,
  arch: ClipArchitecture,
  text: { promptPrefix: string; fromWords: boolean },
  deepVision: (d: Draft, depth: number, nCtx: number) => void,
): DesignParts {
  const D = o.depth;
  checkDepth(method, D, Math.min(arch.vision.layers, arch.text.layers), 'prompt depth');
  const c = o.nCtx;
  if (c < 1) throw methodError(method, '--n-ctx must be at least 1');
  const d = draft({ kind: 'learned', nCtx: c, promptPrefix: text.promptPrefix, ctxFromWords: text.fromWords, csc: false, position: 'end' });
  d.params.push(contextParam(arch, c, text.fromWords), ...linearMap(arch, `${P}proj`));
  d.shallow.push({ count: c, source: { kind: 'linear', input: `${P}ctx`, weight: `${P}proj.weight`, bias: `${P}proj.bias` }, label: 'p0' });
  for (let k = 0; k < D - 1; k++) {
    d.params.push({ key: `${P}compound_prompts_text.${k}`, shape: [c, arch.text.width], init: { kind: 'normal', std: 0.02 } });
    d.textSteps.push({ layer: k + 1, replace: { count: c, source: param(`${P}compound_prompts_text.${k}`), label: `t${k + 1}` } });
  }
  deepVision(d, D, c);
  return finish(method, d);
}

/**
 * An nn.Linear(text width -> vision width) `<name>.weight` / `<name>.bias`: PyTorch's default initialisation,
 * or a copy of another map's (`_get_clones`: every map of a ModuleList starts as a deepcopy of one).
 */
export function linearMap(arch: ClipArchitecture, name: string, cloneOf?: string): [ParamSpec, ParamSpec] {
  const [dv, dt] = [arch.vision.width, arch.text.width];
  return [
    { key: `${name}.weight`, shape: [dv, dt], init: { kind: 'linear-weight', fanIn: dt, cloneOf: cloneOf && `${cloneOf}.weight` } },
    { key: `${name}.bias`, shape: [dv], init: { kind: 'linear-bias', fanIn: dt, cloneOf: cloneOf && `${cloneOf}.bias` } },
  ];
}
