/**
 * Contrastive pretraining of a CLIP from scratch on the synthetic world (src/synth): every weight trainable,
 * symmetric InfoNCE over the batch with a learnable temperature (logit_scale, clamped to ln 100 as CLIP
 * does), AdamW with open_clip's parameter groups (no weight decay on gains, biases, 1-D embeddings and
 * logit_scale), linear warm-up then cosine to zero.
 *
 * Resumable: a checkpoint (weights, AdamW moments, step, history) is written atomically every
 * `checkpointEvery` steps; the data of step k is a function of (seed, k) alone, so a resumed run goes on
 * exactly as an uninterrupted one. The result is a weights file with OpenAI key names (fp16), loadable with
 * `loadClip({ weights })` / `--weights`, and pretrain.json (recipe, history, zero-shot accuracy).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadClip } from '../backbones/clip/load.js';
import { ClipModel } from '../backbones/clip/model.js';
import { ClipTokenizer } from '../backbones/clip/tokenizer.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { float32ToFloat16Bits, type RawTensor } from '../io/tensor.js';
import { tokenIds } from '../prompting/learner.js';
import { ScenePrefetcher } from '../synth/prefetch.js';
import { AdamW, Tensor, arange, getNumThreads, nn, noGrad, tensor, tidy, type AdamWState } from '../torch/index.js';
import { UserError } from '../util/errors.js';
import { writeJsonAtomic } from '../util/fs.js';
import { silentReporter, type Reporter } from '../util/reporter.js';
import { initClipWeights } from './init.js';
import { probeSet, zeroShotProbe, type ProbeResult } from './probe.js';
import type { PretrainRecipe } from './recipe.js';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
const CHECKPOINT_FORMAT = 'mpl-pretrain-checkpoint/1';
const LOGIT_SCALE_MAX = Math.log(100);

export interface PretrainOptions {
  recipe: PretrainRecipe;
  /** output folder: checkpoint.safetensors, log.txt, the weights file, pretrain.json */
  out: string;
  /** weights file name inside `out` */
  weightsName?: string;
  /** continue from out/checkpoint.safetensors if it exists (the recipe must be the same) */
  resume?: boolean;
  /** steps between checkpoints (default 100) and between zero-shot probes (default 250) */
  checkpointEvery?: number;
  probeEvery?: number;
  /** validation images of the zero-shot probe (default 1000) */
  probeImages?: number;
  reporter?: Reporter;
  /** render batches in a worker thread, ahead of the step that needs them (default true) */
  workers?: boolean;
  /** test hook: stop (as if killed) right after the checkpoint of this step */
  stopAfterStep?: number;
}

export interface StepLog {
  step: number;
  lr: number;
  loss: number;
  /** in-batch image→text retrieval accuracy (%) */
  batchAccuracy: number;
  logitScale: number;
}

export interface ProbeLog extends ProbeResult {
  step: number;
}

export interface PretrainResult {
  weights: string;
  steps: number;
  seconds: number;
  /** zero-shot probe of the final weights as saved (fp16), read back from the file */
  zeroShot: ProbeResult;
  history: StepLog[];
  probes: ProbeLog[];
  stopped: boolean;
}

/** Learning rate of step `k` (0-based): linear warm-up to `lr`, then cosine to zero (open_clip cosine_lr). */
export function pretrainLr(k: number, r: Pick<PretrainRecipe, 'lr' | 'warmupSteps' | 'steps'>): number {
  if (k < r.warmupSteps) return (r.lr * (k + 1)) / r.warmupSteps;
  const e = k - r.warmupSteps;
  const total = r.steps - r.warmupSteps;
  return 0.5 * (1 + Math.cos((Math.PI * e) / total)) * r.lr;
}

/** open_clip's rule: no weight decay on gains, biases, other 1-D parameters and logit_scale. */
function decays(name: string, t: Tensor): boolean {
  return t.ndim >= 2 && !/(^|\.)ln_/.test(name) && !name.endsWith('bias');
}

/**
 * Symmetric InfoNCE: cross-entropy of image→text and text→image logits against the diagonal, averaged.
 * Returns the loss and the in-batch image→text accuracy.
 */
export function contrastiveLoss(imageFeatures: Tensor, textFeatures: Tensor, logitScale: Tensor): { loss: Tensor; accuracy: number } {
  return tidy(() => {
    const n = imageFeatures.shape[0];
    const logits = nn.l2normalize(imageFeatures).matmul(nn.l2normalize(textFeatures).T).mul(logitScale.exp());
    const labels = arange(0, n);
    const loss = nn.crossEntropy(logits, labels).add(nn.crossEntropy(logits.T, labels)).mul(0.5);
    const hits = logits.argmax(1).eq(labels).sum().item();
    return { loss, accuracy: (100 * hits) / n };
  });
}

function raw32(t: Tensor): RawTensor {
  const f = t.toFloat32();
  return { dtype: 'float32', shape: t.shape, data: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) };
}

