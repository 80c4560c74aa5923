/**
 * The prompt plan: MPL's view of deep prompting as a schedule of three operations per layer.
 *
 * Vision encoder: prompt tokens live at the end of the sequence (after the class token and patches).
 *   - `shallow`: tokens appended after the positional embedding (before ln_pre), layer 0;
 *   - at block i a step may REMOVE the last `remove` tokens (the most recently inserted prompts),
 *     CARRY everything else, and ADD new token groups at the end.
 *   Deep VPT / IVLP / MaPLe: remove n, add n (replacement). MPL: remove R, add A·c (the sequence grows).
 * Text encoder: the learnable context occupies positions 1..n (after the start token); a step at block i
 *   replaces those n tokens with a new group (MaPLe's and MPL's text side; IVLP's deep language prompts).
 * Token groups come from a source: a free parameter [n, width], or a coupling function of another
 * parameter (an affine map W·P + b, how MaPLe and MPL derive vision prompts from text prompts).
 *
 * A plan is plain data (JSON-serialisable). `validatePlan` rejects an impossible plan before any compute.
 */
import { printable, UserError } from '../util/errors.js';
import type { BackboneArchitecture as ClipArchitecture } from '../backbones/model.js';
import { traitsOf } from '../backbones/index.js';
import type { LayerLayout, LayoutSegment, PlanLayout } from './layout.js';

export type Source =
  | { kind: 'param'; key: string }
  /** W·input + b, where input is a [n, d_in] parameter and W is [d_out, d_in] (nn.Linear) */
  | { kind: 'linear'; input: string; weight: string; bias: string };

export interface TokenGroup {
  count: number;
  source: Source;
  /** short label for layouts, e.g. "a0^3" */
  label?: string;
}

export interface VisionStep {
  layer: number;
  remove: number;
  add: TokenGroup[];
}

export interface TextStep {
  layer: number;
  replace: TokenGroup;
}

export interface PromptPlan {
  method: string;
  vision: { shallow: TokenGroup[]; steps: VisionStep[] };
  text: {
    /** learnable context tokens at layer 0 (0 = hand-crafted prompt, no learnable text tokens) */
    ctxTokens: number;
    steps: TextStep[];
  };
}

export function groupTokens(groups: TokenGroup[]): number {
  return groups.reduce((n, g) => n + g.count, 0);
}

/**
 * Checks a plan against a model architecture, before anything is computed. Returns the vision sequence
 * length entering each block.
 */
export function validatePlan(plan: PromptPlan, arch: ClipArchitecture, imageTokens?: number): number[] {
  const why = (msg: string) => new UserError(`invalid prompt plan for ${plan.method}: ${msg}`);
  const V = arch.vision.layers;
  const T = arch.text.layers;
  let last = 0;
  let prompts = groupTokens(plan.vision.shallow);
  for (const s of plan.vision.steps) {
    if (!Number.isInteger(s.layer) || s.layer < 1 || s.layer >= V) {
      throw why(`vision step at layer ${s.layer}: deep prompts go at layers 1..${V - 1} (the model has ${V} vision layers; depth ≤ ${V})`);
    }
    if (s.layer <= last) throw why(`vision steps must be in increasing layer order (layer ${s.layer} after ${last})`);
    last = s.layer;
    if (s.remove < 0 || !Number.isInteger(s.remove)) throw why(`layer ${s.layer}: remove must be a non-negative integer`);
    if (s.remove > prompts) {
      throw why(
        `layer ${s.layer} removes ${s.remove} tokens but only ${prompts} prompt tokens are in the sequence ` +
          `(removing more would delete image patch tokens, which the official code does silently)`,
      );
    }
    for (const g of s.add) if (g.count < 0 || !Number.isInteger(g.count)) throw why(`layer ${s.layer}: bad add count ${g.count}`);
    prompts += groupTokens(s.add) - s.remove;
  }
  // [SOS] (CLIP) + context + at least the [EOS] token must fit the text encoder's positions (77 for CLIP, 64 or 16 for SigLIP)
  const ctxLen = arch.text.context_length;
  const special = traitsOf(arch).textStartToken ? 2 : 1;
  if (plan.text.ctxTokens + special > ctxLen) {
    throw why(`${plan.text.ctxTokens} learnable text context tokens (--n-ctx) do not fit the model's ${ctxLen}-token text context: at most ${ctxLen - special}, fewer with long class names`);
  }
  last = 0;
  for (const s of plan.text.steps) {
    if (!Number.isInteger(s.layer) || s.layer < 1 || s.layer >= T) {
      throw why(`text step at layer ${s.layer}: deep prompts go at layers 1..${T - 1} (the model has ${T} text layers)`);
    }
    if (s.layer <= last) throw why(`text steps must be in increasing layer order`);
    last = s.layer;
    if (s.replace.count !== plan.text.ctxTokens) {
      throw why(`text layer ${s.layer} replaces ${s.replace.count} tokens, but the prompt has ${plan.text.ctxTokens} context tokens`);
    }
  }
  return visionLengths(plan, arch.vision.layers, imageTokens ?? imageTokensOf(arch));
}

