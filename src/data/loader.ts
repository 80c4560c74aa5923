/**
 * Batches for training and evaluation, assembled off the main thread.
 *
 * Order: training draws a fresh permutation each epoch (Dassl's RandomSampler) and drops the last
 * partial batch when there are at least `batchSize` items (Dassl: `drop_last = is_train and
 * len(data) >= batch_size`); evaluation is sequential, batch 100 by default, nothing dropped.
 *
 * Determinism: the permutation of epoch e is CPython's `shuffle` driven by MT19937 seeded with
 * [seed, epoch, 'shuf'], and each training sample's augmentation by [seed, epoch, sample index, 'aug1']
 * (see image.ts `sampleRng`), so a run seed fixes every batch regardless of worker count or timing.
 *
 * Workers: a pool of worker_threads decodes (sharp) and transforms (JS, Pillow-exact resampling) whole
 * batches; up to `prefetch` batches are in flight, results are yielded in order. Idle workers do not
 * keep the process alive, and `close()` terminates them.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { UserError } from '../util/errors.js';
import { silentReporter, type Reporter } from '../util/reporter.js';
import { dataAccessWatched, reportDataAccess } from './access.js';
import { processBatch, type BatchResult, type BatchTask } from './batch.js';
import type { DecodeOptions, PixelSpec } from './image.js';
import { PyRandom } from './pyrandom.js';

export interface LoaderItem {
  impath: string;
  label: number;
}

export interface Batch {
  /** size * 3 * S * S floats: the images, CHW each, normalised. */
  images: Float32Array;
  labels: Int32Array;
  /** Position of each image in the loader's item list. */
  indices: Int32Array;
  /** Number of images (smaller than the batch size for the last eval batch or after skipping). */
  size: number;
  imageSize: number;
  /** Images left out of this batch by `skipBadImages`. */
  skipped: { index: number; impath: string; reason: string }[];
}

export interface LoaderOptions {
  mode: 'train' | 'eval';
  /** Default: 4 for train (the MPL config), 100 for eval. */
  batchSize?: number;
  /** Output side S (default 224). */
  imageSize?: number;
  /** The model family's resize and normalisation (default CLIP's: shorter side, centre crop, CLIP mean/std). */
  pixels?: PixelSpec;
  /** Run seed: epoch permutations and augmentations (default 1). */
  seed?: number;
  /** Default: shuffle for train, sequential for eval. */
  shuffle?: boolean;
  /** Default: Dassl's rule for train (len >= batchSize), false for eval. */
  dropLast?: boolean;
  /**
   * Train mode only: false = the evaluation transform (no random crop or flip), still shuffled and batched as
   * training is (`--no-augment`, for models that never saw crops, like the tiny CLIP). Default true.
   */
  augment?: boolean;
  /** Train mode: the random resized crop's area range (default Dassl's [0.08, 1]; Tip-Adapter's [0.5, 1]). */
  cropScale?: readonly [number, number];
  /**
   * Worker threads (default min(8, CPUs)); 0 = on the calling thread (debugging). Capped at
   * maxNumWorkers() and at the number of batches per epoch: more threads only cost memory (each holds a
   * decoder and its buffers; 300 of them took 3.7 GB).
   */
  numWorkers?: number;
  /** Batches in flight (default 2 per worker, at least 2). */
  prefetch?: number;
  /** Skip unreadable images (counted in `skippedCount`, reported once each per loader) instead of failing. */
  skipBadImages?: boolean;
  decode?: DecodeOptions;
  reporter?: Reporter;
}

interface Pending {
  resolve(r: BatchResult): void;
  reject(e: Error): void;
  worker: PoolWorker;
}

interface PoolWorker {
  worker: Worker;
  outstanding: number;
  /** Set once the thread failed or exited; it gets no more tasks. */
  error?: Error;
}

