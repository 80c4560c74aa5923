/**
 * `mpl serve`: a classifier behind HTTP (node's http module; no framework is needed for three routes).
 *
 *   GET  /          a small page: upload an image, see the top labels with their probabilities
 *   GET  /health    {"status": "ok", model facts}
 *   POST /predict   the image as the body (any content type but multipart), or multipart/form-data with an
 *                   `image` file field; `?top=k` (default 5). Answers what `mpl predict --json` prints for one
 *                   image: {"image", "probabilities": {class: p}, "top": [{"class", "probability"}]}
 *
 * Images go through the decoding and evaluation transform of `mpl predict` (src/data/image.ts) and the same
 * Classifier (src/train/classifier.ts). Decoding runs concurrently (libvips threads); the model runs one batch at a
 * time: requests that arrive while a batch computes wait in a bounded queue and form the next batch. A bad request
 * (not an image, too large, a wrong method or path, a full queue) gets a 4xx/503 JSON error and the server stays up.
 * close() stops accepting, answers every request already received, then closes the connections.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DecodeOptions } from '../data/image.js';
import type { Preprocess } from '../backbones/clip/preprocess.js';
import type { Classifier } from '../train/classifier.js';
import { UserError } from '../util/errors.js';
import { servePage } from './page.js';

export interface ServeOptions {
  /** default 127.0.0.1 (this machine only) */
  host?: string;
  /** default 8080; 0 = a free port (listen() returns the URL) */
  port?: number;
  /** largest request body accepted (default 20 MiB) */
  maxBodyBytes?: number;
  /** images per model batch (default 16) */
  maxBatch?: number;
  /** images waiting for the model beyond which requests get 503 (default 256) */
  maxQueue?: number;
  /** decoding limits (the pixel limit: MPL_MAX_IMAGE_PIXELS / --max-image-pixels) */
  decode?: DecodeOptions;
  /** the model's evaluation transform (the family's resize and normalisation), shared with mpl predict */
  preprocess: Preprocess;
  /** what /health and the page say about the model */
  info: Record<string, unknown>;
  /** one line per request (method, path, status, milliseconds); none when not set */
  log?: (line: string) => void;
}

/** An answer with a status other than 200: a JSON body {"error": message}. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** What POST /predict answers for one image (the shape of one element of `mpl predict --json`). */
export interface Prediction {
  image: string | null;
  probabilities: Record<string, number>;
  top: Array<{ class: string; probability: number }>;
}

/** Images waiting for the model, run in batches of at most `maxBatch`, one batch at a time. */
class Batcher {
  private queue: Array<{ pixels: Float32Array; resolve: (p: Float32Array) => void; reject: (e: unknown) => void }> = [];
  private scheduled = false;
  private idleWaiters: Array<() => void> = [];
  /** images classified and model batches run so far (GET /health reports them) */
  images = 0;
  batches = 0;

  constructor(
    private readonly classifier: Classifier,
    private readonly maxBatch: number,
    private readonly maxQueue: number,
  ) {}

