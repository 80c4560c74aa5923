/**
 * Reusing the Hugging Face cache, --weights with snapshot folders, the architecture check of files found by
 * name, `mpl models`, and HTTP proxies from the environment. Everything local: fake caches in temporary
 * folders, an origin and a proxy on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadClip } from '../../src/backbones/clip/load.js';
import { downloadFile } from '../../src/net/download.js';
import { hfHubCacheDir } from '../../src/net/hf-cache.js';
import { fetchModel, resolveWeightsPath, type ClipModelSpec } from '../../src/net/hub.js';
import { proxyAgent } from '../../src/net/proxy.js';
import { goldenDir, repoRoot, tmpDir } from '../helpers.js';
import { writeImage } from '../data/fixtures.js';
import { bytes, sendFile, startServer } from './helpers.js';

const tiny = path.join(goldenDir, 'tiny_clip.safetensors');
const sha256 = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

/** A Hugging Face cache entry laid out as huggingface_hub writes it: refs/, snapshots/<commit>/ links into blobs/. */
function hfCache(cache: string, repo: string, file: string, content: Buffer, ref = 'main'): { commit: string; snapshot: string } {
  const dir = path.join(cache, `models--${repo.replace('/', '--')}`);
  const commit = sha256(Buffer.from(repo + ref)).slice(0, 40);
  const blob = sha256(content);
  fs.mkdirSync(path.join(dir, 'blobs'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'blobs', blob), content);
  fs.mkdirSync(path.join(dir, 'refs', ...ref.split('/').slice(0, -1)), { recursive: true });
  fs.writeFileSync(path.join(dir, 'refs', ...ref.split('/')), commit);
  const snapshot = path.join(dir, 'snapshots', commit);
  fs.mkdirSync(snapshot, { recursive: true });
  fs.symlinkSync(path.join('..', '..', 'blobs', blob), path.join(snapshot, file));
  return { commit, snapshot };
}

describe('the Hugging Face cache', () => {
  it('finds HF_HUB_CACHE, HF_HOME/hub and the default', () => {
    assert.equal(hfHubCacheDir({ HF_HUB_CACHE: '/a', HF_HOME: '/b' }), path.resolve('/a'));
    assert.equal(hfHubCacheDir({ HF_HOME: '/b' }), path.resolve('/b/hub'));
    assert.equal(hfHubCacheDir({ XDG_CACHE_HOME: '/x' }), path.resolve('/x/huggingface/hub'));
  });

  it('is used before downloading: no request when the snapshot is there, pinned digests checked by blob name', async () => {
    const hf = tmpDir('mpl-hf-');
    const content = bytes(50_000, 7);
    const other = bytes(50_000, 8);
    hfCache(hf, 'test/clip-a', 'model.safetensors', content);
    hfCache(hf, 'test/clip-b', 'model.safetensors', other, 'refs/pr/3');
    const hub = await startServer((_req, res) => {
      res.statusCode = 500;
      res.end('no');
    });
    try {
      const models: ClipModelSpec[] = [
        { name: 'A', aliases: [], repo: 'test/clip-a', file: 'model.safetensors', revisions: [{ revision: 'main' }] },
        { name: 'B', aliases: [], repo: 'test/clip-b', file: 'model.safetensors', revisions: [{ revision: 'refs/pr/3', sha256: sha256(other) }] },
        { name: 'C', aliases: [], repo: 'test/clip-b', file: 'model.safetensors', revisions: [{ revision: 'refs/pr/3', sha256: sha256(content) }] },
      ];
      const env = { HF_HUB_CACHE: hf, MPL_CACHE: tmpDir('mpl-own-'), HF_ENDPOINT: hub.base };
      const a = await fetchModel('A', { env, models, retries: 0 });
      assert.equal(a.source, 'hf-cache');
      assert.equal(a.sha256, sha256(content));
      assert.deepEqual(fs.readFileSync(a.path), content);
      const b = await fetchModel('B', { env, models, retries: 0 });
      assert.equal(b.source, 'hf-cache');
      assert.equal(hub.log.length, 0, 'nothing was requested');
      // a cached file that is not the pinned one is not used: the hub is asked (and fails here)
      await assert.rejects(fetchModel('C', { env, models, retries: 0 }), /HTTP 500/);
      assert.equal(hub.log.length, 1);
    } finally {
      await hub.close();
    }
  });

  it('a file found by model name must hold that architecture', async () => {
    const hf = tmpDir('mpl-hf-');
    hfCache(hf, 'openai/clip-vit-base-patch16', 'model.safetensors', fs.readFileSync(tiny));
    const saved = { ...process.env };
    Object.assign(process.env, { HF_HUB_CACHE: hf, MPL_CACHE: tmpDir('mpl-own-'), HF_HUB_OFFLINE: '1', MPL_NO_BLAS_CHECK: '1' });
    try {
      await assert.rejects(loadClip('ViT-B/16'), /was found as ViT-B\/16 but holds another CLIP \(ViT, vision width 128, 4 layers, patch 8, 32 px.*ViT-B\/16 is ViT, vision width 768, 12 layers, patch 16, 224 px/);
    } finally {
      process.env = saved;
    }
  });
});

describe('--weights with a folder', () => {
  const hf = tmpDir('mpl-hf-');
  const { snapshot } = hfCache(hf, 'openai/clip-vit-base-patch16', 'model.safetensors', fs.readFileSync(tiny));
  const repoFolder = path.dirname(path.dirname(snapshot));

  it('takes a snapshot folder, a models--org--name folder, or says what it looked for', () => {
    assert.equal(resolveWeightsPath(snapshot), path.join(snapshot, 'model.safetensors'));
    assert.equal(resolveWeightsPath(repoFolder), path.join(snapshot, 'model.safetensors'));
    const empty = tmpDir('mpl-empty-');
    assert.throws(() => resolveWeightsPath(empty), /a folder without CLIP weights \(looked for model\.safetensors, .*pytorch_model\.bin/);
  });

  it('works for zeroshot, plan and info on the command line', async () => {
    const img = path.join(tmpDir('mpl-img-'), 'a.png');
    await writeImage(img, 40, 40, 1);
    const mpl = (args: string[]) => spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'mpl.js'), ...args], { encoding: 'utf8', env: { ...process.env, MPL_NUM_THREADS: '1' } });
    const z = mpl(['zeroshot', '--weights', snapshot, '--classes', 'cat,dog', '--json', '--device', 'cpu', '--precision', 'fp32', img]);
    assert.equal(z.status, 0, z.stderr);
    assert.deepEqual(Object.keys(JSON.parse(z.stdout)[0].probabilities), ['cat', 'dog']);
    const p = mpl(['plan', '--method', 'mpl', '--depth', '3', '--weights', repoFolder, '--json']);
    assert.equal(p.status, 0, p.stderr);
  });
});

