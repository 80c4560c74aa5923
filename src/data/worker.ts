/**
 * Data-loader worker thread: receives BatchTasks, answers BatchResults (image buffers transferred, not
 * copied) or an error. One task at a time per worker; the pool decides how many are queued.
 */
import { parentPort } from 'node:worker_threads';
import { UserError } from '../util/errors.js';
import { processBatch, type BatchTask } from './batch.js';

if (!parentPort) throw new Error('worker.js must be started as a worker thread');
const port = parentPort;

// Tasks are processed strictly in arrival order so a worker's results come back in order.
let chain: Promise<void> = Promise.resolve();
port.on('message', (task: BatchTask) => {
  chain = chain.then(async () => {
    try {
      const r = await processBatch(task);
      port.postMessage({ ok: true, result: r }, [r.images.buffer, r.labels.buffer, r.indices.buffer] as ArrayBuffer[]);
    } catch (e) {
      const err = e as Error;
      port.postMessage({ ok: false, id: task.id, user: e instanceof UserError, message: err.message, stack: err.stack });
    }
  });
});
