import type { Command } from 'commander';
import { writeSynthDataset } from '../../synth/dataset.js';
import { UserError } from '../../util/errors.js';
import { intFlag, MAX_SEED } from '../flags.js';

/** Adds `synth` to the `data` command (src/cli/commands/data.ts calls this): writes the synthshapes dataset. */
export function registerDataSynth(dataCommand: Command): void {
  dataCommand
    .command('synth')
    .description('generate the synthshapes classification dataset (12 shapes, the tiny CLIP\'s world) in CoOp\'s layout')
    .requiredOption('--root <dir>', 'data root: the dataset goes to <root>/synthshapes')
    .option('--seed <n>', 'seed of the images', intFlag('--seed', { max: MAX_SEED }), 1)
    .option('--train <n>', 'training images per class', intFlag('--train', { min: 1, max: 100_000 }), 32)
    .option('--val <n>', 'validation images per class', intFlag('--val', { max: 100_000 }), 8)
    .option('--test <n>', 'test images per class', intFlag('--test', { min: 1, max: 100_000 }), 50)
    .option('--size <n>', 'image side in pixels', intFlag('--size', { min: 16, max: 1024 }), 48)
    .option('--clutter <x>', 'background clutter (1 = as in pretraining)', (v: string) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new UserError(`--clutter must be a number >= 0, got '${v}'`);
      return n;
    }, 1)
    .option('--held-out-share <x>', "share of each class's images in the colour pretraining never showed that shape in", (v: string) => {
      const n = Number(v);
      if (!(n >= 0 && n <= 1)) throw new UserError(`--held-out-share must be a number in [0, 1], got '${v}'`);
      return n;
    }, 0.5)
    .option('--force', 'replace an existing synthshapes folder made with other settings')
    .addHelpText(
      'after',
      `
Classes are the shapes (arrow circle cross diamond heart hexagon | moon pentagon ring square star triangle:
base | new); each image has a random fill pattern, size, tilt and cluttered background, and half of the time
the colour the tiny CLIP never saw that shape in during pretraining (otherwise any colour).
Use it like any dataset: --dataset synthshapes --root <root>.

Examples:
  mpl data synth --root ~/data
  mpl base2new --weights assets/tiny-clip/tiny-clip.safetensors --dataset synthshapes --root ~/data --method mpl --depth 3 --epochs 10 --no-augment --seeds 1`,
    )
    .action(async (o: { root: string; seed: number; train: number; val: number; test: number; size: number; clutter: number; heldOutShare: number; force?: boolean }) => {
      const r = await writeSynthDataset(o.root, o);
      process.stdout.write(`${r.dir}: ${r.images} images${r.written ? '' : ' (already there, same settings)'}\n`);
    });
}
