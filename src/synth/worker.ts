/**
 * Render worker: draws batches of the synthetic world off the main thread, so pretraining renders the next
 * batch while libtorch computes the current one. Answers each request with the images (transferred) and
 * the captions and scenes.
 */
import { parentPort } from 'node:worker_threads';
import { sceneBatch } from './batch.js';
import type { BatchRequest } from './prefetch.js';

if (!parentPort) throw new Error('worker.js must be started as a worker thread');
const port = parentPort;

port.on('message', (q: BatchRequest) => {
  try {
    const b = sceneBatch(q.seed, q.stream, q.start, q.n, q.size, q.world);
    port.postMessage({ ok: true, start: q.start, batch: b }, [b.images.buffer as ArrayBuffer]);
  } catch (e) {
    port.postMessage({ ok: false, start: q.start, message: (e as Error).message });
  }
});
