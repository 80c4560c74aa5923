import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { readSafetensors } from '../../io/safetensors.js';
import type { RawTensor } from '../../io/tensor.js';
import { PROMPTS_FILE, loadPrompts } from '../../prompting/checkpoint.js';
import { writeDasslCheckpoint } from '../../train/dassl.js';
import { writeTipAdapterFiles } from '../../train/tip-files.js';
import { checkMethod, designMethod, methodDef } from '../../prompting/methods/index.js';
import { knownArchitectures } from '../../backbones/clip/config.js';
import { findResultFiles, readResultFile } from '../../report/result-files.js';
import { officialFolders, writeOfficialLayout } from '../../eval/dassl-layout.js';
import { CHECKPOINT_FILE } from '../../train/checkpoint.js';
import { recordedValue, runSetting, type RunSettingKey } from '../../eval/run-settings.js';
import { UserError } from '../../util/errors.js';
import { intFlag } from '../flags.js';
import { exportPackage } from './packages.js';

/**
 * A run's prompts (`file`: prompts.safetensors with prompts.json beside it) as an official Dassl checkpoint
 * `<out>/<ModelName>/model.pth.tar-N`; returns that file.
 */
function exportCheckpoint(file: string, out: string, epochFlag?: number): string {
  const prompts = loadPrompts(file);
  if (!prompts.config) throw new UserError(`${file}: no prompts.json beside it; export needs the method it was trained with`);
  const method = prompts.config.method;
  if (!methodDef(method).trainable) throw new UserError(`${file}: ${methodDef(method).display.name} has no learned prompts to export`);
  const dir = path.dirname(file);
  // what the run recorded: its schedule (result.json) and optimiser state (checkpoint.safetensors)
  let config: Record<string, unknown> = {};
  const resultFile = path.join(dir, 'result.json');
  if (fs.existsSync(resultFile)) config = (JSON.parse(fs.readFileSync(resultFile, 'utf8')) as { config?: Record<string, unknown> }).config ?? {};
  let epoch = epochFlag;
  const buffers = new Map<string, RawTensor>();
  const ckpt = path.join(dir, CHECKPOINT_FILE);
  if (fs.existsSync(ckpt)) {
    const { tensors, metadata } = readSafetensors(ckpt);
    epoch ??= Number(metadata.epoch);
    for (const [k, t] of tensors) if (k.startsWith('optimizer.momentum.')) buffers.set(k.slice('optimizer.momentum.'.length), t);
  }
  epoch ??= typeof config.epochs === 'number' ? config.epochs : undefined;
  if (epoch === undefined || !Number.isInteger(epoch)) throw new UserError(`${file}: cannot tell how many epochs were trained (no checkpoint or result.json beside it); give --epoch N`);
  const recipe = methodDef(method).recipe;
  // the run's recorded settings (the settings table says where each is recorded); lr and epochs else the recipe's
  const setting = (k: RunSettingKey) => recordedValue(config, runSetting(k).recorded!) as number | undefined;
  const orRecipe = (k: RunSettingKey) => setting(k) ?? (runSetting(k).default!(recipe) as number);
  return writeDasslCheckpoint(out, {
    method,
    tensors: prompts.tensors,
    epoch,
    lr: orRecipe('lr'),
    epochs: orRecipe('epochs'),
    momentum: setting('momentum'),
    weightDecay: setting('weightDecay'),
    warmupEpochs: setting('warmupEpochs'),
    warmupLr: setting('warmupLr'),
    momentum_buffers: buffers.size ? buffers : undefined,
  });
}

/**
 * A run's prompts in its method's official files: Tip-Adapter's cache files (keys_<K>shots.pt, ...), or a Dassl
 * checkpoint (exportCheckpoint); a method with no official file is refused with the reason. Returns the files.
 */
function exportOfficialFiles(file: string, out: string, epochFlag?: number): string[] {
  const prompts = loadPrompts(file);
  if (!prompts.config) throw new UserError(`${file}: no prompts.json beside it; export needs the method it was trained with`);
  const method = prompts.config.method;
  const def = methodDef(method);
  if (!def.trainable) throw new UserError(`${file}: ${def.display.name} has no learned prompts to export`);
  if (def.export?.kind === 'none') throw new UserError(`${file}: ${def.display.name} has no official file to export: ${def.export.why}`);
  if (def.export?.kind === 'tip-adapter-cache') {
    const resultFile = path.join(path.dirname(file), 'result.json');
    const shots = fs.existsSync(resultFile) ? (JSON.parse(fs.readFileSync(resultFile, 'utf8')) as { shots?: unknown }).shots : undefined;
    if (typeof shots !== 'number') throw new UserError(`${file}: no result.json with the run's shots beside it (the files are named keys_<K>shots.pt)`);
    // which tensor is the trained keys: the design says (on any architecture: only the key name is read)
    const trained = designMethod(method, {}, knownArchitectures['ViT-B/16']).featureCache?.trainableKeys;
    return writeTipAdapterFiles(out, prompts.tensors, shots, trained);
  }
  return [exportCheckpoint(file, out, epochFlag)];
}

/**
 * `mpl export RUNS --official-layout --out output/`: every run under RUNS where the official scripts put it
 * (src/eval/dassl-layout.ts): training folders with the run's log.txt and the Dassl checkpoint, test folders
 * with the evaluation-only log. Prints each folder written.
 */
