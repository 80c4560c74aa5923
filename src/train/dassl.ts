/**
 * Learned prompts as an official Dassl checkpoint, `<dir>/<ModelName>/model.pth.tar-<epoch>`, laid out as
 * Dassl's `save_checkpoint` writes it: `{"state_dict", "epoch", "optimizer", "scheduler", "val_result"}`,
 * plus the `checkpoint` file naming it. The official trainers' `load_model` (their `--eval-only` and
 * `--model-dir` paths) loads it with `torch.load` and `load_state_dict(strict=False)`:
 *  - the model name and key prefix are each trainer's `register_model`: CoOp/CoCoOp register the prompt
 *    learner (keys `ctx`, `meta_net.*`), VPT the whole model as "prompt_learner", IVLP/PromptSRC the whole
 *    model as "VLPromptLearner", MaPLe/MPL as "MultiModalPromptLearner" (keys `prompt_learner.*`,
 *    `image_encoder.*`, `text_encoder.*`); only the trained tensors are written (the frozen CLIP weights and the
 *    token_prefix/suffix buffers, which load_model drops, are not);
 *  - `optimizer` is torch.optim.SGD's state dict over those tensors (momentum buffers when known);
 *  - `scheduler` holds Dassl's ConstantWarmupScheduler fields with its cosine successor as a plain dict (not a
 *    pickled object), so the file also loads with `torch.load(weights_only=True)`. Resuming official training
 *    from it is not supported: the official optimizer spans every CLIP parameter, frozen ones included.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RawTensor } from '../io/tensor.js';
import { PyDict, PyFloat, PyTensor, torchSave, type PyValue } from '../io/torchsave.js';
import { methodDef, type MethodName } from '../prompting/methods/index.js';
import { writeFileAtomic } from '../util/fs.js';
import { TRAIN_DEFAULTS } from './defaults.js';
import { lrAt } from './schedule.js';

/** The name the method's official trainer registers its model under (the checkpoint's folder); none for zero-shot CLIP. */
export function dasslModelName(method: MethodName): string | undefined {
  return methodDef(method).dassl.modelName;
}

export interface DasslExport {
  method: MethodName;
  /** the trained tensors under this tool's (official CustomCLIP) keys, e.g. prompt_learner.ctx */
  tensors: Map<string, RawTensor>;
  /** epochs trained: the file is model.pth.tar-<epoch> and stores epoch = <epoch>, as Dassl's epoch + 1 */
  epoch: number;
  /** the run's optimiser settings (the state dict records them) */
  lr: number;
  epochs: number;
  momentum?: number;
  weightDecay?: number;
  warmupEpochs?: number;
  warmupLr?: number;
  /** SGD momentum buffers by key, when the training checkpoint had them */
  momentum_buffers?: Map<string, RawTensor>;
}

/** The state-dict key the official trainer uses for one of this tool's keys. */
export function dasslKey(method: MethodName, key: string): string {
  const d = methodDef(method).dassl;
  if (d.bareKeys && key.startsWith('prompt_learner.')) return key.slice('prompt_learner.'.length);
  // a trainer that registers one sub-module (CLIP-Adapter: self.model.adapter) saves its keys without the prefix
  if (d.modulePrefix && key.startsWith(d.modulePrefix)) return key.slice(d.modulePrefix.length);
  return key;
}

/** The object torch.save writes for the checkpoint. */
export function dasslCheckpoint(x: DasslExport): PyValue {
  const keys = [...x.tensors.keys()];
  const momentum = x.momentum ?? TRAIN_DEFAULTS.momentum;
  const warmupEpochs = x.warmupEpochs ?? TRAIN_DEFAULTS.warmupEpochs;
  const warmupLr = x.warmupLr ?? TRAIN_DEFAULTS.warmupLr;
  const schedule = { epochs: x.epochs, lr: x.lr, warmupEpochs, warmupLr };
  // Dassl steps the scheduler after each epoch: after `epoch` epochs the optimiser holds the next epoch's rate
  const current = lrAt(x.epoch + 1, schedule);
  const state = new PyDict(
    keys.flatMap((k, i): Array<[number, PyValue]> => {
      const b = x.momentum_buffers?.get(k);
      return b ? [[i, new PyDict([['momentum_buffer', new PyTensor(b)]])]] : [];
    }),
  );
  const group = new PyDict([
    ['lr', new PyFloat(current)],
    ['momentum', new PyFloat(momentum)],
    ['dampening', 0],
    ['weight_decay', new PyFloat(x.weightDecay ?? TRAIN_DEFAULTS.weightDecay)],
    ['nesterov', false],
    ['maximize', false],
    ['foreach', null],
    ['differentiable', false],
    ['initial_lr', new PyFloat(x.lr)],
    ['params', keys.map((_, i) => i)],
  ]);
  const afterWarmup = Math.max(0, x.epoch - warmupEpochs);
  const cosine = new PyDict([
    ['T_max', x.epochs],
    ['eta_min', 0],
    ['base_lrs', [new PyFloat(x.lr)]],
    ['last_epoch', afterWarmup],
    ['verbose', false],
    ['_step_count', afterWarmup + 1],
    ['_get_lr_called_within_step', false],
    ['_last_lr', [new PyFloat(current)]],
  ]);
  const scheduler = new PyDict([
    ['successor', cosine],
    ['warmup_epoch', warmupEpochs],
    ['cons_lr', new PyFloat(warmupLr)],
    ['base_lrs', [new PyFloat(x.lr)]],
    ['last_epoch', x.epoch],
    ['verbose', false],
    ['_step_count', x.epoch + 1],
    ['_get_lr_called_within_step', false],
    ['_last_lr', [new PyFloat(current)]],
  ]);
  return new PyDict([
    ['state_dict', new PyDict(keys.map((k) => [dasslKey(x.method, k), new PyTensor(x.tensors.get(k)!)]), true)],
    ['epoch', x.epoch],
    ['optimizer', new PyDict([['state', state], ['param_groups', [group]]])],
    ['scheduler', scheduler],
    ['val_result', null],
  ]);
}

/** Writes `<dir>/<ModelName>/model.pth.tar-<epoch>` and Dassl's `checkpoint` file; returns the checkpoint's path. */
export function writeDasslCheckpoint(dir: string, x: DasslExport): string {
  const model = dasslModelName(x.method);
  if (!model) throw new Error(`${x.method} has no prompts to export`);
  const folder = path.join(dir, model);
  fs.mkdirSync(folder, { recursive: true });
  const name = `model.pth.tar-${x.epoch}`;
  const file = path.join(folder, name);
  torchSave(file, dasslCheckpoint(x));
  writeFileAtomic(path.join(folder, 'checkpoint'), `${name}\n`);
  return file;
}