  submit(pixels: Float32Array): Promise<Float32Array> {
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(new HttpError(503, `busy: ${this.queue.length} images are waiting for the model; retry shortly`, { 'Retry-After': '1' }));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ pixels, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves when nothing is queued or computing. */
  idle(): Promise<void> {
    if (!this.scheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // after the I/O already pending (other requests' bodies and decodes): they join this batch
    setImmediate(() => {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const probs = this.classifier.probabilities(batch.map((b) => b.pixels));
        this.images += batch.length;
        this.batches++;
        batch.forEach((b, i) => b.resolve(probs[i]));
      } catch (e) {
        batch.forEach((b) => b.reject(e));
      }
      this.scheduled = false;
      if (this.queue.length) this.schedule();
      else this.idleWaiters.splice(0).forEach((w) => w());
    });
  }
}

const SECURITY_HEADERS = { 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' };

export class PredictionServer {
  private readonly server: http.Server;
  private readonly batcher: Batcher;
  private inFlight = 0;
  private drained: Array<() => void> = [];
  private closing = false;

  constructor(
    private readonly classifier: Classifier,
    private readonly options: ServeOptions,
  ) {
    this.batcher = new Batcher(classifier, options.maxBatch ?? 16, options.maxQueue ?? 256);
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.requestTimeout = 60_000;
    this.server.headersTimeout = 20_000;
  }

  /** Starts listening; resolves to the URL (http://host:port/). A port in use is a one-line UserError. */
  listen(): Promise<string> {
    const host = this.options.host ?? '127.0.0.1';
    const port = this.options.port ?? 8080;
    return new Promise((resolve, reject) => {
      const fail = (e: NodeJS.ErrnoException) => {
        if (e.code === 'EADDRINUSE') reject(new UserError(`--port ${port}: already in use on ${host}; choose another port (--port 0 picks a free one)`));
        else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') reject(new UserError(`--host ${host}: not an address of this machine (${e.code})`));
        else if (e.code === 'EACCES') reject(new UserError(`--port ${port}: permission denied (ports below 1024 need privileges); choose a port above 1023`));
        else reject(e);
      };
      this.server.once('error', fail);
      this.server.listen(port, host, () => {
        this.server.removeListener('error', fail);
        const a = this.server.address() as AddressInfo;
        resolve(`http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/`);
      });
    });
  }

  /** Stops accepting connections, answers every request already received, then closes all connections. */
  async close(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.drained.push(resolve));
    await this.batcher.idle();
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const t0 = performance.now();
    this.inFlight++;
    let status = 500;
    try {
      if (this.closing) throw new HttpError(503, 'the server is stopping', { Connection: 'close' });
      const url = new URL(req.url ?? '/', 'http://localhost');
      const route = url.pathname;
      if (route === '/predict') {
        if (req.method !== 'POST') throw new HttpError(405, `${req.method} /predict: use POST with an image`, { Allow: 'POST' });
        status = this.send(res, 200, await this.predict(req, url));
      } else if (route === '/health') {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} /health: use GET`, { Allow: 'GET, HEAD' });
        // in_flight counts this request too
        const stats = { in_flight: this.inFlight, images: this.batcher.images, batches: this.batcher.batches };
        status = this.send(res, 200, { status: 'ok', ...this.options.info, stats });
      } else if (route === '/' || route === '/index.html') {
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} /: use GET`, { Allow: 'GET, HEAD' });
        status = 200;
        res.writeHead(200, {
          ...SECURITY_HEADERS,
          'Content-Type': 'text/html; charset=utf-8',
          'Content-Security-Policy': "default-src 'none'; img-src blob:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'",
        });
        res.end(req.method === 'HEAD' ? undefined : servePage(this.options.info));
      } else {
        throw new HttpError(404, `no route ${route}: GET /, GET /health and POST /predict exist`);
      }
    } catch (e) {
      status = this.fail(req, res, e);
    } finally {
      this.options.log?.(`${req.method} ${(req.url ?? '').slice(0, 200)} ${status} ${(performance.now() - t0).toFixed(1)} ms`);
      if (--this.inFlight === 0) this.drained.splice(0).forEach((d) => d());
    }
  }

  private async predict(req: http.IncomingMessage, url: URL): Promise<Prediction> {
    const topText = url.searchParams.get('top');
    const top = topText === null ? 5 : Number(topText);
    if (!/^\d+$/.test(topText ?? '5') || !Number.isSafeInteger(top) || top < 1) throw new HttpError(400, `top must be an integer >= 1, got '${topText}'`);
    const body = await this.readBody(req);
    let name: string | null = null;
    let bytes = body;
    const type = req.headers['content-type'] ?? '';
    if (/^multipart\/form-data/i.test(type)) {
      let form: FormData;
      try {
        form = await new Response(body, { headers: { 'content-type': type } }).formData();
      } catch (e) {
        throw new HttpError(400, `unreadable multipart body (${(e as Error).message})`);
      }
      const file = form.get('image');
      if (!file || typeof file === 'string') throw new HttpError(400, "a multipart upload needs a file field named 'image'");
      name = file.name || null;
      bytes = Buffer.from(await file.arrayBuffer());
    }
    if (bytes.length === 0) throw new HttpError(400, 'no image: the request body is empty');
    let pixels: Float32Array;
    try {
      pixels = await this.options.preprocess.bytes(name ?? 'the uploaded image', bytes, this.options.decode);
    } catch (e) {
      if (e instanceof UserError) throw new HttpError(400, e.message);
      throw e;
    }
    const probs = await this.batcher.submit(pixels);
    const classnames = this.classifier.classnames;
    if (probs.some((p) => !Number.isFinite(p))) throw new HttpError(500, 'the model produced non-finite probabilities (NaN) for this image; nothing is returned. Check the weights and prompts');
    const probabilities: Record<string, number> = {};
    classnames.forEach((c, j) => (probabilities[c] = probs[j]));
    const ranked = classnames.map((c, j) => ({ class: c, probability: probs[j] })).sort((a, b) => b.probability - a.probability);
    return { image: name, probabilities, top: ranked.slice(0, top) };
  }

  /** The request body, refused with 413 beyond the limit (from Content-Length when given, before reading it). */
  private readBody(req: http.IncomingMessage): Promise<Buffer> {
    const limit = this.options.maxBodyBytes ?? 20 * 1024 * 1024;
    const tooLarge = () => new HttpError(413, `the image is larger than this server accepts (${limit} bytes; mpl serve --max-body-mb)`, { Connection: 'close' });
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge());
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let total = 0;
      req.on('data', (c: Buffer) => {
        total += c.length;
        if (total > limit) {
          req.removeAllListeners('data');
          req.resume();
          reject(tooLarge());
        } else chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
  }

  private send(res: http.ServerResponse, status: number, body: unknown): number {
    const text = JSON.stringify(body);
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
    return status;
  }

  /** The error as a JSON answer; anything but an HttpError is a 500 whose details go to the log only. */
  private fail(req: http.IncomingMessage, res: http.ServerResponse, e: unknown): number {
    const known = e instanceof HttpError;
    if (!known) this.options.log?.(`error while answering ${req.method} ${req.url}: ${(e as Error)?.stack ?? e}`);
    const status = known ? e.status : 500;
    if (res.headersSent) {
      res.destroy();
      return status;
    }
    for (const [k, v] of Object.entries(known ? e.headers : {})) res.setHeader(k, v);
    this.send(res, status, { error: known ? e.message : 'internal error (see the server log)' });
    if (known && e.headers.Connection === 'close') res.on('finish', () => req.destroy());
    return status;
  }
}
