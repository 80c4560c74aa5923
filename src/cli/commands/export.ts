import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { readSafetensors } from '../../io/safetensors.js';
import type { RawTensor } from '../../io/tensor.js';
import { PROMPTS_FILE, loadPrompts } from '../../prompting/checkpoint.js';
import { writeDasslCheckpoint } from '../../train/dassl.js';
import { writeTipAdapterFiles } from '../../train/tip-files.js';
import { designMethod, methodDef } from '../../prompting/methods/index.js';
import { knownArchitectures } from '../../backbones/clip/config.js';
import { CHECKPOINT_FILE } from '../../train/trainer.js';
import { UserError } from '../../util/errors.js';
import { intFlag } from '../flags.js';
import { exportPackage } from './packages.js';

/** `mpl export`: a run's prompts as an official Dassl checkpoint the PyTorch code loads. */
export function register(program: Command): void {
  program
    .command('export')
    .description("write learned prompts in the official code's format: a Dassl checkpoint (<out>/<ModelName>/model.pth.tar-N), or Tip-Adapter's cache files")
    .argument('<prompts>', 'a run folder or its prompts.safetensors (with prompts.json beside it)')
    .option('--out <dir>', "the official code's --model-dir (the checkpoint goes to <out>/<ModelName>/model.pth.tar-N); for Tip-Adapter its cache_dir (./caches/<dataset>)")
    .option('--package <dir>', 'instead: a prompt package (model card README.md, config.json, prompts.safetensors) in this folder')
    .option('--license <id>', 'with --package: the SPDX license of the prompts in the model card', 'mit')
    .option('--weights <file>', "with --package, for runs of earlier versions: the CLIP weights they were trained on (recent runs record their backbone's sha256)")
    .option('--force', 'with --package: replace a package already there')
    .option('--epoch <n>', 'the N of model.pth.tar-N (default: the epochs the run trained)', intFlag('--epoch', { max: 100_000 }))
    .addHelpText(
      'after',
      `
Example:
  mpl export runs/base2new/eurosat/mpl/seed1 --out dassl/eurosat/seed1
  # then, in the official repository:
  python train.py ... --trainer MPL --model-dir dassl/eurosat/seed1 --load-epoch 5 --eval-only
The state dict holds the trained tensors under the official keys; the optimizer and scheduler entries are
laid out as Dassl saves them (momentum buffers from the run's checkpoint). CLIP-Adapter: clip_adapter/model.pth.tar-N
(its adapter's fc.0.weight, fc.2.weight). Tip-Adapter(-F): keys_<K>shots.pt, values_<K>shots.pt (and
best_F_<K>shots.pt) for its main.py with load_cache: True. The linear probe has no official file (lpclip saves
no classifier). See docs/weights.md and docs/methods.md.`,
    )
    .addHelpText('after', `\nA prompt package (Hugging Face layout: model card, config.json, prompts.safetensors; docs/packages.md):\n  mpl export runs/base2new/eurosat/mpl/seed1 --package eurosat-mpl\n  mpl predict --model ViT-B/16 --prompts eurosat-mpl photo.jpg`)
    .action(async (target: string, f: { out?: string; epoch?: number; package?: string; license: string; force?: boolean; weights?: string }) => {
      if (f.package && (f.out || f.epoch !== undefined)) throw new UserError('--package writes a prompt package, --out (and --epoch) an official checkpoint: give one of them');
      if (f.package) return exportPackage(target, { ...f, package: f.package });
      if (!f.out) throw new UserError('give --out DIR (an official Dassl checkpoint) or --package DIR (a prompt package)');
      const file = fs.existsSync(target) && fs.statSync(target).isDirectory() ? path.join(target, PROMPTS_FILE) : target;
      const prompts = loadPrompts(file);
      if (!prompts.config) throw new UserError(`${file}: no prompts.json beside it; export needs the method it was trained with`);
      const method = prompts.config.method;
      const def = methodDef(method);
      if (!def.trainable) throw new UserError(`${file}: ${def.display.name} has no learned prompts to export`);
      if (def.export?.kind === 'none') throw new UserError(`${file}: ${def.display.name} has no official file to export: ${def.export.why}`);
      const dir = path.dirname(file);
      if (def.export?.kind === 'tip-adapter-cache') {
        const resultFile = path.join(dir, 'result.json');
        const shots = fs.existsSync(resultFile) ? (JSON.parse(fs.readFileSync(resultFile, 'utf8')) as { shots?: unknown }).shots : undefined;
        if (typeof shots !== 'number') throw new UserError(`${file}: no result.json with the run's shots beside it (the files are named keys_<K>shots.pt)`);
        // which tensor is the trained keys: the design says (on any architecture: only the key name is read)
        const trained = designMethod(method, {}, knownArchitectures['ViT-B/16']).featureCache?.trainableKeys;
        for (const out of writeTipAdapterFiles(f.out, prompts.tensors, shots, trained)) process.stdout.write(`wrote ${out}\n`);
        return;
      }
      // what the run recorded: its schedule (result.json) and optimiser state (checkpoint.safetensors)
      let config: Record<string, unknown> = {};
      const resultFile = path.join(dir, 'result.json');
      if (fs.existsSync(resultFile)) config = (JSON.parse(fs.readFileSync(resultFile, 'utf8')) as { config?: Record<string, unknown> }).config ?? {};
      let epoch = f.epoch;
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
      const warmup = (config.warmup ?? {}) as { epochs?: number; lr?: number };
      const out = writeDasslCheckpoint(f.out, {
        method,
        tensors: prompts.tensors,
        epoch,
        lr: (config.lr as number | undefined) ?? recipe.lr,
        epochs: (config.epochs as number | undefined) ?? recipe.epochs,
        momentum: config.momentum as number | undefined,
        weightDecay: config.weight_decay as number | undefined,
        warmupEpochs: warmup.epochs,
        warmupLr: warmup.lr,
        momentum_buffers: buffers.size ? buffers : undefined,
      });
      process.stdout.write(`wrote ${out}\n`);
    });
}