/** A fixed pool of data-loader workers running BatchTasks. */
export class WorkerPool {
  private readonly workers: PoolWorker[] = [];
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  constructor(readonly size: number) {
    const script = path.join(__dirname, 'worker.js');
    for (let i = 0; i < size; i++) {
      const worker = new Worker(script);
      const pw: PoolWorker = { worker, outstanding: 0 };
      worker.on('message', (msg: { ok: boolean; result?: BatchResult; id?: number; user?: boolean; message?: string; stack?: string }) => {
        const id = msg.ok ? msg.result!.id : msg.id!;
        const p = this.pending.get(id);
        if (!p) return;
        this.pending.delete(id);
        this.release(pw);
        if (msg.ok) p.resolve(msg.result!);
        else {
          const err = msg.user ? new UserError(msg.message!) : new Error(msg.message);
          if (!msg.user && msg.stack) err.stack = msg.stack;
          p.reject(err);
        }
      });
      worker.on('error', (e) => this.failWorker(pw, e));
      worker.on('exit', (code) => {
        if (!this.closed) this.failWorker(pw, new Error(`data-loader worker exited unexpectedly (code ${code})`));
      });
      // Idle workers must not keep the process alive. Only after the listeners: adding a 'message' listener
      // refs the worker's port again, which kept every program that forgot close() running forever.
      worker.unref();
      this.workers.push(pw);
    }
  }

  private release(pw: PoolWorker): void {
    pw.outstanding--;
    if (pw.outstanding === 0) pw.worker.unref();
  }

  private failWorker(pw: PoolWorker, e: Error): void {
    pw.error ??= e;
    for (const [id, p] of this.pending) {
      if (p.worker === pw) {
        this.pending.delete(id);
        p.reject(e);
      }
    }
    pw.outstanding = 0;
  }

  run(task: BatchTask): Promise<BatchResult> {
    if (this.closed) return Promise.reject(new Error('data loader is closed'));
    // The live worker with the fewest queued tasks; ties go to the first.
    const live = this.workers.filter((w) => !w.error);
    if (live.length === 0) return Promise.reject(this.workers[0]?.error ?? new Error('no data-loader workers'));
    let pw = live[0];
    for (const w of live) if (w.outstanding < pw.outstanding) pw = w;
    return new Promise<BatchResult>((resolve, reject) => {
      this.pending.set(task.id, { resolve, reject, worker: pw });
      if (pw.outstanding++ === 0) pw.worker.ref(); // keep the process alive while work is queued
      pw.worker.postMessage(task);
    });
  }

  /** Terminates every worker; tasks still in flight reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [, p] of this.pending) p.reject(new Error('data loader closed'));
    this.pending.clear();
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}

let nextTaskId = 1;

function cpuCount(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

export function defaultNumWorkers(): number {
  return Math.max(1, Math.min(8, cpuCount()));
}

/** The most data-loader workers worth starting: two per CPU core (decoding waits on I/O at times). */
export function maxNumWorkers(): number {
  return Math.max(1, 2 * cpuCount());
}

export class DataLoader {
  readonly mode: 'train' | 'eval';
  readonly batchSize: number;
  readonly imageSize: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly numWorkers: number;
  readonly prefetch: number;
  /** The items skipped so far (skipBadImages), by index: each counted and reported once, however many epochs read it. */
  readonly skippedItems = new Set<number>();
  /** How many different images were skipped so far. */
  get skippedCount(): number {
    return this.skippedItems.size;
  }
  private readonly items: readonly LoaderItem[];
  private readonly options: LoaderOptions;
  private readonly reporter: Reporter;
  private pool: WorkerPool | undefined;
  private closed = false;