/** Image tokens before any prompt: the patches, and CLIP's class token. */
export function imageTokensOf(arch: ClipArchitecture): number {
  const grid = Math.floor(arch.vision.image_size / arch.vision.patch_size);
  return grid * grid + (traitsOf(arch).classToken ? 1 : 0);
}

/** The vision sequence length entering each block (after that block's operations). */
export function visionLengths(plan: PromptPlan, layers: number, imageTokens: number): number[] {
  const byLayer = new Map(plan.vision.steps.map((s) => [s.layer, s]));
  let len = imageTokens + groupTokens(plan.vision.shallow);
  const out: number[] = [];
  for (let i = 0; i < layers; i++) {
    const s = byLayer.get(i);
    if (s) len += groupTokens(s.add) - s.remove;
    out.push(len);
  }
  return out;
}

/**
 * The per-layer token layout (what `mpl plan` prints and `mpl plot --kind layout` draws). Prompt tokens
 * are tracked individually so carried and newly added ones are told apart.
 */
export function planLayout(
  plan: PromptPlan,
  arch: ClipArchitecture,
  trainableParameters: number,
  textWords: { before: number; after: number } = { before: 0, after: 0 },
): PlanLayout {
  const grid = Math.floor(arch.vision.image_size / arch.vision.patch_size);
  const traits = traitsOf(arch);
  const byLayer = new Map(plan.vision.steps.map((s) => [s.layer, s]));
  let tokens: Array<{ label: string; born: number }> = [];
  const labelled = (groups: TokenGroup[], layer: number) =>
    groups.flatMap((g) => Array.from({ length: g.count }, (_, k) => ({ label: g.label ?? `p${layer}`, born: layer, k })));
  tokens = labelled(plan.vision.shallow, 0);
  const vision: LayerLayout[] = [];
  for (let i = 0; i < arch.vision.layers; i++) {
    const s = byLayer.get(i);
    if (s) {
      tokens = tokens.slice(0, tokens.length - s.remove).concat(labelled(s.add, i));
    }
    const segments: LayoutSegment[] = [...(traits.classToken ? [{ kind: 'cls' as const, count: 1 }] : []), { kind: 'patch', count: grid * grid }];
    for (const t of tokens) {
      const kind = t.born === i ? 'prompt-added' : 'prompt-carried';
      const prev = segments[segments.length - 1];
      if (prev.kind === kind && prev.label === t.label) prev.count++;
      else segments.push({ kind, count: 1, label: t.label });
    }
    vision.push({ layer: i, length: imageTokensOf(arch) + tokens.length, segments, ...(s?.remove ? { removed: s.remove } : {}) });
  }
  const textSteps = new Set(plan.text.steps.map((s) => s.layer));
  const text: LayerLayout[] = [];
  const n = plan.text.ctxTokens;
  for (let i = 0; i < arch.text.layers; i++) {
    const segments: LayoutSegment[] = traits.textStartToken ? [{ kind: 'sos', count: 1 }] : [];
    if (textWords.before) segments.push({ kind: 'word', count: textWords.before });
    if (n > 0) segments.push({ kind: i === 0 || textSteps.has(i) ? 'prompt-added' : 'prompt-carried', count: n, label: 'ctx' });
    if (textWords.after) segments.push({ kind: 'word', count: textWords.after });
    segments.push({ kind: 'eot', count: 1 });
    text.push({ layer: i, length: segments.reduce((a, s) => a + s.count, 0), segments });
  }
  return { method: plan.method, vision, text, trainable_parameters: trainableParameters, ...(traits.causalText ? {} : { text_padding_attended: true }) };
}

