/**
 * Data-pipeline benchmark: images/s of the training pipeline (JPEG decode with sharp, RandomResizedCrop
 * with Pillow-exact bicubic resampling, flip, normalise, batching through the worker-thread loader) at
 * 224x224 output, on 500x375 JPEGs it generates in a temporary folder; also the evaluation pipeline and
 * the single-thread cost of decode and transform per image.
 *   node dist/bench/data.js [--json] [--images N] [--workers N] [--batch N] [--epochs N]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { decodeImage, evalTransform, sampleRng, trainTransform } from '../src/data/image.js';
import { DataLoader, defaultNumWorkers, type LoaderItem } from '../src/data/loader.js';

export interface DataBenchResult {
  images: number;
  source_size: string;
  output_size: number;
  workers: number;
  batch: number;
  cpus: number;
  train_images_per_s: number;
  eval_images_per_s: number;
  decode_ms: number;
  train_transform_ms: number;
  eval_transform_ms: number;
}

async function makeImages(dir: string, n: number): Promise<string[]> {
  const w = 500;
  const h = 375;
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    // Smooth gradients plus noise: compresses like a photo, not like a flat colour.
    const px = Buffer.alloc(w * h * 3);
    let s = (i + 1) * 2654435761;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        s = (s * 1103515245 + 12345) >>> 0;
        const o = (y * w + x) * 3;
        px[o] = (x + i * 13 + (s & 31)) & 255;
        px[o + 1] = (y + i * 7 + ((s >>> 5) & 31)) & 255;
        px[o + 2] = (x + y + ((s >>> 10) & 31)) & 255;
      }
    }
    const f = path.join(dir, `img_${i}.jpg`);
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toFile(f);
    files.push(f);
  }
  return files;
}

async function throughput(items: LoaderItem[], mode: 'train' | 'eval', workers: number, batch: number, epochs: number): Promise<number> {
  const loader = new DataLoader(items, { mode, batchSize: batch, imageSize: 224, seed: 1, numWorkers: workers });
  try {
    // Warm-up: start the workers and JIT-compile the hot loops.
    for await (const b of loader.batches(100)) void b;
    let n = 0;
    const t0 = process.hrtime.bigint();
    for (let e = 0; e < epochs; e++) for await (const b of loader.batches(e)) n += b.size;
    return n / (Number(process.hrtime.bigint() - t0) / 1e9);
  } finally {
    await loader.close();
  }
}

export async function runDataBench(options: { images?: number; workers?: number; batch?: number; epochs?: number } = {}): Promise<DataBenchResult> {
  const nImages = options.images ?? 200;
  const workers = options.workers ?? defaultNumWorkers();
  const batch = options.batch ?? 32;
  const epochs = options.epochs ?? 2;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mpl-bench-data-'));
  try {
    const files = await makeImages(dir, nImages);
    const items = files.map((impath, i) => ({ impath, label: i % 10 }));

    // Single-thread cost per image.
    const sample = files.slice(0, Math.min(40, files.length));
    for (const f of sample.slice(0, 5)) trainTransform(await decodeImage(f), 224, sampleRng(1, 0, 0)); // warm-up
    let t = process.hrtime.bigint();
    const decoded = [];
    for (const f of sample) decoded.push(await decodeImage(f));
    const decodeMs = Number(process.hrtime.bigint() - t) / 1e6 / sample.length;
    t = process.hrtime.bigint();
    decoded.forEach((img, i) => trainTransform(img, 224, sampleRng(1, 0, i)));
    const trainMs = Number(process.hrtime.bigint() - t) / 1e6 / sample.length;
    t = process.hrtime.bigint();
    for (const img of decoded) evalTransform(img, 224);
    const evalMs = Number(process.hrtime.bigint() - t) / 1e6 / sample.length;

    const train = await throughput(items, 'train', workers, batch, epochs);
    const evalRate = await throughput(items, 'eval', workers, batch, epochs);
    return {
      images: nImages,
      source_size: '500x375 JPEG q90',
      output_size: 224,
      workers,
      batch,
      cpus: typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
      train_images_per_s: Math.round(train),
      eval_images_per_s: Math.round(evalRate),
      decode_ms: Number(decodeMs.toFixed(2)),
      train_transform_ms: Number(trainMs.toFixed(2)),
      eval_transform_ms: Number(evalMs.toFixed(2)),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatDataBench(r: DataBenchResult): string {
  return [
    `data pipeline, ${r.images} x ${r.source_size} -> ${r.output_size}x${r.output_size}, ${r.workers} worker(s), batch ${r.batch}, ${r.cpus} CPU(s)`,
    `  training (decode + RandomResizedCrop + flip + normalise): ${r.train_images_per_s} images/s`,
    `  evaluation (decode + resize + centre crop + normalise):   ${r.eval_images_per_s} images/s`,
    `  one thread, per image: decode ${r.decode_ms} ms, train transform ${r.train_transform_ms} ms, eval transform ${r.eval_transform_ms} ms`,
  ].join('\n');
}

function argValue(name: string): number | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : undefined;
}

if (require.main === module) {
  runDataBench({ images: argValue('--images'), workers: argValue('--workers'), batch: argValue('--batch'), epochs: argValue('--epochs') }).then(
    (r) => console.log(process.argv.includes('--json') ? JSON.stringify(r) : formatDataBench(r)),
    (e) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
