/**
 * The training checkpoint: one safetensors file (prompts, momentum buffers, GPA sums) whose metadata holds the epoch,
 * the history and the full configuration. Everything in it is checked before any of it is used, so a
 * damaged or foreign checkpoint stops the run with a one-line error saying what to delete. The training loop
 * (trainer.ts) writes one after every epoch and reads it back on resume.
 */
import * as path from 'node:path';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import type { RawTensor } from '../io/tensor.js';
import type { PromptLearner } from '../prompting/learner.js';
import { AdamW, SGD, tensor, tidy, type GradScalerState, type Tensor } from '../torch/index.js';
import { configDiff, describeDiff } from '../util/config.js';
import { UserError } from '../util/errors.js';
import { checkDepth, MAX_DEPTH } from '../util/parse.js';
import { TRAIN_DEFAULTS } from './defaults.js';
import type { EpochSelection } from './fit.js';
import type { Optimizer } from './step.js';
import type { EpochSummary, TrainOptions } from './trainer.js';

/** The file a run folder's checkpoint is written to. */
export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const CHECKPOINT_FORMAT = 'mpl-checkpoint/2';

/** Where a run's checkpoint goes and the configuration it must carry. */
export interface CheckpointTarget {
  file: string;
  /** the configuration stored in (and compared with) the checkpoint's metadata */
  config: Record<string, unknown>;
}

/** The checkpoint file of a folder and the configuration of this training (the caller's + the trainer's). */
export function checkpointTarget(dir: string, learner: PromptLearner, options: TrainOptions): CheckpointTarget {
  const config = {
    ...options.config,
    method: learner.method,
    method_options: learner.design.options,
    parameters: Object.fromEntries([...learner.params].map(([k, p]) => [k, p.shape])),
    training: {
      epochs: options.epochs,
      lr: options.lr,
      momentum: options.momentum ?? TRAIN_DEFAULTS.momentum,
      weight_decay: options.weightDecay ?? TRAIN_DEFAULTS.weightDecay,
      warmup_epochs: options.warmupEpochs ?? TRAIN_DEFAULTS.warmupEpochs,
      warmup_lr: options.warmupLr ?? TRAIN_DEFAULTS.warmupLr,
    },
  };
  return { file: path.join(dir, CHECKPOINT_FILE), config: JSON.parse(JSON.stringify(config)) as Record<string, unknown> };
}

export function saveCheckpoint(
  target: CheckpointTarget,
  learner: PromptLearner,
  opt: Optimizer,
  keys: string[],
  epoch: number,
  history: EpochSummary[],
  gpa: Tensor[] | null,
  scaler: GradScalerState | null,
  selection: EpochSelection | null = null,
): void {
  const tensors = new Map<string, RawTensor>();
  keys.forEach((k) => tensors.set(k, learner.params.get(k)!.toRawFloat32()));
  const momentum: string[] = [];
  const adamSteps: Record<string, number> = {};
  if (opt instanceof SGD) {
    opt.momentumBuffers().forEach((b, i) => {
      if (!b) return;
      tensors.set(`optimizer.momentum.${keys[i]}`, b.toRawFloat32());
      momentum.push(keys[i]);
    });
  } else {
    // AdamW: step count and both moments per parameter
    opt.stateList().forEach((st, i) => {
      if (!st) return;
      tensors.set(`optimizer.exp_avg.${keys[i]}`, st.expAvg.toRawFloat32());
      tensors.set(`optimizer.exp_avg_sq.${keys[i]}`, st.expAvgSq.toRawFloat32());
      adamSteps[keys[i]] = st.step;
    });
  }
  selection?.best.params?.forEach((t: Tensor, i: number) => tensors.set(`best.${keys[i]}`, t.toRawFloat32()));
  gpa?.forEach((t, i) => tensors.set(`gpa.${keys[i]}`, t.toRawFloat32()));
  writeSafetensors(target.file, tensors, {
    format: CHECKPOINT_FORMAT,
    method: learner.method,
    precision: learner.model.precision.name,
    epoch: String(epoch),
    history: JSON.stringify(history),
    config: JSON.stringify(target.config),
    momentum: JSON.stringify(momentum),
    gpa: gpa ? 'true' : 'false',
    ...(scaler ? { grad_scaler: JSON.stringify(scaler) } : {}),
    ...(opt instanceof AdamW ? { adamw_steps: JSON.stringify(adamSteps) } : {}),
    ...(selection ? { best: JSON.stringify({ epoch: selection.best.epoch, accuracy: selection.best.accuracy }) } : {}),
  });
}

