import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cacheDir } from '../../src/net/cache.js';
import { MODEL_CATALOGUE } from '../../src/backbones/catalogue.js';
import {
  fetchModel,
  findClipModel,
  hubCachePath,
  hubFileUrl,
  resolveWeights,
  type ClipModelSpec,
  type HubSidecar,
} from '../../src/net/hub.js';
import { UserError } from '../../src/util/errors.js';
import { tmpDir } from '../helpers.js';
import { bytes, closedPort, sendFile, startServer, type TestServer } from './helpers.js';

const sha256 = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

describe('cache folder', () => {
  it('prefers MPL_CACHE, then XDG_CACHE_HOME, then ~/.cache', () => {
    assert.equal(cacheDir({ MPL_CACHE: '/a/b', XDG_CACHE_HOME: '/x' }), path.resolve('/a/b'));
    assert.equal(cacheDir({ XDG_CACHE_HOME: '/x' }), path.resolve('/x/modular-prompt-learning'));
    assert.match(cacheDir({}), /\.cache[\\/]modular-prompt-learning$/);
  });
});

describe('model table', () => {
  it('maps the model names of the catalogue to their repos on the hub', () => {
    const find = (n: string) => findClipModel(n, MODEL_CATALOGUE);
    assert.equal(find('ViT-B/16').repo, 'openai/clip-vit-base-patch16');
    assert.equal(find('vit-b-32').repo, 'openai/clip-vit-base-patch32');
    assert.equal(find('ViT-L/14').repo, 'openai/clip-vit-large-patch14');
    assert.equal(find('siglip-base-patch16-224').repo, 'google/siglip-base-patch16-224');
    assert.equal(find('google/siglip-so400m-patch14-384').repo, 'google/siglip-so400m-patch14-384');
    assert.equal(find('metaclip-b16').repo, 'facebook/metaclip-b16-fullcc2.5b');
    assert.throws(() => find('RN50'), /unknown model 'RN50'.*ViT-B\/16/);
    for (const m of MODEL_CATALOGUE) {
      assert.equal(m.file, 'model.safetensors');
      for (const r of m.revisions) if (r.sha256) assert.match(r.sha256, /^[0-9a-f]{64}$/);
    }
  });

  it('builds resolve URLs with the revision URL-encoded', () => {
    const env = { HF_ENDPOINT: 'http://mirror.example/' };
    assert.equal(hubFileUrl('openai/clip-vit-base-patch16', 'main', 'model.safetensors', env), 'http://mirror.example/openai/clip-vit-base-patch16/resolve/main/model.safetensors');
    assert.equal(hubFileUrl('o/r', 'refs/pr/4', 'f', {}), 'https://huggingface.co/o/r/resolve/refs%2Fpr%2F4/f');
  });
});

