import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DownloadError, downloadFile } from '../../src/net/download.js';
import { tmpDir } from '../helpers.js';
import { bytes, sendFile, startServer, type TestServer } from './helpers.js';

const sha256 = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer): string => crypto.createHash('md5').update(b).digest('hex');

describe('downloadFile against a local server', () => {
  const data = bytes(300_000, 7);
  const corrupt = Buffer.from(data);
  corrupt[123_456] = corrupt[123_456]! ^ 0xff;
  let server: TestServer;
  let other: TestServer;
  const dir = tmpDir('mpl-net-');
  let flaky = 0;
  let failing = 0;

  before(async () => {
    // A second origin, to check that credentials do not follow a redirect to another server.
    other = await startServer((req, res, log) => sendFile(req, res, log, data));
    server = await startServer((req, res, log) => {
      const url = req.url ?? '';
      if (url === '/file.bin') return sendFile(req, res, log, data);
      if (url === '/norange.bin') return sendFile(req, res, log, data, { ignoreRange: true });
      if (url === '/corrupt.bin') return sendFile(req, res, log, corrupt);
      if (url === '/r1') {
        res.writeHead(302, { Location: '/r2' }); // relative
        return res.end();
      }
      if (url === '/r2') {
        res.writeHead(301, { Location: `${server.base}/file.bin` }); // absolute
        return res.end();
      }
      if (url === '/elsewhere') {
        res.writeHead(307, { Location: `${other.base}/file.bin` });
        return res.end();
      }
      if (url.startsWith('/loop')) {
        res.writeHead(302, { Location: `/loop${Number(url.slice(5) || 0) + 1}` });
        return res.end();
      }
      if (url === '/flaky.bin') {
        // First request: headers and half the body, then the connection drops.
        if (flaky++ === 0) {
          res.writeHead(200, { 'Content-Length': String(data.length) });
          res.write(data.subarray(0, 100_000));
          setTimeout(() => res.destroy(), 20);
          return;
        }
        return sendFile(req, res, log, data);
      }
      if (url === '/stall.bin') {
        // Headers and a little data, then silence: only the idle timeout ends this.
        res.writeHead(200, { 'Content-Length': String(data.length) });
        res.write(data.subarray(0, 1000));
        return;
      }
      if (url === '/busy.bin') {
        if (failing++ < 2) {
          res.writeHead(503);
          return res.end('busy');
        }
        return sendFile(req, res, log, data);
      }
      res.writeHead(404);
      res.end('no such file');
    });
  });
  after(async () => {
    await server.close();
    await other.close();
  });

  it('downloads, verifies sha256 and renames into place', async () => {
    const dest = path.join(dir, 'full.bin');
    const n = server.log.length;
    const r = await downloadFile({ url: `${server.base}/file.bin`, dest, sha256: sha256(data), expectedSize: data.length });
    assert.deepEqual(fs.readFileSync(dest), data);
    assert.equal(fs.existsSync(dest + '.part'), false);
    assert.equal(r.sha256, sha256(data));
    assert.equal(r.size, data.length);
    assert.equal(r.requests, 1);
    assert.equal(server.log.length - n, 1);
    assert.equal(server.log.at(-1)!.headers['accept-encoding'], 'identity');
  });

  it('verifies md5 (dataset archives publish md5)', async () => {
    const dest = path.join(dir, 'md5.bin');
    const r = await downloadFile({ url: `${server.base}/file.bin`, dest, md5: md5(data) });
    assert.equal(r.md5, md5(data));
    await assert.rejects(
      downloadFile({ url: `${server.base}/file.bin`, dest: path.join(dir, 'md5-bad.bin'), md5: '0'.repeat(32) }),
      (e: unknown) => e instanceof DownloadError && e.kind === 'checksum' && /md5 mismatch/.test(e.message),
    );
  });

  it('resumes a partial .part with a Range request and fetches only the rest', async () => {
    const dest = path.join(dir, 'resume.bin');
    const have = 120_000;
    fs.writeFileSync(dest + '.part', data.subarray(0, have));
    const n = server.log.length;
    const r = await downloadFile({ url: `${server.base}/file.bin`, dest, sha256: sha256(data) });
    const reqs = server.log.slice(n);
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0]!.headers.range, `bytes=${have}-`);
    assert.equal(reqs[0]!.sent, data.length - have, 'only the missing bytes were sent');
    assert.equal(r.resumedFrom, have);
    assert.deepEqual(fs.readFileSync(dest), data);
    assert.equal(fs.existsSync(dest + '.part'), false);
  });

  it('restarts from zero when the server ignores Range (HTTP 200)', async () => {
    const dest = path.join(dir, 'norange.bin');
    // Even a part that is not a prefix of the file is harmless: it is thrown away on the 200.
    fs.writeFileSync(dest + '.part', Buffer.alloc(50_000, 0xab));
    const n = server.log.length;
    const r = await downloadFile({ url: `${server.base}/norange.bin`, dest, sha256: sha256(data) });
    const reqs = server.log.slice(n);
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0]!.headers.range, 'bytes=50000-');
    assert.equal(reqs[0]!.sent, data.length);
    assert.equal(r.resumedFrom, 0);
    assert.deepEqual(fs.readFileSync(dest), data);
  });

  it('treats a complete .part (HTTP 416) as done after verifying it', async () => {
    const dest = path.join(dir, 'complete.bin');
    fs.writeFileSync(dest + '.part', data);
    const r = await downloadFile({ url: `${server.base}/file.bin`, dest, sha256: sha256(data) });
    assert.equal(r.size, data.length);
    assert.deepEqual(fs.readFileSync(dest), data);
  });

  it('rejects corrupted content: checksum error naming the URL and both hashes, nothing left behind', async () => {
    const dest = path.join(dir, 'corrupt.bin');
    const url = `${server.base}/corrupt.bin`;
    await assert.rejects(downloadFile({ url, dest, sha256: sha256(data) }), (e: unknown) => {
      assert.ok(e instanceof DownloadError);
      assert.equal(e.kind, 'checksum');
      assert.match(e.message, new RegExp(url.replace(/[.]/g, '\\.')));
      assert.ok(e.message.includes(sha256(data)), 'expected hash in message');
      assert.ok(e.message.includes(sha256(corrupt)), 'actual hash in message');
      return true;
    });
    assert.equal(fs.existsSync(dest), false);
    assert.equal(fs.existsSync(dest + '.part'), false);
  });

  it('follows relative and absolute redirects', async () => {
    const dest = path.join(dir, 'redirected.bin');
    const n = server.log.length;
    const r = await downloadFile({ url: `${server.base}/r1`, dest, sha256: sha256(data) });
    assert.deepEqual(
      server.log.slice(n).map((l) => l.url),
      ['/r1', '/r2', '/file.bin'],
    );
    assert.equal(r.requests, 3);
    assert.deepEqual(fs.readFileSync(dest), data);
  });

  it('does not send Authorization to another origin after a redirect', async () => {
    const dest = path.join(dir, 'other.bin');
    const n = server.log.length;
    const m = other.log.length;
    await downloadFile({ url: `${server.base}/elsewhere`, dest, headers: { Authorization: 'Bearer secret' } });
    assert.equal(server.log[n]!.headers.authorization, 'Bearer secret');
    assert.equal(other.log.length - m, 1);
    assert.equal(other.log[m]!.headers.authorization, undefined);
  });

  it('stops after too many redirects', async () => {
    await assert.rejects(
      downloadFile({ url: `${server.base}/loop0`, dest: path.join(dir, 'loop.bin'), maxRedirects: 3 }),
      (e: unknown) => e instanceof DownloadError && e.kind === 'redirect' && /more than 3 redirects/.test(e.message),
    );
  });

  it('reports HTTP 404 clearly and does not retry it', async () => {
    const url = `${server.base}/missing.bin`;
    const n = server.log.length;
    await assert.rejects(downloadFile({ url, dest: path.join(dir, 'missing.bin'), retryDelayMs: 1 }), (e: unknown) => {
      assert.ok(e instanceof DownloadError);
      assert.equal(e.status, 404);
      assert.ok(e.message.startsWith(`${url}: HTTP 404`), e.message);
      assert.match(e.message, /no file at this address/);
      return true;
    });
    assert.equal(server.log.length - n, 1);
  });

  it('retries after a dropped connection, resuming from the bytes it got', async () => {
    const dest = path.join(dir, 'flaky.bin');
    const n = server.log.length;
    const r = await downloadFile({ url: `${server.base}/flaky.bin`, dest, sha256: sha256(data), retryDelayMs: 5 });
    const reqs = server.log.slice(n);
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0]!.headers.range, undefined);
    assert.match(String(reqs[1]!.headers.range), /^bytes=\d+-$/);
    assert.ok(r.resumedFrom > 0, 'second request continued the part');
    assert.deepEqual(fs.readFileSync(dest), data);
  });

  it('retries HTTP 5xx a few times with backoff', async () => {
    const dest = path.join(dir, 'busy.bin');
    const n = server.log.length;
    await downloadFile({ url: `${server.base}/busy.bin`, dest, sha256: sha256(data), retryDelayMs: 5 });
    assert.equal(server.log.length - n, 3);
    assert.deepEqual(fs.readFileSync(dest), data);
  });

  it('times out a stalled transfer and keeps the part for the next run', async () => {
    const dest = path.join(dir, 'stall.bin');
    await assert.rejects(
      downloadFile({ url: `${server.base}/stall.bin`, dest, timeoutMs: 150, retries: 0 }),
      (e: unknown) =>
        e instanceof DownloadError && e.kind === 'network' && e.code === 'ETIMEDOUT' && /partial file .*stall\.bin\.part is kept/.test(e.message),
    );
    assert.equal(fs.statSync(dest + '.part').size, 1000);
    assert.equal(fs.existsSync(dest), false);
  });

  it('rejects a server that reports a size other than the expected one', async () => {
    const dest = path.join(dir, 'size.bin');
    await assert.rejects(
      downloadFile({ url: `${server.base}/file.bin`, dest, expectedSize: data.length + 1 }),
      (e: unknown) => e instanceof DownloadError && e.kind === 'size',
    );
    assert.equal(fs.existsSync(dest), false);
  });

  it('reports a refused connection as a network error after its retries', async () => {
    const { closedPort } = await import('./helpers.js');
    const port = await closedPort();
    await assert.rejects(
      downloadFile({ url: `http://127.0.0.1:${port}/x`, dest: path.join(dir, 'refused.bin'), retries: 1, retryDelayMs: 1 }),
      (e: unknown) => e instanceof DownloadError && e.kind === 'network' && e.code === 'ECONNREFUSED' && /gave up after 2 attempts/.test(e.message),
    );
  });
});