const HISTORY_NUMBERS = ['lr', 'loss', 'accuracy', 'images', 'seconds', 'imagesPerSecond'] as const;

function parseJson(text: string | undefined, what: string, bad: (why: string) => never): unknown {
  if (text === undefined) return bad(`its metadata has no ${what}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return bad(`its ${what} is not valid JSON`);
  }
  // the configuration is compared key by key (recursively): a hostile file nested 100,000 deep must not end that
  try {
    checkDepth(v, what);
  } catch {
    return bad(`its ${what} is nested more than ${MAX_DEPTH} levels deep`);
  }
  return v;
}

function checkHistory(v: unknown, epoch: number, bad: (why: string) => never): EpochSummary[] {
  if (!Array.isArray(v) || v.length !== epoch) return bad(`its history does not list the ${epoch} epochs it claims`);
  v.forEach((h: unknown, i) => {
    const e = h as Record<string, unknown>;
    if (typeof h !== 'object' || h === null || e.epoch !== i + 1) bad(`history entry ${i + 1} is not epoch ${i + 1}`);
    for (const k of HISTORY_NUMBERS) {
      if (typeof e[k] !== 'number' || !Number.isFinite(e[k])) bad(`history of epoch ${i + 1} has a non-finite ${k}`);
    }
  });
  return v as EpochSummary[];
}

/** A float32 tensor of the expected shape with finite values, or the reason it is not. */
function tensorProblem(r: RawTensor | undefined, shape: number[]): string | null {
  if (!r) return 'is missing';
  if (r.dtype !== 'float32') return `is ${r.dtype}, not float32`;
  if (r.shape.join(',') !== shape.join(',')) return `has shape [${r.shape}], expected [${shape}]`;
  // the data may sit at any byte offset of the file: copy when it is not 4-byte aligned
  const bytes = r.data.byteOffset % 4 === 0 ? r.data : r.data.slice();
  const f = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  for (let i = 0; i < f.length; i++) if (!Number.isFinite(f[i])) return 'holds NaN or infinite values';
  return null;
}

export function loadCheckpoint(
  target: CheckpointTarget,
  learner: PromptLearner,
  opt: Optimizer,
  keys: string[],
  epochs: number,
  selection: EpochSelection | null = null,
): { epoch: number; history: EpochSummary[]; gpa: Tensor[] | null; scaler: GradScalerState | null } {
  const file = target.file;
  const bad = (why: string): never => {
    throw new UserError(`${file}: unusable checkpoint (${why}); delete it to start this run over`);
  };
  let read: ReturnType<typeof readSafetensors>;
  try {
    read = readSafetensors(file);
  } catch (e) {
    return bad((e as Error).message);
  }
  const { tensors, metadata } = read;
  if (metadata.format === 'mpl-checkpoint/1') bad('written by an earlier version that did not record its configuration');
  if (metadata.format !== CHECKPOINT_FORMAT) bad(`format ${metadata.format ?? 'missing'}, not ${CHECKPOINT_FORMAT}`);
  const saved = parseJson(metadata.config, 'configuration', bad);
  if (typeof saved !== 'object' || saved === null || Array.isArray(saved)) bad('its configuration is not a JSON object');
  const diff = configDiff(saved, target.config);
  if (diff.length) {
    throw new UserError(
      `${file} was saved with another configuration (${describeDiff(diff)}); ` + `start over with --force (or --no-resume), or delete it`,
    );
  }
  if (!/^\d+$/.test(metadata.epoch ?? '')) bad(`its epoch is ${JSON.stringify(metadata.epoch ?? null)}, not a number`);
  const epoch = Number(metadata.epoch);
  if (epoch < 1 || epoch > epochs) bad(`its epoch ${epoch} is outside 1..${epochs}`);
  const history = checkHistory(parseJson(metadata.history, 'history', bad), epoch, bad);
  const momentum = parseJson(metadata.momentum, 'list of momentum buffers', bad);
  if (!Array.isArray(momentum) || momentum.some((k) => !keys.includes(k as string))) bad('its list of momentum buffers names unknown parameters');
  const adamSteps = opt instanceof AdamW ? parseJson(metadata.adamw_steps, 'AdamW step counts', bad) : {};
  if (
    typeof adamSteps !== 'object' ||
    adamSteps === null ||
    Object.entries(adamSteps).some(([k, v]) => !keys.includes(k) || !Number.isInteger(v) || (v as number) < 1)
  )
    bad('its AdamW step counts are invalid');
  const steps = adamSteps as Record<string, number>;
  const best = selection ? (parseJson(metadata.best, 'best epoch', bad) as { epoch?: unknown; accuracy?: unknown } | null) : null;
  if (
    selection &&
    (!best || !Number.isInteger(best.epoch) || (best.epoch as number) < 1 || (best.epoch as number) > epoch || !Number.isFinite(best.accuracy))
  )
    bad('its best epoch is invalid');
  const withGpa = metadata.gpa === 'true';
  if (withGpa !== (learner.epochWeights(epochs) !== null))
    bad(withGpa ? 'it holds prompt-aggregation sums this method does not use' : 'the prompt-aggregation sums are missing');
  for (const k of keys) {
    const shape = learner.params.get(k)!.shape;
    const checks: Array<[string, boolean]> = [
      [k, true],
      [`optimizer.momentum.${k}`, (momentum as string[]).includes(k)],
      [`gpa.${k}`, withGpa],
      [`optimizer.exp_avg.${k}`, k in steps],
      [`optimizer.exp_avg_sq.${k}`, k in steps],
      [`best.${k}`, selection !== null],
    ];
    for (const [name, expected] of checks) {
      const problem = expected ? tensorProblem(tensors.get(name), shape) : null;
      if (problem) bad(`tensor ${name} ${problem}`);
    }
  }
  const precision = metadata.precision ?? 'fp32';
  if (precision !== learner.model.precision.name) {
    throw new UserError(
      `${file}: checkpoint trained in ${precision}, but this run uses --precision ${learner.model.precision.name} (resume with the same precision, or delete the checkpoint to start over)`,
    );
  }
  let scaler: GradScalerState | null = null;
  if (learner.model.precision.lossScaling && metadata.grad_scaler !== undefined) {
    const s = parseJson(metadata.grad_scaler, 'loss-scaler state', bad) as Partial<GradScalerState> | null;
    if (!s || !(Number(s.scale) > 0) || !Number.isFinite(s.scale) || !Number.isInteger(s.growthTracker) || s.growthTracker! < 0)
      bad('its loss-scaler state is invalid');
    scaler = { scale: s!.scale!, growthTracker: s!.growthTracker! };
  }
  // Everything checked: only now is the learner's and the optimiser's state replaced.
  learner.loadStateDict(tensors, file);
  // momentum buffers and GPA sums live where, and in the dtype, their parameters do
  const like = (k: string, r: RawTensor) => tidy(() => tensor(r.data, r.shape, r.dtype).to(learner.params.get(k)!.dtype, learner.model.device));
  if (opt instanceof SGD) {
    const buffers = keys.map((k) => {
      const r = tensors.get(`optimizer.momentum.${k}`);
      return r ? like(k, r) : undefined;
    });
    opt.loadMomentumBuffers(buffers);
    buffers.forEach((b) => b?.dispose());
  } else {
    const states = keys.map((k) =>
      k in steps
        ? { step: steps[k], expAvg: like(k, tensors.get(`optimizer.exp_avg.${k}`)!), expAvgSq: like(k, tensors.get(`optimizer.exp_avg_sq.${k}`)!) }
        : undefined,
    );
    opt.loadStateList(states);
    states.forEach((st) => {
      st?.expAvg.dispose();
      st?.expAvgSq.dispose();
    });
  }
  if (selection && best)
    selection.restore(
      best.epoch as number,
      best.accuracy as number,
      keys.map((k) => like(k, tensors.get(`best.${k}`)!)),
    );
  const gpa = withGpa ? keys.map((k) => like(k, { ...tensors.get(`gpa.${k}`)!, shape: learner.params.get(k)!.shape }).keep()) : null;
  return { epoch, history, gpa, scaler };
}
