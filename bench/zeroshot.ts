/**
 * Zero-shot evaluation throughput: a full-size ViT-B/16 CLIP with random weights, batch 100 like the
 * official test loader, class text features computed once, batches copied from host memory; images/s on a
 * device in a precision, beside plain PyTorch (OpenAI's model definition) in fp32 and, for another
 * precision, in that precision, in the same run.
 *   npx mpl bench zeroshot --device cuda --precision fp16 --json
 */
import { knownArchitectures } from '../src/backbones/clip/config.js';
import { ClipModel } from '../src/backbones/clip/model.js';
import { Generator, checkBlas, getNumThreads, isCuda, nn, noGrad, randn, tensor, tidy, torchVersion, type Device, type PrecisionName } from '../src/torch/index.js';
import { runPython, torchAvailable, type BenchTarget } from './common.js';

export interface ZeroshotBenchResult {
  model: string;
  device: Device;
  device_name: string;
  precision: PrecisionName;
  batch: number;
  batches: number;
  threads: number;
  libtorch: string;
  images_per_s: number;
  ms_per_batch: number;
  torch_version?: string;
  /** PyTorch in fp32 on the same device */
  torch_images_per_s?: number;
  /** PyTorch in the same precision (when not fp32) */
  torch_same_precision_images_per_s?: number;
  /** mpl / PyTorch in the same precision */
  ratio?: number;
  ratio_vs_fp32?: number;
}

export function runZeroshotBench(options: { reps?: number; batch?: number; python?: boolean } & BenchTarget = {}): ZeroshotBenchResult {
  const { device, precision, deviceName } = options.target ?? { device: 'cpu', precision: 'fp32', deviceName: 'cpu' };
  if (!isCuda(device)) checkBlas();
  const batches = options.reps ?? (isCuda(device) ? 10 : 2);
  const batch = options.batch ?? 100;
  const model = ClipModel.random(knownArchitectures['ViT-B/16'], 0, { device, precision });
  const g = new Generator(0);
  const text = tidy(() => nn.l2normalize(randn([10, 512], g)).to(model.dtype, device)).keep();
  const host = tidy(() => randn([batch, 3, 224, 224], g).toFloat32());
  const run = () =>
    noGrad(() =>
      tidy(() => {
        const images = tensor(host, [batch, 3, 224, 224], 'float32', device);
        void nn.l2normalize(model.encodeImage(images)).matmul(text.T).mul(100).argmax(-1).toArray();
      }),
    );
  run(); // warm-up
  // the fastest of `batches` batches, as the PyTorch baseline reports (least disturbed by other load)
  let seconds = Infinity;
  for (let i = 0; i < batches; i++) {
    const t0 = process.hrtime.bigint();
    run();
    seconds = Math.min(seconds, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  text.dispose();
  model.dispose();
  const r: ZeroshotBenchResult = {
    model: 'ViT-B/16 (random weights)',
    device,
    device_name: deviceName,
    precision,
    batch,
    batches,
    threads: getNumThreads(),
    libtorch: torchVersion(),
    images_per_s: batch / seconds,
    ms_per_batch: seconds * 1000,
  };
  if (options.python !== false && torchAvailable()) {
    const args = (p: PrecisionName) => [String(r.threads), String(batches), String(batch), device, p];
    const py = runPython('zeroshot.py', args('fp32'));
    r.torch_version = String(py.torch_version);
    r.torch_images_per_s = Number(py.torch_images_per_s);
    r.ratio_vs_fp32 = r.images_per_s / r.torch_images_per_s;
    if (precision === 'fp32') r.ratio = r.ratio_vs_fp32;
    else {
      try {
        r.torch_same_precision_images_per_s = Number(runPython('zeroshot.py', args(precision)).torch_images_per_s);
        r.ratio = r.images_per_s / r.torch_same_precision_images_per_s;
      } catch {
        // PyTorch cannot run this precision here (e.g. 1.13 has no CPU float16 matmul): fp32 baseline only
      }
    }
  }
  return r;
}

export function formatZeroshotBench(r: ZeroshotBenchResult): string {
  const lines = [
    `zero-shot evaluation: ${r.model}, batch ${r.batch} (fastest of ${r.batches}), ${r.precision} on ${r.device_name}, libtorch ${r.libtorch}, ${r.threads} threads`,
    `  mpl ${r.precision.padEnd(5)}     ${r.images_per_s.toFixed(2)} images/s (${r.ms_per_batch.toFixed(0)} ms per batch)`,
  ];
  if (r.torch_images_per_s !== undefined) {
    if (r.torch_same_precision_images_per_s !== undefined) lines.push(`  PyTorch ${r.precision.padEnd(5)} ${r.torch_same_precision_images_per_s.toFixed(2)} images/s`);
    lines.push(`  PyTorch fp32    ${r.torch_images_per_s.toFixed(2)} images/s (torch ${r.torch_version})`);
    if (r.ratio !== undefined) lines.push(`  ratio mpl/PyTorch, same precision: ${r.ratio.toFixed(3)}x`);
    if (r.precision !== 'fp32') lines.push(`  ratio mpl ${r.precision}/PyTorch fp32: ${r.ratio_vs_fp32!.toFixed(3)}x`);
  } else lines.push('  (PyTorch baseline skipped: the baseline interpreter cannot import torch; set MPL_BENCH_PYTHON)');
  return lines.join('\n');
}


