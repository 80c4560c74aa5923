/**
 * The experiment behind docs/siglip.md's decision on where SigLIP's vision prompts go: with no class token, the
 * prompts appended after the patch tokens either stay in the sequence the attention-pooling probe reads
 * (`poolPrompts` true) or are dropped before post_layernorm and the probe (false). Base-to-new on SynthShapes
 * (the generated dataset of the tiny CLIP's world), VPT-deep and MPL, three seeds each, on the tiny random
 * SigLIP of test/fixtures/siglip (random weights: what it measures is how well each placement lets the prompts
 * adapt a fixed encoder, not transfer from pretraining). Prints one JSON line per setting.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/siglip-pooling.js [--epochs 10] [--seeds 3] [--out DIR]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../src/backbones/index.js';
import type { SiglipModel } from '../src/backbones/siglip/model.js';
import { runBase2New } from '../src/eval/protocols.js';
import { writeSynthDataset } from '../src/synth/dataset.js';
import { setNumThreads } from '../src/torch/index.js';
import type { MethodName } from '../src/prompting/methods/index.js';

async function main(): Promise<void> {
  const arg = (k: string, d: string) => {
    const i = process.argv.indexOf(k);
    return i >= 0 ? process.argv[i + 1]! : d;
  };
  const epochs = Number(arg('--epochs', '10'));
  const seeds = Array.from({ length: Number(arg('--seeds', '3')) }, (_, i) => i + 1);
  const out = arg('--out', fs.mkdtempSync(path.join(os.tmpdir(), 'mpl-siglip-pooling-')));
  const root = path.join(out, 'data');
  setNumThreads(1);
  await writeSynthDataset(root, {});
  const repo = path.resolve(__dirname, '..', '..');
  const siglip = path.join(repo, 'test', 'fixtures', 'siglip', 'tiny-siglip');
  const methods: Array<[MethodName, Record<string, unknown>]> = [
    ['vpt', { depthVision: 3, nCtxVision: 4 }],
    ['mpl', { depth: 3 }],
  ];
  for (const pool of [true, false]) {
    const loaded = await loadModel({ weights: siglip });
    (loaded.model as SiglipModel).poolPrompts = pool;
    for (const [method, methodOptions] of methods) {
      const runs = await runBase2New({
        model: loaded.model,
        backbone: `tiny-siglip-pool-${pool ? 'kept' : 'dropped'}`,
        method,
        methodOptions,
        root,
        dataset: 'synthshapes',
        seeds,
        epochs,
        out: path.join(out, pool ? 'kept' : 'dropped'),
        augment: false,
        numWorkers: 1,
      });
      const stat = (k: 'base' | 'new' | 'hm') => {
        const xs = runs.map((r) => r[k] as number);
        const m = xs.reduce((a, x) => a + x, 0) / xs.length;
        const sd = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / Math.max(1, xs.length - 1));
        return { mean: Number(m.toFixed(2)), sd: Number(sd.toFixed(2)), per_seed: xs.map((x) => Number(x.toFixed(2))) };
      };
      process.stdout.write(JSON.stringify({ model: 'tiny-siglip', prompts_in_pool: pool, method, epochs, seeds: runs.length, base: stat('base'), new: stat('new'), hm: stat('hm') }) + '\n');
    }
    loaded.model.dispose();
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
