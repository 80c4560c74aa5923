import type { Command } from 'commander';
import { pretrain } from '../../pretrain/pretrain.js';
import { TINY_CLIP, type PretrainRecipe } from '../../pretrain/recipe.js';
import { UserError } from '../../util/errors.js';
import { intFlag, MAX_SEED, numberFlag } from '../flags.js';
import { terminalReporter } from '../reporter.js';

interface PretrainFlags {
  out: string;
  steps?: number;
  batchSize?: number;
  lr?: number;
  warmup?: number;
  seed?: number;
  resume?: boolean;
  json?: boolean;
  quiet?: boolean;
}

/**
 * `mpl pretrain`: contrastive pretraining of the tiny CLIP on the synthetic world (src/pretrain). Without
 * flags it is the recipe of the shipped assets/tiny-clip/tiny-clip.safetensors (scripts/pretrain-tiny-clip).
 */
export function register(program: Command): void {
  program
    .command('pretrain')
    .description('pretrain the tiny CLIP from scratch on the synthetic shapes world (the recipe of assets/tiny-clip)')
    .option('--out <dir>', 'output folder: tiny-clip.safetensors, pretrain.json, log.txt, checkpoint.safetensors', 'output/tiny-clip')
    .option('--steps <n>', `optimiser steps (recipe: ${TINY_CLIP.steps})`, intFlag('--steps', { min: 1, max: 10_000_000 }))
    .option('--batch-size <n>', `image-caption pairs per step (recipe: ${TINY_CLIP.batchSize})`, intFlag('--batch-size', { min: 1, max: 65_536 }))
    .option('--lr <x>', `peak AdamW learning rate (recipe: ${TINY_CLIP.lr})`, numberFlag('--lr', { exclusiveMin: true }))
    .option('--warmup <n>', `linear warm-up steps (recipe: ${TINY_CLIP.warmupSteps})`, intFlag('--warmup', { max: 10_000_000 }))
    .option('--seed <n>', `seed of the weights and the data (recipe: ${TINY_CLIP.seed})`, intFlag('--seed', { max: MAX_SEED }))
    .option('--resume', 'continue from <out>/checkpoint.safetensors (same settings)')
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no per-step log on the terminal (log.txt still has it)')
    .addHelpText(
      'after',
      `
The data is generated on the fly (one shape per image, captions like "a photo of a small red striped star."),
so nothing is downloaded. A checkpoint is written every 100 steps; --resume continues a killed run exactly.
MPL_NUM_THREADS sets the threads (on a busy 2-core machine, 1 is often faster than 2).

Examples:
  mpl pretrain --out output/tiny-clip                  the shipped recipe (~30 min on 2 CPU cores)
  mpl pretrain --out output/tiny-clip --resume         continue after an interruption
  mpl pretrain --out /tmp/t --steps 200 --seed 2       a short run with another seed`,
    )
    .action(async (f: PretrainFlags) => {
      const recipe: PretrainRecipe = {
        ...TINY_CLIP,
        ...(f.steps !== undefined && { steps: f.steps }),
        ...(f.batchSize !== undefined && { batchSize: f.batchSize }),
        ...(f.lr !== undefined && { lr: f.lr }),
        ...(f.warmup !== undefined && { warmupSteps: f.warmup }),
        ...(f.seed !== undefined && { seed: f.seed }),
      };
      if (recipe.steps < 1) throw new UserError('--steps must be at least 1');
      if (recipe.batchSize < 2) throw new UserError('--batch-size must be at least 2 (the loss contrasts the pairs of a batch)');
      if (recipe.warmupSteps >= recipe.steps) throw new UserError(`--warmup (${recipe.warmupSteps}) must be smaller than --steps (${recipe.steps})`);
      const reporter = terminalReporter({ quiet: f.quiet });
      const r = await pretrain({ recipe, out: f.out, resume: f.resume, reporter });
      const z = r.zeroShot;
      if (f.json) {
        process.stdout.write(JSON.stringify({ weights: r.weights, steps: r.steps, seconds: r.seconds, zero_shot: z }) + '\n');
      } else {
        process.stdout.write(
          `${r.weights}\nzero-shot shape accuracy ${z.accuracy.toFixed(2)}% (seen combinations ${z.seen.toFixed(2)}%, held-out ${z.heldOut.toFixed(2)}%) after ${r.steps} steps, ${(r.seconds / 60).toFixed(1)} min\n`,
        );
      }
    });
}