  constructor(items: readonly LoaderItem[], options: LoaderOptions) {
    this.items = items;
    if (dataAccessWatched()) reportDataAccess({ kind: 'images', paths: items.map((i) => i.impath) });
    this.options = options;
    this.mode = options.mode;
    this.batchSize = options.batchSize ?? (options.mode === 'train' ? 4 : 100);
    this.imageSize = options.imageSize ?? 224;
    this.seed = options.seed ?? 1;
    this.shuffle = options.shuffle ?? options.mode === 'train';
    this.dropLast = options.dropLast ?? (options.mode === 'train' && items.length >= this.batchSize);
    const requested = options.numWorkers ?? defaultNumWorkers();
    this.reporter = options.reporter ?? silentReporter;
    for (const [name, v, min] of [
      ['batch size', this.batchSize, 1],
      ['image size', this.imageSize, 1],
      ['number of workers', requested, 0],
    ] as const) {
      if (!Number.isInteger(v) || v < min) throw new UserError(`${name} must be an integer >= ${min}, got ${v}`);
    }
    this.numWorkers = Math.min(requested, maxNumWorkers(), this.length);
    if (options.numWorkers !== undefined && this.numWorkers < requested) {
      this.reporter.info(`using ${this.numWorkers} data-loader worker${this.numWorkers === 1 ? '' : 's'} instead of ${requested} (at most 2 per CPU core and one per batch: ${this.length} per epoch)`);
    }
    this.prefetch = options.prefetch ?? Math.max(2, 2 * this.numWorkers);
    if (!Number.isInteger(this.prefetch) || this.prefetch < 1) throw new UserError(`prefetch must be an integer >= 1, got ${this.prefetch}`);
    if (!Number.isInteger(this.seed) || this.seed < 0 || this.seed > 0xffffffff) {
      throw new UserError(`seed must be an integer in 0..2^32-1, got ${this.seed}`);
    }
    const c = options.cropScale;
    if (c && !(c.length === 2 && c[0] > 0 && c[0] <= c[1] && c[1] <= 1)) throw new UserError(`cropScale must be [lo, hi] with 0 < lo <= hi <= 1, got [${c}]`);
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.items.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The sample order of an epoch (item indices). */
  epochOrder(epoch: number): number[] {
    const order = Array.from({ length: this.items.length }, (_, i) => i);
    if (this.shuffle) PyRandom.fromWords([this.seed, epoch >>> 0, 0x73687566 /* 'shuf' */]).shuffle(order);
    return order;
  }

  private runTask(task: BatchTask): Promise<BatchResult> {
    if (this.numWorkers === 0) return processBatch(task);
    if (!this.pool) this.pool = new WorkerPool(this.numWorkers);
    return this.pool.run(task);
  }

  /** The batches of one epoch, in order. Breaking out of the loop drops the prefetched ones. */
  async *batches(epoch = 0): AsyncGenerator<Batch, void, undefined> {
    if (this.closed) throw new Error('data loader is closed');
    const order = this.epochOrder(epoch);
    const nb = this.length;
    const pending: Promise<BatchResult>[] = [];
    let next = 0;
    const fill = () => {
      while (next < nb && pending.length < this.prefetch) {
        const ids = order.slice(next * this.batchSize, (next + 1) * this.batchSize);
        next++;
        const p = this.runTask({
          id: nextTaskId++,
          mode: this.mode === 'train' && this.options.augment === false ? 'eval' : this.mode,
          imageSize: this.imageSize,
          pixels: this.options.pixels,
          seed: this.seed,
          epoch,
          ...(this.options.cropScale ? { cropScale: this.options.cropScale } : {}),
          skipBadImages: Boolean(this.options.skipBadImages),
          decode: this.options.decode ?? {},
          items: ids.map((i) => ({ impath: this.items[i].impath, label: this.items[i].label, index: i })),
        });
        p.catch(() => {}); // handled when awaited; dropped batches must not warn
        pending.push(p);
      }
    };
    try {
      fill();
      while (pending.length > 0) {
        const r = await pending.shift()!;
        fill();
        for (const w of r.warnings) this.reporter.warn(w);
        for (const s of r.skipped) {
          if (this.skippedItems.has(s.index)) continue;
          this.skippedItems.add(s.index);
          this.reporter.warn(`skipped ${s.reason}`);
        }
        const size = r.labels.length;
        if (size === 0) continue;
        yield { images: r.images, labels: r.labels, indices: r.indices, size, imageSize: this.imageSize, skipped: r.skipped };
      }
    } finally {
      pending.length = 0;
    }
  }

  /** `for await (const b of loader)` iterates epoch 0. */
  [Symbol.asyncIterator](): AsyncGenerator<Batch, void, undefined> {
    return this.batches(0);
  }

  /** Terminates the workers. The loader cannot be used afterwards. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await pool.close();
  }

  /** `await using loader = new DataLoader(...)` closes it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
