/**
 * Catalogue names through the hub code. A SigLIP by name, against a fake hub on 127.0.0.1 serving the tiny SigLIP folder: the
 * weights and spiece.model as LFS files (302 to a CDN, X-Linked-Etag sha256), the JSON files from git (ETag = git
 * blob id), all in one cache folder the family loads from; a tampered file is refused and deleted; nothing is
 * fetched twice; offline, a missing file is named. `--model siglip-base-patch16-224` resolves through the
 * catalogue and refuses a file that is not that architecture. open_clip's zoo where it is OpenAI's architecture
 * (MetaCLIP, a Hugging Face CLIPModel folder) by name, and a GELU CLIPModel folder refused by name.
 */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MODEL_CATALOGUE, loadModel } from '../../src/backbones/index.js';
import { fetchModel, type ClipModelSpec } from '../../src/net/hub.js';
import { fixturesDir, goldenDir, tmpDir } from '../helpers.js';
import { sendFile, startServer, type TestServer } from './helpers.js';

const folder = path.join(fixturesDir, 'siglip', 'tiny-siglip');
const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const gitBlob = (b: Buffer) => crypto.createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const LFS = new Set(['model.safetensors', 'spiece.model']);
const FILES = ['model.safetensors', 'config.json', 'preprocessor_config.json', 'spiece.model', 'tokenizer_config.json'];

