import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';

/**
 * Test helpers for the download tests: a local HTTP server on 127.0.0.1 (ephemeral port) that logs every
 * request, a byte-range file responder, and in-process zip/tar writers (the tests build their own
 * archives, including malicious ones that ordinary tools refuse to make). Nothing here touches the internet.
 */

export interface LoggedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** Body bytes the server sent for this request (set by `sendFile`). */
  sent: number;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, log: LoggedRequest) => void;

export interface TestServer {
  /** `http://127.0.0.1:PORT` */
  base: string;
  port: number;
  log: LoggedRequest[];
  close(): Promise<void>;
}

export async function startServer(handler: Handler): Promise<TestServer> {
  const log: LoggedRequest[] = [];
  const server = http.createServer((req, res) => {
    const entry: LoggedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, sent: 0 };
    log.push(entry);
    try {
      handler(req, res, entry);
    } catch (err) {
      res.statusCode = 500;
      res.end(String(err));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (bound, then released): connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Serves `data`, honouring `Range: bytes=N-` with 206 unless `ignoreRange`. */
export function sendFile(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  log: LoggedRequest,
  data: Buffer,
  options: { ignoreRange?: boolean; headers?: Record<string, string> } = {},
): void {
  for (const [k, v] of Object.entries(options.headers ?? {})) res.setHeader(k, v);
  const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
  if (range && !options.ignoreRange) {
    const start = Number(range[1]);
    if (start >= data.length) {
      res.writeHead(416, { 'Content-Range': `bytes */${data.length}` });
      res.end();
      return;
    }
    const body = data.subarray(start);
    res.writeHead(206, {
      'Content-Length': String(body.length),
      'Content-Range': `bytes ${start}-${data.length - 1}/${data.length}`,
      'Accept-Ranges': 'bytes',
    });
    log.sent = body.length;
    res.end(body);
    return;
  }
  res.writeHead(200, { 'Content-Length': String(data.length) });
  log.sent = data.length;
  res.end(data);
}

/** Deterministic pseudo-random bytes (so a flipped byte or a wrong offset is always visible). */
export function bytes(n: number, seed = 1): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// zip writer (stored and deflate entries); yauzl only reads.

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface ZipEntry {
  /** Stored verbatim: tests put `../x` here on purpose. A trailing '/' makes a folder. */
  name: string;
  data?: Buffer;
  method?: 'store' | 'deflate';
  /** Unix mode (e.g. 0o120777 for a symbolic link). */
  mode?: number;
  /** The uncompressed size written in the headers, when a test needs one that lies (default: the real one). */
  declaredSize?: number;
}

export function makeZip(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const raw = e.data ?? Buffer.alloc(0);
    const deflate = e.method === 'deflate' && raw.length > 0;
    const body = deflate ? zlib.deflateRawSync(raw) : raw;
    const crc = crc32(raw);
    const method = deflate ? 8 : 0;
    const dosTime = 0;
    const dosDate = (2024 - 1980) << 9 | 1 << 5 | 1;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6); // UTF-8 names
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(dosTime, 10);
    local.writeUInt16LE(dosDate, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(e.declaredSize ?? raw.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, body);

    const mode = e.mode ?? (e.name.endsWith('/') ? 0o40755 : 0o100644);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix: external attributes hold the mode
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(dosTime, 12);
    central.writeUInt16LE(dosDate, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(e.declaredSize ?? raw.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(0, 30);
    central.writeUInt16LE(0, 32);
    central.writeUInt16LE(0, 34);
    central.writeUInt16LE(0, 36);
    central.writeUInt32LE((mode << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

// ---------------------------------------------------------------------------------------------------
// tar writer (ustar), raw: the `tar` package refuses to write `..` names, which the tests need.

export interface TarEntry {
  name: string;
  data?: Buffer;
  /** '0' file (default), '5' folder, '2' symbolic link. */
  type?: '0' | '5' | '2';
  linkname?: string;
}

/** The 512-byte ustar header of an entry whose content has `size` bytes. */
export function tarHeader(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  const put = (s: string, off: number, len: number): void => void h.write(s, off, Math.min(len, Buffer.byteLength(s)), 'utf8');
  const octal = (n: number, len: number): string => n.toString(8).padStart(len - 1, '0') + '\0';
  put(e.name, 0, 100);
  put(octal(e.type === '5' ? 0o755 : 0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(e.type === '0' || !e.type ? size : 0, 12), 124, 12);
  put(octal(1700000000, 12), 136, 12);
  h.fill(0x20, 148, 156); // checksum field counts as spaces
  put(e.type ?? '0', 156, 1);
  if (e.linkname) put(e.linkname, 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

export function makeTar(entries: TarEntry[], gzip = true): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = e.data ?? Buffer.alloc(0);
    blocks.push(tarHeader(e, data.length));
    if (!e.type || e.type === '0') {
      blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  const tarball = Buffer.concat(blocks);
  return gzip ? zlib.gzipSync(tarball) : tarball;
}