/** A human-readable description of a layout, one line per layer and encoder. */
export function describeLayout(layout: PlanLayout): string {
  const seg = (s: LayoutSegment) => {
    const name = { cls: 'CLS', patch: 'patches', sos: 'SOS', word: 'words', eot: 'EOT', 'prompt-carried': 'carried', 'prompt-added': 'added' }[s.kind];
    return `${name}${s.label ? `(${s.label})` : ''}×${s.count}`;
  };
  const lines = [`method ${layout.method}: ${layout.trainable_parameters.toLocaleString('en-US')} trainable parameters`, 'vision (the sequence entering each block):'];
  for (const l of layout.vision) {
    const removed = l.removed ? `  (removed×${l.removed} before it)` : '';
    lines.push(`  block ${String(l.layer).padStart(2)}  len ${String(l.length).padStart(4)}  ${l.segments.map(seg).join(' ')}${removed}`);
  }
  lines.push(layout.text_padding_attended ? 'text (prompt part; the padding after EOT is attended to: a bidirectional text encoder):' : 'text (prompt part; padding after EOT is never attended to):');
  for (const l of layout.text) lines.push(`  block ${String(l.layer).padStart(2)}  ${l.segments.map(seg).join(' ')}`);
  lines.push(
    '',
    'legend: CLS = class token, patches = image patch tokens, SOS / EOT = start / end of text, words = fixed template',
    '  words, added(x) = prompt tokens inserted at this block (x = the parameter or coupling map they come from),',
    '  carried(x) = prompt tokens kept from an earlier block, removed×n = the last n prompt tokens dropped before',
    '  the block (MPL\'s O_rm); ×n = how many tokens.',
  );
  return lines.join('\n');
}

// ---- custom schedules -----------------------------------------------------------------------------

/** Largest layer index or token count a --schedule may name: far above any CLIP, far below trouble. */
const MAX_SCHEDULE_VALUE = 1000;

export interface LayerCounts {
  add: number;
  remove: number;
}

/**
 * Parses a per-layer add/remove schedule for the vision side of MPL:
 *   - ranges: "1-4:add3,rm2;5-8:add1,rm1" (1-based block indices as in the paper; block 0 holds the shallow prompt)
 *   - a list: "2/1,2/1,3/2" = add/remove for blocks 1, 2, 3, ...
 * Returns a map block -> counts. Unlisted blocks have no operation.
 */
export function parseSchedule(spec: string): Map<number, LayerCounts> {
  const out = new Map<number, LayerCounts>();
  const bad = (why: string) => new UserError(printable(`invalid --schedule '${spec}': ${why}`));
  // Bounds before any loop or allocation: "1-1000000000:add1" must not run a billion iterations.
  const count = (text: string, what: string) => {
    const v = Number(text);
    if (v > MAX_SCHEDULE_VALUE) throw bad(`${what} ${text} is more than ${MAX_SCHEDULE_VALUE} (CLIP models have at most 48 blocks)`);
    return v;
  };
  const s = spec.trim();
  if (!s) throw bad('empty');
  if (s.includes(':')) {
    for (const part of s.split(';').map((p) => p.trim()).filter(Boolean)) {
      const m = /^(\d+)(?:-(\d+))?:(.*)$/.exec(part);
      if (!m) throw bad(`'${part}' is not "FROM-TO:addN,rmM"`);
      const from = count(m[1], 'layer');
      const to = m[2] ? count(m[2], 'layer') : from;
      if (to < from) throw bad(`range ${from}-${to} is reversed`);
      let add = 0;
      let remove = 0;
      for (const op of m[3].split(',').map((o) => o.trim()).filter(Boolean)) {
        const o = /^(add|rm|remove)(\d+)$/.exec(op);
        if (!o) throw bad(`operation '${op}' is not addN or rmN`);
        if (o[1] === 'add') add = count(o[2], 'count');
        else remove = count(o[2], 'count');
      }
      for (let l = from; l <= to; l++) {
        if (out.has(l)) throw bad(`layer ${l} is given twice`);
        out.set(l, { add, remove });
      }
    }
  } else {
    s.split(',').forEach((item, i) => {
      const o = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(item);
      if (!o) throw bad(`list item '${item}' is not ADD/REMOVE`);
      if (i + 1 > MAX_SCHEDULE_VALUE) throw bad(`more than ${MAX_SCHEDULE_VALUE} layers listed`);
      out.set(i + 1, { add: count(o[1], 'count'), remove: count(o[2], 'count') });
    });
  }
  for (const l of out.keys()) if (l < 1) throw bad('layers start at 1 (block 0 holds the shallow prompt)');
  return out;
}
