import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { UserError } from '../util/errors.js';
import { silentReporter, type ProgressHandle, type Reporter } from '../util/reporter.js';
import { proxyAgent } from './proxy.js';

/**
 * The one HTTP downloader of the project: large files (CLIP weights, dataset archives) over plain
 * http/https with resume, redirects, retries and checksum verification. Library code: never prints;
 * progress goes through the Reporter.
 *
 * Life of a download: bytes go to `<dest>.part`; a later call (or a retry after a dropped connection)
 * resumes from its end with an HTTP Range request. Only when the size and checksums match is the part
 * renamed to `dest`, so a file at `dest` is always complete and verified.
 */

export type DownloadErrorKind = 'http' | 'network' | 'checksum' | 'size' | 'redirect' | 'unverified';

/** A download failure. A UserError (the CLI prints it on one line) that callers can inspect by kind. */
export class DownloadError extends UserError {
  constructor(
    message: string,
    readonly kind: DownloadErrorKind,
    readonly url: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

/** The first response of a request chain (before any redirect): the hub puts its checksums there. */
export interface FirstResponse {
  url: string;
  status: number;
  headers: http.IncomingHttpHeaders;
}

export interface DownloadOptions {
  url: string;
  /** Final path. The partial download lives at `dest + '.part'`. */
  dest: string;
  /** Expected sha256 (hex). Verified with a streaming hash; a mismatch deletes the part file. */
  sha256?: string;
  /** Expected md5 (hex): dataset publishers (and torchvision) only give md5 sums. */
  md5?: string;
  expectedSize?: number;
  reporter?: Reporter;
  /** Extra request headers (e.g. Authorization). Authorization is dropped when a redirect leaves the origin. */
  headers?: Record<string, string>;
  /** Progress-bar label; default the file name. */
  label?: string;
  /** Idle timeout per request in ms (no bytes for that long = a network error, retried). Default 60 s. */
  timeoutMs?: number;
  /** Retries after network errors and HTTP 5xx/429/408, each resuming from the part file. Default 4. */
  retries?: number;
  /** Base backoff in ms, doubled after each retry. Default 1000. */
  retryDelayMs?: number;
  /** Default 5 (hub → CDN needs one or two). */
  maxRedirects?: number;
  /**
   * Called with every request chain's first response. May return expectations learned from it (the hub
   * sends the LFS sha256 and size as X-Linked-Etag / X-Linked-Size on the response that redirects).
   */
  onFirstResponse?: (response: FirstResponse) => { sha256?: string; size?: number } | void;
  /**
   * Keep a download that nothing can check: no checksum given and no size known (a chunked response
   * without Content-Length), so a transfer cut short looks complete. Refused by default.
   */
  allowUnverified?: boolean;
}

export interface DownloadResult {
  path: string;
  size: number;
  sha256: string;
  /** md5 is computed only when one was expected (it is extra work on multi-GB archives). */
  md5?: string;
  /** Bytes that were already in the part file when the (last) request started. */
  resumedFrom: number;
  /** HTTP requests made, redirects included: lets tests and callers see what happened. */
  requests: number;
  /** whether the size was checked against an expected one (the caller's, the server's Content-Length or the hub's) */
  sizeChecked: boolean;
}

const USER_AGENT = 'modular-prompt-learning (node; +https://www.npmjs.com/package/modular-prompt-learning)';

/** Node error codes after which the same request may well succeed: retried (resuming). */
const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ETIMEDOUT',
  'ECONNREFUSED',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ECONNABORTED',
  'ENETDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'EARLY_EOF',
]);

/** Codes that mean "this machine cannot reach the server at all" (offline, no DNS, firewall). */
const OFFLINE_CODES = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENETDOWN',
  'ETIMEDOUT',
]);

/** True when a download failed because the server could not be reached (as opposed to an HTTP error). */
export function isOfflineError(err: unknown): boolean {
  return err instanceof DownloadError && err.kind === 'network' && err.code !== undefined && OFFLINE_CODES.has(err.code);
}

