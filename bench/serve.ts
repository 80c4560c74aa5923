/**
 * `mpl serve` speed for one image per request, on the CPU: the HTTP server of src/serve/ in this process with MPL
 * prompts (seeded initial values: the speed does not depend on them) and 10 classes, answering a 500x375 JPEG.
 * Beside it, in the same run, the same work without HTTP: the model alone on a preprocessed image, and decoding +
 * preprocessing + model through the library, so the cost of the server itself is visible.
 *
 *   node dist/bench/serve.js --model tiny        # the shipped tiny CLIP (assets/tiny-clip)
 *   node dist/bench/serve.js --model vit-b16     # a full-size ViT-B/16 with random weights
 *   options: --requests N (sequential, default 40), --concurrency C --per-client M (default 8 x 10), --json
 */
import * as path from 'node:path';
import sharp from 'sharp';
import { knownArchitectures } from '../src/backbones/clip/config.js';
import { ClipModel } from '../src/backbones/clip/model.js';
import { loadClip } from '../src/backbones/clip/load.js';
import { makePreprocess } from '../src/backbones/clip/preprocess.js';
import { ClipTokenizer } from '../src/backbones/clip/tokenizer.js';
import { loadEvalImageBytes } from '../src/data/image.js';
import { PromptLearner } from '../src/prompting/learner.js';
import { PredictionServer } from '../src/serve/server.js';
import { Classifier } from '../src/train/classifier.js';
import { checkBlas, getNumThreads, torchVersion } from '../src/torch/index.js';
import { benchDir } from './common.js';

export interface ServeBenchResult {
  model: string;
  threads: number;
  libtorch: string;
  image: string;
  /** the model alone on one preprocessed image (median ms) */
  model_ms: number;
  /** decode + preprocess + model through the library, no HTTP (median ms) */
  library_ms: number;
  /** one request at a time */
  sequential: { requests: number; requests_per_s: number; p50_ms: number; p95_ms: number };
  /** `concurrency` clients, each sending its requests one after the other */
  concurrent: { clients: number; requests: number; requests_per_s: number; p50_ms: number; p95_ms: number; batches: number };
}

const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const median = (xs: number[]) => quantile([...xs].sort((a, b) => a - b), 0.5);

