/**
 * Training time per method on the benchmark model (a random full-size ViT-B/16), beside MPL: for each method,
 * its official recipe on a EuroSAT-sized few-shot set (5 classes x 16 shots = 80 training images, 20
 * validation images), timed through train() as the protocols run it. Long schedules are timed on their first
 * epoch (or cache pass) and scaled to the recipe (`recipe_seconds`); fits without epochs are timed whole.
 *   npx mpl bench methods --json
 * No PyTorch baseline: the official implementations differ in framework and loop (Dassl, Tip-Adapter's
 * script, sklearn); the train benchmark compares MPL's step with PyTorch's.
 */
import { knownArchitectures } from '../src/backbones/clip/config.js';
import { ClipModel } from '../src/backbones/clip/model.js';
import { ClipTokenizer } from '../src/backbones/clip/tokenizer.js';
import { PromptLearner } from '../src/prompting/learner.js';
import { RECIPES, type MethodName } from '../src/prompting/methods/index.js';
import { collectFeatures } from '../src/train/feature-heads.js';
import { train } from '../src/train/trainer.js';
import { checkBlas, getNumThreads, isCuda, torchVersion } from '../src/torch/index.js';
import type { BenchTarget } from './common.js';
import { benchClassNames, randomSource } from './train.js';

export interface MethodTime {
  method: MethodName;
  /** what was timed */
  timed: string;
  seconds: number;
  /** the recipe's schedule */
  recipe: string;
  /** the whole recipe on these images: the timed part scaled to the recipe's epochs and passes */
  recipe_seconds: number;
}

export interface MethodsBenchResult {
  model: string;
  device: string;
  precision: string;
  threads: number;
  libtorch: string;
  train_images: number;
  val_images: number;
  classes: number;
  methods: MethodTime[];
}

export async function runMethodsBench(options: BenchTarget & { trainImages?: number; onMethod?: (t: MethodTime) => void } = {}): Promise<MethodsBenchResult> {
  const { device, precision } = options.target ?? { device: 'cpu', precision: 'fp32' };
  if (!isCuda(device)) checkBlas();
  const n = options.trainImages ?? 80;
  const nVal = 20;
  const names = benchClassNames(5);
  const model = ClipModel.random(knownArchitectures['ViT-B/16'], 0, { device, precision });
  const times: MethodTime[] = [];
  const push = (t: MethodTime) => {
    times.push(t);
    options.onMethod?.(t);
  };
  const learner = (m: MethodName, o = {}) => new PromptLearner(model, ClipTokenizer.default(), m, names, { seed: 1, ...o });
  const val = () => randomSource(nVal, nVal, 5, 5);
  try {
    // warm-up, untimed
    await train(learner('mpl'), randomSource(4, 4, 3, 5), { epochs: 1, lr: 0.0035, warmupEpochs: 0 });
    for (const m of ['mpl', 'clip-adapter'] as const) {
      const l = learner(m);
      const r = await train(l, randomSource(n, RECIPES[m].batchSize, 1, 5), { epochs: 1, lr: RECIPES[m].lr, warmupEpochs: 0 });
      l.dispose();
      push({ method: m, timed: '1 epoch', seconds: r.seconds, recipe: `${RECIPES[m].epochs} epochs, batch ${RECIPES[m].batchSize}`, recipe_seconds: r.seconds * RECIPES[m].epochs });
    }
    {
      const l = learner('linear-probe');
      const r = await train(l, randomSource(n, Math.min(100, n), 1, 5), { epochs: 0, lr: 0, validation: val() });
      l.dispose();
      push({ method: 'linear-probe', timed: `features + C search (${r.fitted?.c !== undefined ? 'C ' + r.fitted.c.toPrecision(3) : ''})`, seconds: r.seconds, recipe: 'features once, 7 + 2x8 lbfgs fits', recipe_seconds: r.seconds });
    }
    // one cache pass alone: what the other nine of the recipe's ten cost each
    const probe = learner('tip-adapter');
    const t0 = Date.now();
    (await collectFeatures(probe, randomSource(n, n, 1, 5), { raw: true })).features.dispose();
    const pass = (Date.now() - t0) / 1000;
    probe.dispose();
    {
      const l = learner('tip-adapter', { cachePasses: 1 });
      const r = await train(l, randomSource(n, n, 1, 5), { epochs: 0, lr: 0, cacheSource: randomSource(n, n, 1, 5), validation: val() });
      l.dispose();
      push({ method: 'tip-adapter', timed: '1 cache pass + α/β search', seconds: r.seconds, recipe: '10 cache passes + search', recipe_seconds: r.seconds + 9 * pass });
    }
    {
      const rec = RECIPES['tip-adapter-f'];
      const l = learner('tip-adapter-f', { cachePasses: 1 });
      const r = await train(l, randomSource(n, n, 1, 5), { epochs: 1, lr: rec.lr, cacheSource: randomSource(n, n, 1, 5), validation: val() });
      l.dispose();
      const epoch = r.epochs[0].seconds;
      push({ method: 'tip-adapter-f', timed: '1 cache pass + 1 epoch + search', seconds: r.seconds, recipe: `10 cache passes + ${rec.epochs} epochs + search`, recipe_seconds: r.seconds + 9 * pass + (rec.epochs - 1) * epoch });
    }
  } finally {
    model.dispose();
  }
  return { model: 'ViT-B/16 (random weights)', device, precision, threads: getNumThreads(), libtorch: torchVersion(), train_images: n, val_images: nVal, classes: 5, methods: times };
}

export function formatMethodsBench(r: MethodsBenchResult): string {
  const rows = r.methods.map((m) => `  ${m.method.padEnd(14)} ${m.seconds.toFixed(1).padStart(8)} s  (${m.timed})  recipe: ${m.recipe} -> ${m.recipe_seconds.toFixed(0)} s`);
  return [`training time per method, ${r.model}, ${r.train_images} training images, ${r.device} ${r.precision}, ${r.threads} threads, libtorch ${r.libtorch}`, ...rows].join('\n');
}