/** Lower-case hex, or undefined; accepts `"abc"` and `W/"abc"` (ETag forms). */
export function normalizeHex(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const v = value.trim().replace(/^W\//, '').replace(/^"|"$/g, '').toLowerCase();
  return v || undefined;
}

/** Hashes a file with a streaming read (weights and archives do not fit comfortably in memory). */
export async function hashFile(file: string, algorithm: 'sha256' | 'md5'): Promise<string> {
  const h = crypto.createHash(algorithm);
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

interface HashState {
  offset: number;
  sha256: crypto.Hash;
  md5?: crypto.Hash;
}

/** Downloads `url` to `dest` (resuming, retrying, verifying); see the module comment. */
export async function downloadFile(options: DownloadOptions): Promise<DownloadResult> {
  const reporter = options.reporter ?? silentReporter;
  const part = options.dest + '.part';
  const retries = options.retries ?? 4;
  const retryDelay = options.retryDelayMs ?? 1000;

  const ctx: Ctx = {
    options,
    part,
    expect: {
      sha256: normalizeHex(options.sha256),
      md5: normalizeHex(options.md5),
      size: options.expectedSize,
    },
    requests: 0,
    progress: undefined,
    reporter,
    hashes: undefined,
  };
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        return await attemptDownload(ctx);
      } catch (err) {
        const e = toDownloadError(err, shownUrl(ctx), ctx.currentUrl ?? options.url);
        if (!isRetryable(e) || attempt >= retries) {
          if (e.kind === 'network' || (e.kind === 'http' && isRetryable(e))) {
            const kept = fs.existsSync(part) ? ` The partial file ${part} is kept; running again resumes from it.` : '';
            throw new DownloadError(
              `${e.message} (gave up after ${attempt + 1} attempt${attempt ? 's' : ''}).${kept}`,
              e.kind,
              e.url,
              e.status,
              e.code,
            );
          }
          throw e;
        }
        // Exponential backoff; the next attempt resumes from whatever reached the part file.
        await sleep(retryDelay * 2 ** attempt);
      }
    }
  } finally {
    ctx.progress?.stop();
  }
}

interface Ctx {
  options: DownloadOptions;
  part: string;
  expect: { sha256?: string; md5?: string; size?: number };
  requests: number;
  progress: ProgressHandle | undefined;
  reporter: Reporter;
  /** Hash state of the part file's bytes, kept across retries so a resume does not re-read the part. */
  hashes: HashState | undefined;
  currentUrl?: string;
  /** the total size the server announced (Content-Length / Content-Range) for the last response */
  serverSize?: number;
}

/** Messages name the URL that was asked for (a CDN URL after a redirect is long and signed): its host is enough. */
function shownUrl(ctx: Ctx): string {
  const asked = ctx.options.url;
  return ctx.currentUrl && ctx.currentUrl !== asked ? `${asked} (via ${safeHost(ctx.currentUrl)})` : asked;
}

function newHashes(wantMd5: boolean): HashState {
  return { offset: 0, sha256: crypto.createHash('sha256'), md5: wantMd5 ? crypto.createHash('md5') : undefined };
}

/** The hash state of the existing part file: reused from the previous attempt, or re-read from disk. */
async function partHashes(ctx: Ctx, size: number): Promise<HashState> {
  const wantMd5 = ctx.expect.md5 !== undefined;
  if (ctx.hashes && ctx.hashes.offset === size) return ctx.hashes;
  const state = newHashes(wantMd5);
  if (size > 0) {
    // On resume the bytes already on disk must be part of the digest: hash them first.
    for await (const chunk of fs.createReadStream(ctx.part, { highWaterMark: 1 << 20 })) {
      state.sha256.update(chunk as Buffer);
      state.md5?.update(chunk as Buffer);
    }
    state.offset = size;
  }
  return state;
}