function exportOfficialLayout(target: string, out: string): void {
  const files = findResultFiles([target]);
  if (files.length === 0) throw new UserError(`${target}: no result.json under it (a finished run folder, or a folder of runs)`);
  const from = new Map<string, string>(); // official folder → the run written there
  for (const resultFile of files) {
    const r = readResultFile(resultFile);
    const runDir = path.dirname(resultFile);
    for (const f of officialFolders(out, r)) {
      const other = from.get(f.dir);
      // two configurations whose readable tags agree (the hash tells them apart here, not there)
      if (other) throw new UserError(`${other} and ${runDir} would both go to ${f.dir} (same tag, other settings): export them to different --out folders`);
      from.set(f.dir, runDir);
    }
    const def = methodDef(checkMethod(r.method));
    if (!def.trainable) {
      process.stderr.write(`skipping ${runDir}: ${def.display.name} has no learned prompts (the official code evaluates it with --eval-only)\n`);
      continue;
    }
    if (def.export) {
      // Tip-Adapter's and lpclip's official code is not Dassl: it has no such folders (mpl export RUN --out for its files)
      process.stderr.write(`skipping ${runDir}: ${def.display.name}'s official code does not write Dassl's output layout\n`);
      continue;
    }
    const dirs = writeOfficialLayout(runDir, r, out, (dir) => exportCheckpoint(path.join(runDir, PROMPTS_FILE), dir));
    for (const d of dirs) process.stdout.write(`wrote ${d}/\n`);
  }
}

/** `mpl export`: a run's prompts as an official Dassl checkpoint the PyTorch code loads. */
export function register(program: Command): void {
  program
    .command('export')
    .description("write learned prompts in the official code's format (a Dassl checkpoint <out>/<ModelName>/model.pth.tar-N, or Tip-Adapter's cache files), runs in the official output layout, or a prompt package")
    .argument('<prompts>', 'a run folder or its prompts.safetensors (with prompts.json beside it); with --official-layout, a run folder or a folder of runs')
    .option('--out <dir>', "the official code's --model-dir (the checkpoint goes to <out>/<ModelName>/model.pth.tar-N); for Tip-Adapter its cache_dir (./caches/<dataset>); with --official-layout, the official output/ folder")
    .option('--package <dir>', 'instead: a prompt package (model card README.md, config.json, prompts.safetensors) in this folder')
    .option('--license <id>', 'with --package: the SPDX license of the prompts in the model card', 'mit')
    .option('--weights <file>', "with --package, for runs of earlier versions: the CLIP weights they were trained on (recent runs record their backbone's sha256)")
    .option('--force', 'with --package: replace a package already there')
    .option('--epoch <n>', 'the N of model.pth.tar-N (default: the epochs the run trained)', intFlag('--epoch', { max: 100_000 }))
    .option('--official-layout', "write every run under <prompts> where the official scripts put it (output/base2new/train_base/<dataset>/shots_<k>/<TRAINER>/<cfg>/seed<N>, test_new/..., crossdataset/...): logs and checkpoints, for their parse_test_res.py")
    .addHelpText(
      'after',
      `
Examples:
  mpl export runs/base2new/photos/shots_16/mpl/*/seed1 --out dassl/photos/seed1
  # then, in the official repository:
  python train.py ... --trainer MPL --model-dir dassl/photos/seed1 --load-epoch 5 --eval-only
  mpl export runs --official-layout --out official
  # then: python parse_test_res.py official/base2new/train_base/photos/shots_16/MPL/<cfg>
  #       python parse_test_res.py official/base2new/test_new/photos/shots_16/MPL/<cfg> --test-log
The state dict holds the trained tensors under the official keys; the optimizer and scheduler entries are
laid out as Dassl saves them (momentum buffers from the run's checkpoint). CLIP-Adapter: clip_adapter/model.pth.tar-N
(its adapter's fc.0.weight, fc.2.weight). Tip-Adapter(-F): keys_<K>shots.pt, values_<K>shots.pt (and
best_F_<K>shots.pt) for its main.py with load_cache: True. The linear probe has no official file (lpclip saves
no classifier). See docs/weights.md, docs/methods.md and docs/reports.md (the official layout).`,
    )
    .addHelpText('after', `\nA prompt package (Hugging Face layout: model card, config.json, prompts.safetensors; docs/packages.md):\n  mpl export runs/base2new/photos/shots_16/mpl/*/seed1 --package photos-prompts\n  mpl predict --model ViT-B/16 --prompts photos-prompts photo.jpg`)
    .action(async (target: string, f: { out?: string; epoch?: number; package?: string; license: string; force?: boolean; weights?: string; officialLayout?: boolean }) => {
      if (f.package && (f.out || f.epoch !== undefined || f.officialLayout)) throw new UserError('--package writes a prompt package, --out (with --epoch or --official-layout) official files: give one of them');
      if (f.package) return exportPackage(target, { ...f, package: f.package });
      if (!f.out) throw new UserError('give --out DIR (official files) or --package DIR (a prompt package)');
      if (f.officialLayout) {
        if (f.epoch !== undefined) throw new UserError('--epoch does not go with --official-layout (each run exports the epochs it trained)');
        exportOfficialLayout(target, f.out);
        return;
      }
      const file = fs.existsSync(target) && fs.statSync(target).isDirectory() ? path.join(target, PROMPTS_FILE) : target;
      for (const out of exportOfficialFiles(file, f.out, f.epoch)) process.stdout.write(`wrote ${out}\n`);
    });
}