function raw16(t: Tensor): RawTensor {
  const h = float32ToFloat16Bits(t.toFloat32());
  return { dtype: 'float16', shape: t.shape, data: new Uint8Array(h.buffer, h.byteOffset, h.byteLength) };
}

/** The trained tensors by name (the model's canonical names plus logit_scale) and the two AdamW groups. */
interface State {
  model: ClipModel;
  params: Map<string, Tensor>;
  groups: Array<{ names: string[]; opt: AdamW }>;
}

function saveCheckpoint(file: string, s: State, recipe: PretrainRecipe, step: number, seconds: number, history: StepLog[], probes: ProbeLog[]): void {
  const tensors = new Map<string, RawTensor>();
  for (const [n, t] of s.params) tensors.set(`model.${n}`, raw32(t));
  const steps: Record<string, number> = {};
  for (const { names, opt } of s.groups) {
    opt.stateList().forEach((st, i) => {
      if (!st) return;
      tensors.set(`adamw.exp_avg.${names[i]}`, raw32(st.expAvg));
      tensors.set(`adamw.exp_avg_sq.${names[i]}`, raw32(st.expAvgSq));
      steps[names[i]] = st.step;
    });
  }
  writeSafetensors(file, tensors, {
    format: CHECKPOINT_FORMAT,
    step: String(step),
    seconds: String(seconds),
    recipe: JSON.stringify(recipe),
    adamw_steps: JSON.stringify(steps),
    history: JSON.stringify(history),
    probes: JSON.stringify(probes),
  });
}

function loadCheckpoint(file: string, s: State, recipe: PretrainRecipe): { step: number; seconds: number; history: StepLog[]; probes: ProbeLog[] } {
  const { tensors, metadata } = readSafetensors(file);
  if (metadata.format !== CHECKPOINT_FORMAT) throw new UserError(`${file}: not a pretraining checkpoint (format ${metadata.format ?? 'missing'})`);
  if (metadata.recipe !== JSON.stringify(recipe)) {
    throw new UserError(`${file}: checkpoint of another recipe (${metadata.recipe}); use another --out or the same settings`);
  }
  const steps = JSON.parse(metadata.adamw_steps) as Record<string, number>;
  const get = (key: string): Tensor => {
    const t = tensors.get(key);
    if (!t) throw new UserError(`${file}: missing tensor ${key}`);
    return tensor(t.data, t.shape, t.dtype);
  };
  tidy(() => {
    noGrad(() => {
      for (const [n, p] of s.params) p.copy_(get(`model.${n}`));
    });
    for (const { names, opt } of s.groups) {
      opt.loadStateList(
        names.map((n): AdamWState | undefined =>
          steps[n] === undefined ? undefined : { step: steps[n], expAvg: get(`adamw.exp_avg.${n}`), expAvgSq: get(`adamw.exp_avg_sq.${n}`) },
        ),
      );
    }
  });
  return {
    step: Number(metadata.step),
    seconds: Number(metadata.seconds),
    history: JSON.parse(metadata.history) as StepLog[],
    probes: JSON.parse(metadata.probes) as ProbeLog[],
  };
}

/** Writes the weights under OpenAI's key names, fp16 (logit_scale fp32), with the recipe in the metadata. */
function exportWeights(file: string, s: State, recipe: PretrainRecipe, step: number): void {
  const tensors = new Map<string, RawTensor>();
  for (const [n, t] of s.params) tensors.set(n, n === 'logit_scale' ? raw32(t) : raw16(t));
  writeSafetensors(file, tensors, { format: 'pt', producer: 'mpl pretrain', recipe: JSON.stringify(recipe), steps: String(step) });
}