async function photo(): Promise<Buffer> {
  // a smooth colour field with noise, compressed like a photograph
  const w = 500;
  const h = 375;
  const px = Buffer.alloc(w * h * 3);
  let s = 1;
  for (let i = 0; i < w * h; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const x = i % w;
    const y = Math.floor(i / w);
    px[3 * i] = (x * 255) / w + (s % 32);
    px[3 * i + 1] = (y * 255) / h + ((s >> 5) % 32);
    px[3 * i + 2] = 128 + ((s >> 10) % 64);
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

export async function runServeBench(o: { model: 'tiny' | 'vit-b16'; requests?: number; clients?: number; perClient?: number }): Promise<ServeBenchResult> {
  checkBlas();
  const model =
    o.model === 'tiny'
      ? (await loadClip({ weights: path.join(path.dirname(benchDir()), 'assets', 'tiny-clip', 'tiny-clip.safetensors'), precision: 'fp32' })).model
      : ClipModel.random(knownArchitectures['ViT-B/16'], 0, { precision: 'fp32' });
  const learner = new PromptLearner(model, ClipTokenizer.default(), 'mpl', CLASSES, { seed: 1, ...(o.model === 'tiny' ? { depth: 3 } : {}) });
  const classifier = new Classifier(learner);
  const jpeg = await photo();
  const size = model.imageSize;
  try {
    const pixels = await loadEvalImageBytes('photo.jpg', jpeg, size);
    classifier.probabilities([pixels]); // warm-up
    const timeMs = async (fn: () => unknown, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await fn();
        out.push(performance.now() - t0);
      }
      return median(out);
    };
    const reps = o.model === 'tiny' ? 40 : 8;
    const modelMs = await timeMs(() => classifier.probabilities([pixels]), reps);
    const libraryMs = await timeMs(async () => classifier.probabilities([await loadEvalImageBytes('photo.jpg', jpeg, size)]), reps);

    const server = new PredictionServer(classifier, { port: 0, preprocess: makePreprocess(size), info: { model: o.model } });
    const url = await server.listen();
    const post = async () => {
      const t0 = performance.now();
      const r = await fetch(`${url}predict`, { method: 'POST', body: jpeg, headers: { 'content-type': 'image/jpeg' } });
      if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
      await r.json();
      return performance.now() - t0;
    };
    try {
      await post(); // warm-up (connection, first request)
      const requests = o.requests ?? (o.model === 'tiny' ? 40 : 10);
      const seq: number[] = [];
      const s0 = performance.now();
      for (let i = 0; i < requests; i++) seq.push(await post());
      const seqSeconds = (performance.now() - s0) / 1000;
      const clients = o.clients ?? 8;
      const perClient = o.perClient ?? (o.model === 'tiny' ? 10 : 3);
      const health = async () => ((await (await fetch(`${url}health`)).json()) as { stats: { batches: number } }).stats.batches;
      const batchesBefore = await health();
      const conc: number[] = [];
      const c0 = performance.now();
      await Promise.all(
        Array.from({ length: clients }, async () => {
          for (let i = 0; i < perClient; i++) conc.push(await post());
        }),
      );
      const concSeconds = (performance.now() - c0) / 1000;
      const batches = (await health()) - batchesBefore;
      seq.sort((a, b) => a - b);
      conc.sort((a, b) => a - b);
      return {
        model: o.model === 'tiny' ? 'tiny CLIP (assets/tiny-clip), MPL depth 3' : 'ViT-B/16 (random weights), MPL defaults',
        threads: getNumThreads(),
        libtorch: torchVersion(),
        image: `500x375 JPEG, ${jpeg.length} bytes`,
        model_ms: modelMs,
        library_ms: libraryMs,
        sequential: { requests, requests_per_s: requests / seqSeconds, p50_ms: quantile(seq, 0.5), p95_ms: quantile(seq, 0.95) },
        concurrent: { clients, requests: conc.length, requests_per_s: conc.length / concSeconds, p50_ms: quantile(conc, 0.5), p95_ms: quantile(conc, 0.95), batches },
      };
    } finally {
      await server.close();
    }
  } finally {
    classifier.dispose();
    learner.dispose();
    model.dispose();
  }
}

export function formatServeBench(r: ServeBenchResult): string {
  const f = (x: number) => x.toFixed(1);
  return [
    `mpl serve, ${r.model}, one ${r.image} per request, ${r.threads} threads, libtorch ${r.libtorch}`,
    `  model alone ${f(r.model_ms)} ms; decode + preprocess + model (library) ${f(r.library_ms)} ms`,
    `  sequential: ${f(r.sequential.requests_per_s)} requests/s, latency p50 ${f(r.sequential.p50_ms)} ms, p95 ${f(r.sequential.p95_ms)} ms (${r.sequential.requests} requests)`,
    `  ${r.concurrent.clients} clients: ${f(r.concurrent.requests_per_s)} requests/s, latency p50 ${f(r.concurrent.p50_ms)} ms, p95 ${f(r.concurrent.p95_ms)} ms (${r.concurrent.requests} requests in ${r.concurrent.batches} batches)`,
  ].join('\n');
}

if (require.main === module) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const model = (arg('--model') ?? 'tiny') as 'tiny' | 'vit-b16';
  if (model !== 'tiny' && model !== 'vit-b16') throw new Error('--model tiny|vit-b16');
  const num = (name: string) => (arg(name) === undefined ? undefined : Number(arg(name)));
  void runServeBench({ model, requests: num('--requests'), clients: num('--concurrency'), perClient: num('--per-client') }).then((r) => {
    console.log(process.argv.includes('--json') ? JSON.stringify({ bench: 'serve', ...r }) : formatServeBench(r));
  });
}
