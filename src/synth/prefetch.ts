/**
 * Batches of the synthetic world rendered ahead in a worker thread (src/synth/worker.ts): `batch(k)` returns
 * batch k and asks for the next `depth` ones. Batches depend only on (seed, stream, index), so what the
 * worker renders is exactly what `sceneBatch` would.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { sceneBatch, type SceneBatch } from './batch.js';
import type { Stream, WorldOptions } from './world.js';

export interface BatchRequest {
  seed: number;
  stream: Stream;
  start: number;
  n: number;
  size: number;
  world: WorldOptions;
}

interface Pending {
  promise: Promise<SceneBatch>;
  resolve(b: SceneBatch): void;
  reject(e: Error): void;
}

export class ScenePrefetcher {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();

  /** `workers: false` renders on the calling thread (no worker; for small runs and tests). */
  constructor(
    private readonly spec: Omit<BatchRequest, 'start'>,
    private readonly depth = 2,
    workers = true,
  ) {
    if (!workers) return;
    this.worker = new Worker(path.join(__dirname, 'worker.js'));
    this.worker.on('message', (m: { ok: boolean; start: number; batch?: SceneBatch; message?: string }) => {
      const p = this.pending.get(m.start);
      if (!p) return;
      if (m.ok) p.resolve(m.batch!);
      else p.reject(new Error(`render worker: ${m.message}`));
    });
    const fail = (e: Error): void => {
      for (const p of this.pending.values()) p.reject(e);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`render worker exited (code ${code})`)));
  }

  private request(k: number): Pending {
    const start = k * this.spec.n;
    let p = this.pending.get(start);
    if (!p) {
      let resolve!: (b: SceneBatch) => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<SceneBatch>((res, rej) => ((resolve = res), (reject = rej)));
      promise.catch(() => {}); // a prefetched batch nobody waits for must not be an unhandled rejection
      p = { promise, resolve, reject };
      this.pending.set(start, p);
      this.worker!.postMessage({ ...this.spec, start } satisfies BatchRequest);
    }
    return p;
  }

  /** Batch `k` (samples k·n .. k·n + n - 1). */
  async batch(k: number): Promise<SceneBatch> {
    const s = this.spec;
    if (!this.worker) return sceneBatch(s.seed, s.stream, k * s.n, s.n, s.size, s.world);
    const p = this.request(k);
    for (let j = 1; j <= this.depth; j++) this.request(k + j);
    try {
      return await p.promise;
    } finally {
      this.pending.delete(k * s.n);
    }
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.pending.clear();
    if (w) await w.terminate();
  }
}