/** Pretrains a CLIP on the synthetic world; see the module comment. */
export async function pretrain(o: PretrainOptions): Promise<PretrainResult> {
  const r = o.recipe;
  const reporter = o.reporter ?? silentReporter;
  const checkpointEvery = o.checkpointEvery ?? 100;
  const probeEvery = o.probeEvery ?? 250;
  fs.mkdirSync(o.out, { recursive: true });
  const ckptFile = path.join(o.out, CHECKPOINT_FILE);
  const weightsFile = path.join(o.out, o.weightsName ?? 'tiny-clip.safetensors');
  const logFile = path.join(o.out, 'log.txt');
  const log = (line: string): void => {
    fs.appendFileSync(logFile, line + '\n');
    reporter.info(line);
  };

  const model = ClipModel.random(r.arch, r.seed, { trainable: true });
  initClipWeights(model, r.seed);
  const logitScale = tensor([Math.log(1 / 0.07)], []).keep().requiresGrad_(true);
  const params = new Map([...model.namedWeights(), ['logit_scale', logitScale]]);
  const group = (wd: boolean): { names: string[]; opt: AdamW } => {
    const names = [...params.keys()].filter((n) => decays(n, params.get(n)!) === wd);
    const weightDecay = wd ? r.weightDecay : 0;
    return { names, opt: new AdamW(names.map((n) => params.get(n)!), { lr: r.lr, betas: r.betas, eps: r.eps, weightDecay }) };
  };
  const groups = [group(true), group(false)];
  const state: State = { model, params, groups };
  const size = r.arch.vision.image_size;
  const probe = probeSet(r.seed, o.probeImages ?? 1000, size, r.world);
  const source = new ScenePrefetcher({ seed: r.seed, stream: 'pretrain', n: r.batchSize, size, world: r.world }, 2, o.workers ?? true);
  let start = 0;
  let seconds = 0;
  let history: StepLog[] = [];
  let probes: ProbeLog[] = [];
  try {
    if (o.resume && fs.existsSync(ckptFile)) {
      ({ step: start, seconds, history, probes } = loadCheckpoint(ckptFile, state, r));
      log(`resumed from ${ckptFile} at step ${start}`);
    } else {
      fs.writeFileSync(logFile, '');
      log(`pretraining ${model.parameterCount.toLocaleString('en')} parameters, ${r.steps} steps of ${r.batchSize}, ${getNumThreads()} threads; recipe ${JSON.stringify(r)}`);
    }
    const tok = ClipTokenizer.default();
    let t0 = Date.now();
    for (let k = start; k < r.steps; k++) {
      const lr = pretrainLr(k, r);
      for (const g of groups) g.opt.lr = lr;
      const batch = await source.batch(k);
      for (const g of groups) g.opt.zeroGrad();
      const { loss, accuracy } = tidy(() => {
        const images = tensor(batch.images, [r.batchSize, 3, size, size]);
        const { ids, eot } = tokenIds(tok, batch.captions, r.arch.text.context_length);
        const out = contrastiveLoss(model.encodeImage(images), model.encodeText(ids, eot), logitScale);
        out.loss.backward();
        return { loss: out.loss.item(), accuracy: out.accuracy };
      });
      if (!Number.isFinite(loss)) throw new Error(`pretraining diverged at step ${k + 1} (loss ${loss}); lower --lr`);
      for (const g of groups) g.opt.step();
      noGrad(() => logitScale.copy_(tidy(() => logitScale.clamp(0, LOGIT_SCALE_MAX))));
      const entry: StepLog = { step: k + 1, lr, loss, batchAccuracy: accuracy, logitScale: logitScale.item() };
      history.push(entry);
      if ((k + 1) % 10 === 0 || k + 1 === r.steps) {
        const dt = (Date.now() - t0) / 1000;
        seconds += dt;
        t0 = Date.now();
        log(`step ${k + 1}/${r.steps}  lr ${lr.toExponential(2)}  loss ${loss.toFixed(4)}  batch acc ${accuracy.toFixed(1)}%  scale ${Math.exp(entry.logitScale).toFixed(1)}  ${seconds.toFixed(0)} s`);
      }
      if ((k + 1) % probeEvery === 0 || k + 1 === r.steps) {
        const p = zeroShotProbe(model, probe);
        probes.push({ step: k + 1, ...p });
        log(`step ${k + 1}: zero-shot shape accuracy ${p.accuracy.toFixed(2)}% (seen combinations ${p.seen.toFixed(2)}%, held-out ${p.heldOut.toFixed(2)}%)`);
      }
      if ((k + 1) % checkpointEvery === 0 || k + 1 === r.steps) {
        seconds += (Date.now() - t0) / 1000;
        t0 = Date.now();
        saveCheckpoint(ckptFile, state, r, k + 1, seconds, history, probes);
        if (o.stopAfterStep === k + 1) return { weights: weightsFile, steps: k + 1, seconds, zeroShot: probes.at(-1)!, history, probes, stopped: true };
      }
    }
    exportWeights(weightsFile, state, r, r.steps);
  } finally {
    await source.close();
    for (const g of groups) g.opt.disposeState();
    logitScale.dispose();
    model.dispose();
  }
  // the probe of the file as shipped (fp16 weights read back), not of the fp32 weights in memory
  const saved = await loadClip({ weights: weightsFile });
  let zeroShot: ProbeResult;
  try {
    zeroShot = zeroShotProbe(saved.model, probe);
  } finally {
    saved.model.dispose();
  }
  log(`${weightsFile}: zero-shot shape accuracy ${zeroShot.accuracy.toFixed(2)}% (seen ${zeroShot.seen.toFixed(2)}%, held-out ${zeroShot.heldOut.toFixed(2)}%), ${seconds.toFixed(0)} s of training`);
  // the summary keeps every 10th step of the history (as log.txt does); the checkpoint holds every step
  const logged = history.filter((h) => h.step % 10 === 0 || h.step === r.steps);
  writeJsonAtomic(path.join(o.out, 'pretrain.json'), { recipe: r, steps: r.steps, seconds, threads: getNumThreads(), zero_shot: zeroShot, probes, history: logged });
  return { weights: weightsFile, steps: r.steps, seconds, zeroShot, history, probes, stopped: false };
}
