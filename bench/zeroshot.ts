/**
 * Zero-shot evaluation throughput: a full-size ViT-B/16 CLIP with random weights, batch 100 like the
 * official test loader, class text features computed once; images/s beside plain PyTorch (OpenAI's model
 * definition) in the same run.
 *   node dist/bench/zeroshot.js [--json] [--reps N] [--batch B]     (or: npx mpl bench zeroshot --json)
 */
import { knownArchitectures } from '../src/clip/config.js';
import { ClipModel } from '../src/clip/model.js';
import { Generator, checkBlas, getNumThreads, nn, noGrad, randn, tidy, torchVersion } from '../src/torch/index.js';
import { runPython, torchAvailable } from './common.js';

export interface ZeroshotBenchResult {
  model: string;
  batch: number;
  batches: number;
  threads: number;
  libtorch: string;
  images_per_s: number;
  ms_per_batch: number;
  torch_version?: string;
  torch_images_per_s?: number;
  ratio?: number;
}

export function runZeroshotBench(options: { reps?: number; batch?: number; python?: boolean } = {}): ZeroshotBenchResult {
  checkBlas();
  const batches = options.reps ?? 2;
  const batch = options.batch ?? 100;
  const model = ClipModel.random(knownArchitectures['ViT-B/16'], 0);
  const g = new Generator(0);
  const text = tidy(() => nn.l2normalize(randn([10, 512], g))).keep();
  const images = randn([batch, 3, 224, 224], g).keep();
  const run = () => noGrad(() => tidy(() => void nn.l2normalize(model.encodeImage(images)).matmul(text.T).mul(100).argmax(-1).toArray()));
  noGrad(() => tidy(() => void model.encodeImage(images.narrow(0, 0, 2)))); // warm-up
  // the fastest of `batches` batches, as the PyTorch baseline reports (least disturbed by other load)
  let seconds = Infinity;
  for (let i = 0; i < batches; i++) {
    const t0 = process.hrtime.bigint();
    run();
    seconds = Math.min(seconds, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  images.dispose();
  text.dispose();
  model.dispose();
  const r: ZeroshotBenchResult = {
    model: 'ViT-B/16 (random weights)',
    batch,
    batches,
    threads: getNumThreads(),
    libtorch: torchVersion(),
    images_per_s: batch / seconds,
    ms_per_batch: seconds * 1000,
  };
  if (options.python !== false && torchAvailable()) {
    const py = runPython('zeroshot.py', [String(r.threads), String(batches), String(batch)]);
    r.torch_version = String(py.torch_version);
    r.torch_images_per_s = Number(py.torch_images_per_s);
    r.ratio = r.images_per_s / r.torch_images_per_s;
  }
  return r;
}

export function formatZeroshotBench(r: ZeroshotBenchResult): string {
  const lines = [
    `zero-shot evaluation: ${r.model}, batch ${r.batch} (fastest of ${r.batches}), libtorch ${r.libtorch}, ${r.threads} threads`,
    `  mpl      ${r.images_per_s.toFixed(2)} images/s (${r.ms_per_batch.toFixed(0)} ms per batch)`,
  ];
  if (r.torch_images_per_s !== undefined) {
    lines.push(`  PyTorch  ${r.torch_images_per_s.toFixed(2)} images/s (torch ${r.torch_version})`, `  ratio mpl/PyTorch throughput: ${r.ratio!.toFixed(3)}x`);
  } else lines.push('  (PyTorch baseline skipped: /usr/bin/python3 cannot import torch)');
  return lines.join('\n');
}

if (require.main === module) {
  const arg = (k: string) => {
    const i = process.argv.indexOf(k);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const r = runZeroshotBench({ reps: arg('--reps'), batch: arg('--batch') });
  console.log(process.argv.includes('--json') ? JSON.stringify(r) : formatZeroshotBench(r));
}
