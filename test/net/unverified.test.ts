/**
 * Bytes nothing can check are not accepted silently: a chunked download with neither size nor digest, hub
 * weights without a sha256, a cache file placed by hand without a known digest, a dataset archive placed
 * by hand with the wrong md5. Each is refused with what to do, or accepted only on request with a warning
 * that says exactly what was (not) checked. All against servers on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadClip } from '../../src/backbones/clip/load.js';
import { downloadDataset, type DatasetEntry } from '../../src/data/download.js';
import { DownloadError, downloadFile } from '../../src/net/download.js';
import { fetchModel, hubCachePath, type ClipModelSpec } from '../../src/net/hub.js';
import { UserError } from '../../src/util/errors.js';
import type { Reporter } from '../../src/util/reporter.js';
import { tmpDir } from '../helpers.js';
import { bytes, makeTar, sendFile, startServer, type TestServer } from './helpers.js';

const md5 = (b: Buffer): string => crypto.createHash('md5').update(b).digest('hex');
const sha256 = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

/** A reporter that keeps the warnings. */
function recorder(): Reporter & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, info() {}, warn: (m) => warnings.push(m), progress: () => ({ update() {}, stop() {} }) };
}

describe('unverifiable downloads', () => {
  const full = bytes(200_000, 9);
  const cut = full.subarray(0, 120_000); // what arrives when the transfer ends early
  let cdn: TestServer;
  let hub: TestServer;
  const work = tmpDir('mpl-unverified-');
  const fresh = () => fs.mkdtempSync(path.join(work, 'c-'));

  before(async () => {
    cdn = await startServer((req, res, log) => {
      if (req.url === '/chunked-short') {
        // Transfer-Encoding: chunked, no Content-Length; the body simply ends early and cleanly.
        res.writeHead(200);
        res.end(cut);
        return;
      }
      if (req.url === '/sized') return sendFile(req, res, log, full);
      res.writeHead(404);
      res.end();
    });
    hub = await startServer((req, res) => {
      const to = (where: string, headers: Record<string, string> = {}) => {
        res.writeHead(302, { Location: `${cdn.base}${where}`, ...headers });
        res.end();
      };
      if (req.url === '/t/nosha/resolve/main/model.safetensors') return to('/chunked-short');
      if (req.url === '/t/sizeonly/resolve/main/model.safetensors') return to('/sized', { 'X-Linked-Size': String(full.length) });
      res.writeHead(404);
      res.end();
    });
  });
  after(async () => {
    await hub.close();
    await cdn.close();
  });

  const models: ClipModelSpec[] = [
    { name: 'NoSha', aliases: [], repo: 't/nosha', file: 'model.safetensors', revisions: [{ revision: 'main' }] },
    { name: 'SizeOnly', aliases: [], repo: 't/sizeonly', file: 'model.safetensors', revisions: [{ revision: 'main' }] },
  ];
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({ MPL_CACHE: fresh(), HF_ENDPOINT: hub.base, ...extra });

  it('downloadFile: a chunked body with no size and no digest is refused and nothing is kept', async () => {
    const dest = path.join(fresh(), 'w.bin');
    await assert.rejects(
      downloadFile({ url: `${cdn.base}/chunked-short`, dest, retries: 0 }),
      (e: unknown) => e instanceof DownloadError && e.kind === 'unverified' && /neither a size nor a checksum.*120000 bytes arrived.*Nothing was kept/.test(e.message),
    );
    assert.deepEqual(fs.readdirSync(path.dirname(dest)), []);
    const ok = await downloadFile({ url: `${cdn.base}/chunked-short`, dest, retries: 0, allowUnverified: true });
    assert.equal(ok.size, 120_000);
    assert.equal(ok.sizeChecked, false);
  });

  it('hub weights without a sha256 are refused before any byte is downloaded, unless allowed', async () => {
    const n = cdn.log.length;
    await assert.rejects(fetchModel('NoSha', { env: env(), models, retries: 0 }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /sends no sha256 for this file and none is pinned for NoSha at 'main'.*Nothing was downloaded.*--allow-unverified \(MPL_ALLOW_UNVERIFIED=1\)/);
      return true;
    });
    assert.equal(cdn.log.length, n, 'the CDN was not asked');

    // Allowed: the warning says that nothing (not "the size") was checked.
    const r = recorder();
    const got = await fetchModel('NoSha', { env: env({ MPL_ALLOW_UNVERIFIED: '1' }), models, retries: 0, reporter: r });
    assert.equal(got.size, 120_000);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /without a sha256 or a size .*nothing about its bytes was checked/);
    const r2 = recorder();
    await fetchModel('SizeOnly', { env: env(), models, allowUnverified: true, reporter: r2 });
    assert.match(r2.warnings[0]!, /only its size was checked/);
  });

  it('a cache file placed by hand with no known digest is refused unless allowed', async () => {
    const e = env();
    const dest = hubCachePath('t/nosha', 'main', 'model.safetensors', e);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, full);
    await assert.rejects(fetchModel('NoSha', { env: { ...e, HF_HUB_OFFLINE: '1' }, models }), /placed in the cache by hand, but no digest is known.*--weights FILE/);
    const got = await fetchModel('NoSha', { env: { ...e, HF_HUB_OFFLINE: '1', MPL_ALLOW_UNVERIFIED: '1' }, models });
    assert.equal(got.sha256, sha256(full));
  });

  it('a cached file that verifies but does not load says how to delete it', async () => {
    const cache = fresh();
    const dest = hubCachePath('openai/clip-vit-base-patch32', 'main', 'model.safetensors', { MPL_CACHE: cache });
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const junk = Buffer.from('not a weights file at all');
    fs.writeFileSync(dest, junk);
    fs.writeFileSync(dest + '.json', JSON.stringify({ sha256: sha256(junk), size: junk.length, verified_against: 'hub-header' }));
    const saved = { MPL_CACHE: process.env.MPL_CACHE, HF_HUB_OFFLINE: process.env.HF_HUB_OFFLINE };
    process.env.MPL_CACHE = cache;
    process.env.HF_HUB_OFFLINE = '1';
    try {
      await assert.rejects(loadClip('ViT-B/32'), (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.ok(err.message.startsWith(dest), err.message);
        assert.ok(err.message.includes(`delete it (rm '${dest}' '${dest}.json') and run again`), err.message);
        return true;
      });
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

describe('dataset archives placed by hand', () => {
  const work = tmpDir('mpl-placed-');
  const archive = makeTar([{ name: 'set/images/a.jpg', data: Buffer.from('jpeg bytes') }]);
  const entry = (root: string): DatasetEntry[] => [
    {
      name: 'Placed',
      aliases: [],
      dir: 'placed',
      homepage: '',
      // nothing listens here: the only way in is the file placed by hand
      files: [{ urls: ['http://127.0.0.1:9/set.tar.gz'], file: 'set.tar.gz', md5: md5(archive), kind: 'tar', take: [{ from: 'set/images', to: 'images' }] }],
      expect: ['images/a.jpg'],
    },
  ];
  const place = (root: string, data: Buffer) => {
    const where = path.join(root, '.mpl-downloads', 'placed', 'set.tar.gz');
    fs.mkdirSync(path.dirname(where), { recursive: true });
    fs.writeFileSync(where, data);
    return where;
  };

  it('a wrong archive where the offline message says to put it is refused, nothing extracted', async () => {
    const root = path.join(work, 'r1');
    const where = place(root, makeTar([{ name: 'set/images/a.jpg', data: Buffer.from('something else') }]));
    await assert.rejects(downloadDataset('Placed', { root, catalogue: entry(root) }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, new RegExp(`^${where.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: its md5 is [0-9a-f]{32}, expected ${md5(archive)}, so it is not the published set\\.tar\\.gz.*Delete it`));
      return true;
    });
    assert.equal(fs.existsSync(path.join(root, 'placed', 'images')), false);
  });

  it('the right archive is checked and extracted without any download', async () => {
    const root = path.join(work, 'r2');
    place(root, archive);
    const r = await downloadDataset('Placed', { root, catalogue: entry(root) });
    assert.equal(r.complete, true);
    assert.equal(fs.readFileSync(path.join(root, 'placed', 'images', 'a.jpg'), 'utf8'), 'jpeg bytes');
  });
});