async function attemptDownload(ctx: Ctx): Promise<DownloadResult> {
  const { options, part } = ctx;
  let offset = fs.existsSync(part) ? fs.statSync(part).size : 0;
  if (ctx.expect.size !== undefined && offset > ctx.expect.size) {
    // Longer than the whole file: not a prefix of it. Start again.
    fs.truncateSync(part, 0);
    offset = 0;
  }
  let state = await partHashes(ctx, offset);

  for (let restarts = 0; ; restarts++) {
    const headers: Record<string, string> = {
      'User-Agent': USER_AGENT,
      // Byte-exact bodies: a server must not compress what we hash.
      'Accept-Encoding': 'identity',
      ...options.headers,
    };
    if (offset > 0) headers.Range = `bytes=${offset}-`;
    const res = await requestFollowingRedirects(ctx, headers);
    const url = shownUrl(ctx);

    if (res.statusCode === 416 && offset > 0) {
      // Range not satisfiable: either the part is already complete, or it is not a prefix of this file.
      res.resume();
      const total = parseContentRangeTotal(res.headers['content-range']);
      if (total === offset && (ctx.expect.size === undefined || ctx.expect.size === total)) {
        ctx.serverSize = total;
        return finish(ctx, state, offset, url, offset);
      }
      restartPart(ctx);
      offset = 0;
      state = newHashes(ctx.expect.md5 !== undefined);
      if (restarts > 1) throw new DownloadError(`${url}: the server rejects range requests (HTTP 416)`, 'http', url, 416);
      continue;
    }
    if (res.statusCode !== 200 && res.statusCode !== 206) {
      res.resume();
      throw httpError(url, res.statusCode ?? 0, res.statusMessage);
    }

    let total: number | undefined;
    if (res.statusCode === 206) {
      const range = parseContentRange(res.headers['content-range']);
      if (!range || range.start !== offset) {
        // A partial response that does not continue our bytes: throw the part away and ask for all of it.
        res.resume();
        restartPart(ctx);
        offset = 0;
        state = newHashes(ctx.expect.md5 !== undefined);
        if (restarts > 1) throw new DownloadError(`${url}: the server sends byte ranges we did not ask for`, 'http', url, 206);
        continue;
      }
      total = range.total;
    } else {
      if (offset > 0) {
        // HTTP 200 to a Range request: the server ignored Range and sends the whole file. Start from zero.
        restartPart(ctx);
        offset = 0;
        state = newHashes(ctx.expect.md5 !== undefined);
      }
      const len = Number(res.headers['content-length']);
      total = Number.isFinite(len) && res.headers['content-length'] !== undefined ? len : undefined;
    }
    if (total !== undefined && ctx.expect.size !== undefined && total !== ctx.expect.size) {
      res.resume();
      fs.rmSync(part, { force: true });
      ctx.hashes = undefined;
      throw new DownloadError(
        `${url}: the server reports ${total} bytes but ${ctx.expect.size} were expected; the file on the server is not the one this program knows. Nothing was kept.`,
        'size',
        url,
      );
    }
    const expectedTotal = ctx.expect.size ?? total;
    ctx.serverSize = total;
    const resumedFrom = offset;

    if (!ctx.progress) {
      ctx.progress = ctx.reporter.progress(options.label ?? path.basename(options.dest), expectedTotal ?? 0, 'bytes');
    }
    ctx.progress.update(offset);

    // Stream the body to the part file, hashing as it goes. The hash state is saved after every chunk so
    // that a retry after a dropped connection continues without re-reading the part.
    // The folder is made only now, so that a failed request (404, offline) leaves no empty folders behind.
    fs.mkdirSync(path.dirname(options.dest), { recursive: true });
    const fd = fs.openSync(part, offset > 0 ? 'a' : 'w');
    ctx.hashes = state;
    try {
      for await (const chunk of res) {
        const buf = chunk as Buffer;
        writeAll(fd, buf);
        state.sha256.update(buf);
        state.md5?.update(buf);
        state.offset += buf.length;
        offset += buf.length;
        ctx.progress.update(offset);
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (expectedTotal !== undefined && offset < expectedTotal) {
      // The connection ended early without an error event: retry, resuming.
      throw new DownloadError(
        `${url}: the connection closed after ${offset} of ${expectedTotal} bytes`,
        'network',
        url,
        undefined,
        'EARLY_EOF',
      );
    }
    return finish(ctx, state, offset, url, resumedFrom);
  }
}

/** Verifies size and hashes, then renames the part into place. A mismatch deletes the part. */
function finish(ctx: Ctx, state: HashState, size: number, url: string, resumedFrom: number): DownloadResult {
  const { part, options } = ctx;
  const fail = (what: string, kind: DownloadErrorKind): never => {
    fs.rmSync(part, { force: true });
    ctx.hashes = undefined;
    throw new DownloadError(
      `${url}: ${what}. The download was deleted; run the command again. If this repeats, the file on the server is not the one expected (changed upstream, or a mirror or proxy serving something else).`,
      kind,
      url,
    );
  };
  if (ctx.expect.size !== undefined && size !== ctx.expect.size) {
    fail(`size mismatch: expected ${ctx.expect.size} bytes, got ${size}`, 'size');
  }
  const sizeChecked = ctx.expect.size !== undefined || ctx.serverSize !== undefined;
  if (!sizeChecked && ctx.expect.sha256 === undefined && ctx.expect.md5 === undefined && !options.allowUnverified) {
    fs.rmSync(part, { force: true });
    ctx.hashes = undefined;
    throw new DownloadError(
      `${url}: the server sent neither a size nor a checksum, so a download cut short cannot be told from a complete one (${size} bytes arrived). Nothing was kept.`,
      'unverified',
      url,
    );
  }
  // digest() finalises a Hash; copy() keeps the saved state usable should anything below throw.
  const sha256 = state.sha256.copy().digest('hex');
  const md5 = state.md5?.copy().digest('hex');
  if (ctx.expect.sha256 !== undefined && sha256 !== ctx.expect.sha256) {
    fail(`sha256 mismatch: expected ${ctx.expect.sha256}, got ${sha256}`, 'checksum');
  }
  if (ctx.expect.md5 !== undefined && md5 !== ctx.expect.md5) {
    fail(`md5 mismatch: expected ${ctx.expect.md5}, got ${md5}`, 'checksum');
  }
  fs.renameSync(part, options.dest);
  ctx.hashes = undefined;
  return { path: options.dest, size, sha256, md5, resumedFrom, requests: ctx.requests, sizeChecked };
}

function restartPart(ctx: Ctx): void {
  fs.writeFileSync(ctx.part, new Uint8Array(0));
  ctx.hashes = undefined;
}

function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
}

/** One GET following up to `maxRedirects` redirects (absolute or relative Location). */
async function requestFollowingRedirects(ctx: Ctx, headers: Record<string, string>): Promise<http.IncomingMessage> {
  const { options } = ctx;
  const maxRedirects = options.maxRedirects ?? 5;
  let url = new URL(options.url);
  const origin = url.origin;
  for (let hop = 0; ; hop++) {
    ctx.currentUrl = url.href;
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new DownloadError(`${options.url}: redirected to an unsupported address ${url.href}`, 'redirect', options.url);
    }
    // Credentials are for the first server only: a token must not leak to a CDN (which may also reject it).
    const sent = { ...headers };
    if (url.origin !== origin) {
      for (const k of Object.keys(sent)) if (k.toLowerCase() === 'authorization') delete sent[k];
    }
    ctx.requests++;
    const res = await get(url, sent, options.timeoutMs ?? 60_000);
    if (hop === 0 && options.onFirstResponse) {
      let learned: { sha256?: string; size?: number } | void;
      try {
        learned = options.onFirstResponse({ url: url.href, status: res.statusCode ?? 0, headers: res.headers });
      } catch (err) {
        res.resume(); // the callback rejected what it saw: free the socket before failing
        throw err;
      }
      if (learned?.sha256 && !ctx.expect.sha256) ctx.expect.sha256 = normalizeHex(learned.sha256);
      if (learned?.size !== undefined && ctx.expect.size === undefined) ctx.expect.size = learned.size;
    }
    const status = res.statusCode ?? 0;
    if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
      res.resume();
      if (hop >= maxRedirects) {
        throw new DownloadError(`${options.url}: more than ${maxRedirects} redirects; stopped at ${url.href}`, 'redirect', options.url, status);
      }
      url = new URL(res.headers.location, url);
      continue;
    }
    return res;
  }
}