describe('mpl models', () => {
  it('lists names, aliases, sizes and the copies on this machine, ViT-L/14@336px included', () => {
    const hf = tmpDir('mpl-hf-');
    hfCache(hf, 'openai/clip-vit-base-patch16', 'model.safetensors', Buffer.from('x'));
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'mpl.js'), 'models', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, HF_HUB_CACHE: hf, MPL_CACHE: tmpDir('mpl-own-') },
    });
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as Array<{ name: string; aliases: string[]; image_size: number; parameters: number; size_bytes: number; cached: Array<{ cache: string; path: string }> }>;
    assert.deepEqual(rows.map((m) => m.name), ['ViT-B/16', 'ViT-B/32', 'ViT-L/14', 'ViT-L/14@336px', 'ViT-B/16-metaclip-2.5b', 'ViT-B/32-metaclip-400m', 'siglip-base-patch16-224', 'siglip-so400m-patch14-384']);
    // one catalogue of every family; parameters by each family's rule (transformers' SiglipModel counts for SigLIP)
    assert.deepEqual(rows.map((m) => (m as unknown as { family: string }).family), ['clip', 'clip', 'clip', 'clip', 'clip', 'clip', 'siglip', 'siglip']);
    assert.deepEqual(rows.slice(6).map((m) => [m.parameters, m.image_size]), [[203_155_970, 224], [877_960_498, 384]]);
    assert.equal(rows[4].parameters, 149_620_737, 'MetaCLIP B/16 is the ViT-B/16 architecture');
    const b16 = rows[0];
    assert.equal(b16.parameters, 149_620_737);
    assert.equal(b16.image_size, 224);
    assert.ok(b16.size_bytes > 5e8);
    assert.equal(b16.cached.length, 1);
    assert.equal(b16.cached[0].cache, 'huggingface');
    assert.ok(rows[1].cached.length === 0);
    const l336 = rows[3];
    assert.equal(l336.image_size, 336);
    assert.ok(l336.aliases.includes('openai/clip-vit-large-patch14-336'));
    const text = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'mpl.js'), 'models'], { encoding: 'utf8', env: { ...process.env, HF_HUB_CACHE: hf, MPL_CACHE: tmpDir('mpl-own-') } });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^families .*\n  siglip +SigLIP .*\n  clip +CLIP ViT/);
    assert.match(text.stdout, /siglip-base-patch16-224  \[siglip, Google \(SigLIP, WebLI\)\]/);
  });
});

describe('proxies from the environment', () => {
  const saved = { ...process.env };
  after(() => {
    process.env = saved;
  });

  it('downloads through HTTP_PROXY, and directly for hosts in NO_PROXY', async () => {
    const content = bytes(30_000, 9);
    const origin = await startServer((req, res, log) => sendFile(req, res, log, content));
    const seen: string[] = [];
    // a forward proxy for plain http: the request line holds the absolute URL
    const proxy = http.createServer((req, res) => {
      seen.push(req.url ?? '');
      const target = new URL(req.url ?? '');
      const up = http.request(target, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const dir = tmpDir('mpl-proxy-');
      for (const k of ['http_proxy', 'https_proxy', 'no_proxy', 'all_proxy']) delete process.env[k];
      process.env.HTTP_PROXY = proxyUrl;
      delete process.env.NO_PROXY;
      const url = `${origin.base}/file.bin`;
      const r = await downloadFile({ url, dest: path.join(dir, 'a.bin'), retries: 0 });
      assert.equal(r.sha256, sha256(content));
      assert.deepEqual(seen, [url], 'the request went through the proxy');
      assert.equal(origin.log.length, 1);
      process.env.NO_PROXY = '127.0.0.1';
      await downloadFile({ url, dest: path.join(dir, 'b.bin'), retries: 0 });
      assert.equal(seen.length, 1, 'NO_PROXY: direct');
      assert.equal(origin.log.length, 2);
      // https goes through a CONNECT tunnel agent
      process.env.HTTPS_PROXY = proxyUrl;
      delete process.env.NO_PROXY;
      assert.equal(proxyAgent(new URL('https://huggingface.co/x'))?.constructor.name, 'HttpsProxyAgent');
      process.env.NO_PROXY = 'huggingface.co';
      assert.equal(proxyAgent(new URL('https://huggingface.co/x')), undefined);
    } finally {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await origin.close();
    }
  });
});
