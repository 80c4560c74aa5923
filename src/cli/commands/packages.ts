/**
 * Prompt packages on the command line (src/packages/): `mpl export RUN --package DIR` (the export command calls
 * exportPackage) and `mpl import CHECKPOINT --package DIR`, an official Dassl checkpoint made a package.
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { readClipConfig } from '../../backbones/clip/weights.js';
import { loadDataset } from '../../data/dataset.js';
import type { Subsample } from '../../data/types.js';
import { resolveWeightsPath } from '../../net/hub.js';
import { weightsSha256 } from '../../net/digest.js';
import { exportRunPackage } from '../../packages/export.js';
import { importDasslCheckpoint } from '../../packages/import.js';
import type { PackageConfig } from '../../packages/package.js';
import { UserError } from '../../util/errors.js';
import { addComputeOptions, computeFrom, type ComputeFlags } from '../compute-options.js';
import { addMethodOptions, methodFrom, type MethodFlags } from '../method-options.js';
import { modelFrom } from '../model.js';
import { terminalReporter } from '../reporter.js';

const SPDX = /^[A-Za-z0-9][A-Za-z0-9.+-]*$/;

function checkLicense(license: string): string {
  if (!SPDX.test(license)) throw new UserError(`--license must be an SPDX identifier such as mit, apache-2.0 or cc-by-4.0, got '${license}'`);
  return license;
}

function summary(dir: string, c: PackageConfig): string {
  return `wrote ${dir}: ${c.method} prompts for ${c.backbone.name} (sha256 ${c.backbone.sha256.slice(0, 12)}…), ${c.classnames.length} classes (README.md, config.json, prompts.safetensors)\n`;
}

/** `mpl export RUN --package DIR`: the run's prompts, config and model card as a package. */
export async function exportPackage(target: string, f: { package: string; license: string; force?: boolean; weights?: string }): Promise<void> {
  let backbone;
  if (f.weights) {
    const file = resolveWeightsPath(f.weights);
    backbone = { name: path.basename(f.weights), sha256: await weightsSha256(file), architecture: readClipConfig(file) };
  }
  const config = exportRunPackage(target, f.package, { license: checkLicense(f.license), force: f.force, backbone });
  process.stdout.write(summary(f.package, config));
}

interface ImportFlags extends MethodFlags, ComputeFlags {
  package: string;
  weights?: string;
  model?: string;
  classes?: string;
  dataset?: string;
  root?: string;
  subsample: string;
  license: string;
  force?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('import')
    .description('an official Dassl checkpoint (model.pth.tar-N) as a prompt package: model card, config.json, prompts.safetensors')
    .argument('<checkpoint>', 'model.pth.tar-N of the official code (or any prompts file with official keys)')
    .requiredOption('--package <dir>', 'the package folder to write')
    .option('--weights <file>', 'the CLIP weights the checkpoint was trained on')
    .option('--model <name>', 'the CLIP it was trained on, by name (ViT-B/16, ...)')
    .option('--classes <list>', 'its class names, comma-separated, in training order')
    .option('--dataset <name>', "the dataset it was trained on: its classes (with --root) and the card's dataset")
    .option('--root <dir>', "CoOp's data folder (with --dataset, to read the class names)")
    .option('--subsample <classes>', 'base, new or all classes of --dataset (base2new checkpoints: base)', 'all')
    .option('--license <id>', 'SPDX license of the prompts, in the model card', 'mit')
    .option('--force', 'replace a package already in --package');
  addMethodOptions(addComputeOptions(cmd))
    .addHelpText(
      'after',
      `
The method and its options are read off the tensors' shapes (give --method and its flags when they fit several
methods). Every tensor is checked against the model before anything is written.

Examples:
  mpl import output/base2new/train_base/eurosat/shots_16/MPL/seed1/MultiModalPromptLearner/model.pth.tar-5 \\
    --model ViT-B/16 --dataset eurosat --root ~/data --subsample base --package eurosat-mpl
  mpl predict --model ViT-B/16 --prompts eurosat-mpl photo.jpg`,
    )
    .action(async (checkpoint: string, f: ImportFlags) => {
      if (!['base', 'new', 'all'].includes(f.subsample)) throw new UserError(`--subsample must be base, new or all, got '${f.subsample}'`);
      let classnames = f.classes ? f.classes.split(',').map((c) => c.trim()).filter(Boolean) : [];
      if (classnames.length === 0) {
        if (!f.dataset || !f.root) throw new UserError('give the class names: --classes "a,b,c" or --dataset NAME --root DIR (--subsample base for base2new)');
        classnames = loadDataset(f.dataset, { root: f.root, subsample: f.subsample as Subsample, cacheFewshot: 'read-only', reporter: terminalReporter({ quiet: true }) }).classnames;
      }
      const given = f.method ? methodFrom(f) : { method: undefined, options: methodFrom({ ...f, method: 'coop' }, { check: false }).options };
      const options = Object.fromEntries(Object.entries(given.options).filter(([, v]) => v !== undefined));
      const loaded = await modelFrom(f, computeFrom(f));
      try {
        const config = await importDasslCheckpoint(checkpoint, f.package, {
          model: loaded,
          classnames,
          method: given.method,
          options,
          dataset: f.dataset,
          license: checkLicense(f.license),
          force: f.force,
        });
        process.stdout.write(summary(f.package, config));
      } finally {
        loaded.model.dispose();
      }
    });
}