function get(url: URL, headers: Record<string, string>, timeoutMs: number): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    let response: http.IncomingMessage | undefined;
    // HTTPS_PROXY / HTTP_PROXY / NO_PROXY (src/net/proxy.ts); undefined = a direct connection
    const req = mod.request(url, { method: 'GET', headers, agent: proxyAgent(url) }, (res) => {
      response = res;
      resolve(res);
    });
    // An idle timeout (no bytes for timeoutMs), not a total one: multi-GB downloads take as long as they take.
    req.setTimeout(timeoutMs, () => {
      const err = Object.assign(new Error(`no data for ${Math.round(timeoutMs / 1000)} s`), { code: 'ETIMEDOUT' });
      response?.destroy(err);
      req.destroy(err);
    });
    req.on('error', reject);
    req.end();
  });
}

function httpError(url: string, status: number, statusMessage: string | undefined): DownloadError {
  const what = `${url}: HTTP ${status}${statusMessage ? ' ' + statusMessage : ''}`;
  let advice: string;
  if (status === 401 || status === 403) advice = 'the server refuses access without (other) credentials';
  else if (status === 404 || status === 410) advice = 'there is no file at this address (moved or removed upstream, or a wrong name or revision)';
  else if (status === 429) advice = 'too many requests; wait a while and run the command again';
  else if (status >= 500) advice = 'the server failed; run the command again later (the partial download is kept)';
  else advice = 'unexpected response';
  return new DownloadError(`${what} — ${advice}`, 'http', url, status);
}