describe('fetchModel against a fake hub on 127.0.0.1', () => {
  const weights = bytes(200_000, 3);
  const other = bytes(200_000, 4);
  let hub: TestServer;
  let cdn: TestServer;
  const models: ClipModelSpec[] = [
    { name: 'Test-B/16', aliases: [], repo: 'test/clip-b16', file: 'model.safetensors', revisions: [{ revision: 'main' }] },
    {
      // Like the real ViT-B/16 entry: main has no safetensors; a pinned pull-request ref has.
      name: 'Test-PR',
      aliases: [],
      repo: 'test/clip-pr',
      file: 'model.safetensors',
      revisions: [{ revision: 'main' }, { revision: 'refs/pr/7', sha256: sha256(weights) }],
    },
    {
      // Like the real ViT-B/32 entry: no safetensors anywhere; the official pytorch_model.bin on main.
      name: 'Test-Bin',
      aliases: [],
      repo: 'test/clip-bin',
      file: 'model.safetensors',
      revisions: [{ revision: 'main' }, { revision: 'main', file: 'pytorch_model.bin' }],
    },
    { name: 'Test-Pinned', aliases: [], repo: 'test/pinned', file: 'model.safetensors', revisions: [{ revision: 'main', sha256: sha256(other) }] },
    { name: 'Test-Bad', aliases: [], repo: 'test/bad', file: 'model.safetensors', revisions: [{ revision: 'main' }] },
    { name: 'Test-Gated', aliases: [], repo: 'test/gated', file: 'model.safetensors', revisions: [{ revision: 'main' }] },
  ];

  before(async () => {
    cdn = await startServer((req, res, log) => {
      if (req.url === '/blobs/weights') return sendFile(req, res, log, weights);
      res.writeHead(404);
      res.end();
    });
    hub = await startServer((req, res) => {
      const lfs = (sha: string): void => {
        // What the hub does for an LFS file: 302 to the CDN with the LFS digest and size.
        res.writeHead(302, {
          Location: `${cdn.base}/blobs/weights`,
          'X-Linked-Etag': `"${sha}"`,
          'X-Linked-Size': String(weights.length),
          'X-Repo-Commit': 'c0ffee',
          ETag: '"0123456789abcdef0123456789abcdef01234567"',
        });
        res.end();
      };
      switch (req.url) {
        case '/test/clip-b16/resolve/main/model.safetensors':
        case '/test/clip-pr/resolve/refs%2Fpr%2F7/model.safetensors':
        case '/test/pinned/resolve/main/model.safetensors':
        case '/test/clip-bin/resolve/main/pytorch_model.bin':
          return lfs(sha256(weights));
        case '/test/bad/resolve/main/model.safetensors':
          return lfs(sha256(other)); // header promises other bytes than the CDN serves
        case '/test/gated/resolve/main/model.safetensors':
          res.writeHead(401);
          return res.end('gated');
        default:
          res.writeHead(404);
          res.end('Entry not found');
      }
    });
  });
  after(async () => {
    await hub.close();
    await cdn.close();
  });

  // One temporary folder for the file (tmpDir registers an exit hook per call), a fresh cache per test.
  const base = tmpDir('mpl-hub-');
  const freshDir = (): string => fs.mkdtempSync(path.join(base, 'c-'));
  const envFor = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    MPL_CACHE: freshDir(),
    HF_ENDPOINT: hub.base,
    ...extra,
  });

  it('downloads through the redirect, checks X-Linked-Etag, caches with a sidecar; the second call makes no request', async () => {
    const env = envFor({ HF_TOKEN: 'hf_secret' });
    const h = hub.log.length;
    const c = cdn.log.length;
    const first = await fetchModel('Test-B/16', { env, models });
    const expected = hubCachePath('test/clip-b16', 'main', 'model.safetensors', env);
    assert.equal(first.path, expected);
    assert.equal(first.path, path.join(env.MPL_CACHE!, 'hub', 'test', 'clip-b16', 'main', 'model.safetensors'));
    assert.equal(first.fromCache, false);
    assert.deepEqual(fs.readFileSync(first.path), weights);
    assert.equal(hub.log.length - h, 1);
    assert.equal(cdn.log.length - c, 1);
    // The token goes to the hub only, never to the CDN.
    assert.equal(hub.log[h]!.headers.authorization, 'Bearer hf_secret');
    assert.equal(cdn.log[c]!.headers.authorization, undefined);

    const sidecar = JSON.parse(fs.readFileSync(first.path + '.json', 'utf8')) as HubSidecar;
    assert.equal(sidecar.sha256, sha256(weights));
    assert.equal(sidecar.size, weights.length);
    assert.equal(sidecar.verified_against, 'hub-header');
    assert.equal(sidecar.commit, 'c0ffee');
    assert.equal(sidecar.url, `${hub.base}/test/clip-b16/resolve/main/model.safetensors`);
    assert.ok(!Number.isNaN(Date.parse(sidecar.fetched_at)));

    const second = await fetchModel('Test-B/16', { env, models });
    assert.equal(second.fromCache, true);
    assert.equal(second.path, first.path);
    assert.equal(hub.log.length - h, 1, 'no request to the hub');
    assert.equal(cdn.log.length - c, 1, 'no request to the CDN');

    // resolveWeights goes through the same cache.
    assert.equal(await resolveWeights({ model: 'Test-B/16', env, models }), first.path);
    assert.equal(hub.log.length - h, 1);
  });

  it('falls back to the next revision on 404 and verifies its pinned digest', async () => {
    const env = envFor();
    const h = hub.log.length;
    const got = await fetchModel('Test-PR', { env, models });
    assert.deepEqual(hub.log.slice(h).map((l) => l.url), [
      '/test/clip-pr/resolve/main/model.safetensors',
      '/test/clip-pr/resolve/refs%2Fpr%2F7/model.safetensors',
    ]);
    assert.equal(got.revision, 'refs/pr/7');
    assert.equal(got.path, path.join(env.MPL_CACHE!, 'hub', 'test', 'clip-pr', 'refs--pr--7', 'model.safetensors'));
    const sidecar = JSON.parse(fs.readFileSync(got.path + '.json', 'utf8')) as HubSidecar;
    assert.equal(sidecar.verified_against, 'pinned+hub-header');
  });

  it("falls back to the official pytorch_model.bin when no safetensors exists", async () => {
    const env = envFor();
    const h = hub.log.length;
    const got = await fetchModel('Test-Bin', { env, models });
    assert.deepEqual(hub.log.slice(h).map((l) => l.url), [
      '/test/clip-bin/resolve/main/model.safetensors',
      '/test/clip-bin/resolve/main/pytorch_model.bin',
    ]);
    assert.equal(got.path, path.join(env.MPL_CACHE!, 'hub', 'test', 'clip-bin', 'main', 'pytorch_model.bin'));
    assert.deepEqual(fs.readFileSync(got.path), weights);
    const again = await fetchModel('Test-Bin', { env, models });
    assert.equal(again.fromCache, true);
    assert.equal(again.path, got.path);
  });

  it('says what to do when no revision has the file', async () => {
    const env = envFor();
    const spec: ClipModelSpec[] = [{ name: 'Nothing', aliases: [], repo: 'test/none', file: 'model.safetensors', revisions: [{ revision: 'main' }] }];
    await assert.rejects(fetchModel('Nothing', { env, models: spec }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /test\/none has no model\.safetensors at revision 'main'/);
      assert.match(e.message, /--revision REV/);
      assert.match(e.message, /--weights FILE/);
      return true;
    });
  });

  it('refuses before downloading when the hub header contradicts the pinned digest', async () => {
    const env = envFor();
    const c = cdn.log.length;
    await assert.rejects(fetchModel('Test-Pinned', { env, models }), /hub now serves a different model\.safetensors/);
    assert.equal(cdn.log.length - c, 0, 'the CDN was never asked');
    assert.equal(fs.existsSync(hubCachePath('test/pinned', 'main', 'model.safetensors', env)), false);
  });

  it('deletes a download whose bytes do not match X-Linked-Etag', async () => {
    const env = envFor();
    await assert.rejects(fetchModel('Test-Bad', { env, models }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /sha256 mismatch/);
      assert.ok(e.message.includes(sha256(other)) && e.message.includes(sha256(weights)));
      return true;
    });
    const dest = hubCachePath('test/bad', 'main', 'model.safetensors', env);
    assert.equal(fs.existsSync(dest), false);
    assert.equal(fs.existsSync(dest + '.part'), false);
  });

  it('explains HTTP 401 as a gated repository needing HF_TOKEN', async () => {
    await assert.rejects(fetchModel('Test-Gated', { env: envFor(), models }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /HTTP 401/);
      assert.match(e.message, /gated or private/);
      assert.match(e.message, /set HF_TOKEN/);
      return true;
    });
    await assert.rejects(fetchModel('Test-Gated', { env: envFor({ HF_TOKEN: 'x' }), models }), /HF_TOKEN is set but the hub refused it/);
  });

  it('offline: says which file to download from which URL and where to put it', async () => {
    const port = await closedPort();
    const env: NodeJS.ProcessEnv = { MPL_CACHE: freshDir(), HF_ENDPOINT: `http://127.0.0.1:${port}` };
    await assert.rejects(fetchModel('Test-PR', { env, models, retries: 0 }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      // The pinned revision is the one recommended (known to have the file).
      assert.ok(e.message.includes(`http://127.0.0.1:${port}/test/clip-pr/resolve/refs%2Fpr%2F7/model.safetensors`), e.message);
      assert.ok(e.message.includes(hubCachePath('test/clip-pr', 'refs/pr/7', 'model.safetensors', env)), e.message);
      assert.match(e.message, /--weights FILE/);
      assert.match(e.message, /ECONNREFUSED/);
      return true;
    });
    // HF_HUB_OFFLINE: no connection attempted at all.
    await assert.rejects(fetchModel('Test-B/16', { env: { ...env, HF_HUB_OFFLINE: '1' }, models }), /HF_HUB_OFFLINE is set/);
  });

  it('uses a file placed by hand in the cache (hashing it once) without network', async () => {
    const env = envFor();
    const dest = hubCachePath('test/clip-pr', 'refs/pr/7', 'model.safetensors', env);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, weights);
    const h = hub.log.length;
    const got = await fetchModel('Test-PR', { env, models });
    assert.equal(got.path, dest);
    assert.equal(got.fromCache, true);
    assert.equal(hub.log.length, h);
    const sidecar = JSON.parse(fs.readFileSync(dest + '.json', 'utf8')) as HubSidecar;
    assert.equal(sidecar.verified_against, 'pinned');

    // A wrong file placed by hand is refused with the path and what to do.
    const env2 = envFor();
    const dest2 = hubCachePath('test/clip-pr', 'refs/pr/7', 'model.safetensors', env2);
    fs.mkdirSync(path.dirname(dest2), { recursive: true });
    fs.writeFileSync(dest2, other);
    await assert.rejects(fetchModel('Test-PR', { env: env2, models }), /does not match.*Delete it/);
  });

  it('resolveWeights: a local --weights file is checked to exist, nothing else', async () => {
    const dir = freshDir();
    const file = path.join(dir, 'w.safetensors');
    fs.writeFileSync(file, 'x');
    assert.equal(await resolveWeights({ weights: file }), file);
    await assert.rejects(resolveWeights({ weights: path.join(dir, 'nope.safetensors') }), /nope\.safetensors: weights file not found/);
    await assert.rejects(resolveWeights({ weights: dir }), /a folder without CLIP weights \(looked for model\.safetensors/);
    await assert.rejects(resolveWeights({}), /pass --model NAME .* or --weights FILE/);
  });
});
