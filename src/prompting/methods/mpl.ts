/**
 * MPL, Modular Prompt Learning (Huang et al., arXiv 2502.14125): MaPLe's coupled prompts, but at every deep
 * layer A coupling maps of the layer's text prompt ADD A·c vision tokens, R of the previous ones are REMOVED
 * and the rest CARRIED, so the sequence grows by A·c − R per layer; `schedule` gives per-layer counts.
 */
import { parseSchedule, type LayerCounts, type TokenGroup } from '../plan.js';
import { defineMethod } from './method.js';
import { P, methodError, placeholders, shapesOf } from './kit.js';
import { coupledPrompts, linearMap } from './coupled.js';
import { MAX_N_ADD } from './options.js';

export const mpl = defineMethod({
  name: 'mpl',
  summary: "MPL: MaPLe's coupled prompts, adding, removing and carrying vision prompts layer by layer",
  display: { name: 'MPL', colour: '#D55E00', column: 7 },
  options: ['nCtx', 'nAdd', 'nRm', 'depth', 'ctxInit', 'schedule'],
  defaults: { nCtx: 1, nAdd: 2, nRm: 1, depth: 9, ctxInit: 'a photo of a' },
  recipe: { lr: 0.0035, epochs: 5, batchSize: 4 },
  trainable: true,
  build: (o, arch) => {
    // "X ... X a photo of a {class}.": the learnable tokens sit before the template
    const text = { promptPrefix: `${placeholders(o.nCtx)} ${o.ctxInit.replace(/_/g, ' ')}`.trim(), fromWords: true };
    return coupledPrompts('mpl', o, arch, text, (d, D, c) => {
      const counts = layerCounts(o, D, c);
      const maps = Math.max(0, ...[...counts.values()].map((x) => x.add / c));
      const first = firstMap(counts, c);
      for (let a = 0; a < maps; a++) {
        for (let k = 0; k < D - 1; k++) {
          const cnt = counts.get(k + 1);
          if (!cnt || cnt.add / c <= a) continue;
          d.params.push(...linearMap(arch, `${P}txt2img_proj.${a}.${k}`, first === `${a}.${k}` ? undefined : `${P}txt2img_proj.${first}`));
        }
      }
      for (let l = 1; l < D; l++) {
        const cnt = counts.get(l);
        if (!cnt) continue;
        const k = l - 1;
        const add: TokenGroup[] = [];
        for (let a = 0; a < cnt.add / c; a++) {
          const map = `${P}txt2img_proj.${a}.${k}`;
          add.push({ count: c, source: { kind: 'linear', input: `${P}compound_prompts_text.${k}`, weight: `${map}.weight`, bias: `${map}.bias` }, label: `a${a}^${l}` });
        }
        d.visionSteps.push({ layer: l, remove: cnt.remove, add });
      }
    });
  },
  tagWords: (o) => [`c${o.nCtx}`, `add${o.nAdd}`, `rm${o.nRm}`, `d${o.depth}`, ...(o.schedule ? ['sched'] : [])],
  dassl: { trainers: { MPL: {} }, modelName: 'MultiModalPromptLearner' },
  fromTensors: (t) => {
    const s = shapesOf(t);
    if (!s.has(`${P}txt2img_proj.`)) return null;
    return { nCtx: s.nCtx, depth: s.count(/^prompt_learner\.compound_prompts_text\.(\d+)$/) + 1, nAdd: s.count(/^prompt_learner\.txt2img_proj\.(\d+)\./) };
  },
});

/** Per deep layer, the vision tokens added (A·c) and removed (R): the schedule, or N_ADD_OP·c and N_RM_OP everywhere. */
function layerCounts(o: { schedule: string | null; nAdd: number; nRm: number }, D: number, c: number): Map<number, LayerCounts> {
  const counts = new Map<number, LayerCounts>();
  if (o.schedule) {
    for (const [layer, cnt] of parseSchedule(o.schedule)) {
      if (layer > D - 1) throw methodError('mpl', `--schedule names layer ${layer}, beyond the prompt depth ${D} (deep layers 1..${D - 1})`);
      if (cnt.add % c !== 0) throw methodError('mpl', `--schedule layer ${layer}: add ${cnt.add} must be a multiple of --n-ctx ${c} (each coupling map makes ${c} tokens)`);
      // the same ceiling as --n-add: at most MAX_N_ADD coupling maps per layer
      if (cnt.add / c > MAX_N_ADD) throw methodError('mpl', `--schedule layer ${layer}: add ${cnt.add} is more than ${MAX_N_ADD} coupling maps × --n-ctx ${c} = ${MAX_N_ADD * c} tokens (the range of --n-add is 1 to ${MAX_N_ADD})`);
      counts.set(layer, cnt);
    }
    return counts;
  }
  if (o.nAdd < 1) throw methodError('mpl', '--n-add must be at least 1');
  if (o.nRm > o.nAdd * c) {
    throw methodError('mpl', `--n-rm ${o.nRm} exceeds --n-add × --n-ctx = ${o.nAdd * c}: removing more prompts than are added would delete image patch tokens`);
  }
  for (let l = 1; l < D; l++) counts.set(l, { add: o.nAdd * c, remove: o.nRm });
  return counts;
}

/** The first (a, k) coupling map in creation order: every other map starts as its copy (deepcopy of one Linear). */
function firstMap(counts: Map<number, { add: number }>, c: number): string {
  const layers = [...counts.keys()].sort((x, y) => x - y);
  for (const l of layers) if (counts.get(l)!.add / c >= 1) return `0.${l - 1}`;
  return '0.0';
}