describe('SigLIP folders from the hub (fake hub on 127.0.0.1)', () => {
  let hub: TestServer;
  let cdn: TestServer;
  const content = new Map(FILES.map((f) => [f, fs.readFileSync(path.join(folder, f))]));
  // MetaCLIP: the tiny CLIP in Hugging Face names and a CLIPModel config.json (its activation set per test)
  const clipHf = fs.readFileSync(path.join(goldenDir, 'tiny_clip_hf.safetensors'));
  let metaclipAct = 'quick_gelu';
  const metaclipConfig = () => Buffer.from(JSON.stringify({ model_type: 'clip', text_config: { hidden_act: metaclipAct }, vision_config: { hidden_act: metaclipAct } }));
  /** what the hub claims for config.json (a test sets a wrong digest) */
  let configEtag = gitBlob(content.get('config.json')!);
  const siglipEntry = MODEL_CATALOGUE.find((m) => m.name === 'siglip-base-patch16-224')!;
  const models: ClipModelSpec[] = [{ ...siglipEntry, name: 'Tiny-SigLIP', aliases: [], repo: 'test/tiny-siglip' }];

  before(async () => {
    cdn = await startServer((req, res, log) => {
      if (req.url === '/blobs/clip-hf') return sendFile(req, res, log, clipHf);
      const f = /^\/blobs\/(.+)$/.exec(req.url ?? '')?.[1];
      if (f && content.has(f)) return sendFile(req, res, log, content.get(f)!);
      res.writeHead(404);
      res.end();
    });
    hub = await startServer((req, res, log) => {
      if (req.url === '/facebook/metaclip-b16-fullcc2.5b/resolve/main/model.safetensors') {
        res.writeHead(302, { Location: `${cdn.base}/blobs/clip-hf`, 'X-Linked-Etag': `"${sha256(clipHf)}"`, 'X-Linked-Size': String(clipHf.length) });
        return res.end();
      }
      if (req.url === '/facebook/metaclip-b16-fullcc2.5b/resolve/main/config.json') {
        const data = metaclipConfig();
        return sendFile(req, res, log, data, { headers: { ETag: `"${gitBlob(data)}"` } });
      }
      const m = /^\/(test\/tiny-siglip|google\/siglip-base-patch16-224)\/resolve\/main\/(.+)$/.exec(req.url ?? '');
      const file = m?.[2];
      if (!file || !content.has(file)) {
        res.writeHead(404);
        return res.end('Entry not found');
      }
      const data = content.get(file)!;
      if (LFS.has(file)) {
        res.writeHead(302, { Location: `${cdn.base}/blobs/${file}`, 'X-Linked-Etag': `"${sha256(data)}"`, 'X-Linked-Size': String(data.length), ETag: `"${gitBlob(Buffer.from('pointer'))}"` });
        return res.end();
      }
      return sendFile(req, res, log, data, { headers: { ETag: `"${file === 'config.json' ? configEtag : gitBlob(data)}"` } });
    });
  });
  after(async () => {
    await hub.close();
    await cdn.close();
  });

  const base = tmpDir('mpl-siglip-hub-');
  const envFor = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({ MPL_CACHE: fs.mkdtempSync(path.join(base, 'c-')), HF_ENDPOINT: hub.base, ...extra });

  it('fetches the weights and the folder files into one verified cache folder, which loads as a SigLIP; a second call fetches nothing', async () => {
    const env = envFor();
    const got = await fetchModel('Tiny-SigLIP', { env, models });
    const dir = path.dirname(got.path);
    for (const f of FILES) {
      assert.deepEqual(fs.readFileSync(path.join(dir, f)), content.get(f), `${f} as served`);
      const sidecar = JSON.parse(fs.readFileSync(path.join(dir, f + '.json'), 'utf8'));
      assert.equal(sidecar.verified_against, 'hub-header', f);
    }
    const requests = hub.log.length;
    await fetchModel('Tiny-SigLIP', { env, models });
    assert.equal(hub.log.length, requests, 'the cached folder is used without a request');
    const loaded = await loadModel({ weights: dir });
    assert.equal(loaded.family, 'siglip');
    loaded.model.dispose();
  });

  it('refuses and deletes a file whose bytes do not match the hub digest', async () => {
    configEtag = gitBlob(Buffer.from('something else'));
    try {
      const env = envFor();
      await assert.rejects(fetchModel('Tiny-SigLIP', { env, models, retries: 0 }), /config\.json does not match the hub's digest \(git blob [0-9a-f]{40}, expected [0-9a-f]{40}\); it was deleted/);
      const dir = path.join(env.MPL_CACHE!, 'hub', 'test', 'tiny-siglip', 'main');
      assert.ok(!fs.existsSync(path.join(dir, 'config.json')));
    } finally {
      configEtag = gitBlob(content.get('config.json')!);
    }
  });

  it('offline, a folder file missing from the cache is named with where to put it', async () => {
    const env = envFor();
    const got = await fetchModel('Tiny-SigLIP', { env, models });
    fs.rmSync(path.join(path.dirname(got.path), 'spiece.model'));
    await assert.rejects(fetchModel('Tiny-SigLIP', { env: { ...env, HF_HUB_OFFLINE: '1' }, models }), /cannot download test\/tiny-siglip's spiece\.model \(HF_HUB_OFFLINE is set\).*needs it beside its weights/);
  });

  it('--model siglip-base-patch16-224 resolves through the catalogue and checks the architecture it finds', async () => {
    const env = envFor();
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      await assert.rejects(loadModel({ model: 'siglip-base-patch16-224' }), /was found as siglip-base-patch16-224 but holds another model \(SigLIP, vision width 32.*siglip-base-patch16-224 is SigLIP, vision width 768/);
      assert.ok(hub.log.some((r) => r.url === '/google/siglip-base-patch16-224/resolve/main/model.safetensors'));
    } finally {
      for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it('MetaCLIP by name: weights and config.json through the hub code, then the catalogue architecture check', async () => {
    const env = envFor();
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      metaclipAct = 'quick_gelu';
      await assert.rejects(loadModel({ model: 'metaclip-b16' }), /was found as ViT-B\/16-metaclip-2\.5b but holds another model \(ViT, vision width 128/);
      const dir = path.join(env.MPL_CACHE!, 'hub', 'facebook', 'metaclip-b16-fullcc2.5b', 'main');
      assert.deepEqual(fs.readFileSync(path.join(dir, 'model.safetensors')), clipHf);
      assert.ok(fs.existsSync(path.join(dir, 'config.json.json')), 'config.json verified and recorded');
    } finally {
      for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it("a CLIPModel folder whose config.json says GELU (open_clip's LAION/DataComp) is refused by name", async () => {
    const env = envFor();
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      metaclipAct = 'gelu';
      await assert.rejects(loadModel({ model: 'metaclip-b16' }), /config\.json: the text tower's activation is gelu; only OpenAI's QuickGELU CLIPs are supported/);
    } finally {
      metaclipAct = 'quick_gelu';
      for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});