function isRetryable(e: DownloadError): boolean {
  if (e.kind === 'network') return e.code === undefined || RETRYABLE_CODES.has(e.code);
  if (e.kind === 'http') return e.status !== undefined && (e.status >= 500 || e.status === 429 || e.status === 408);
  return false;
}

/** Codes of connection-level failures (as opposed to our own file-system errors, which are rethrown). */
function isNetworkCode(code: string): boolean {
  return (
    RETRYABLE_CODES.has(code) ||
    OFFLINE_CODES.has(code) ||
    code === 'EPROTO' ||
    /^(HPE_|ERR_SSL|ERR_TLS|UND_ERR)|CERT/.test(code)
  );
}

function toDownloadError(err: unknown, url: string, requested: string): DownloadError {
  if (err instanceof DownloadError) return err;
  // Any other error (a caller's UserError from onFirstResponse, a full disk) is not ours to retry: rethrown.
  if (err instanceof UserError) throw err;
  const e = err as NodeJS.ErrnoException;
  if (e?.code && isNetworkCode(e.code)) {
    const reason = e.code === 'ENOTFOUND' ? `cannot resolve host ${safeHost(requested)}` : e.message;
    return new DownloadError(`${url}: network error: ${reason} (${e.code})`, 'network', url, undefined, e.code);
  }
  throw err;
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function parseContentRange(value: string | undefined): { start: number; end: number; total?: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value?.trim() ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

function parseContentRangeTotal(value: string | undefined): number | undefined {
  const m = /^bytes \*\/(\d+)$/.exec(value?.trim() ?? '');
  return m ? Number(m[1]) : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
