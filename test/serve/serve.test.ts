/**
 * `mpl serve` end to end: the real binary on a free port of 127.0.0.1 with a prompt package (an official Dassl
 * checkpoint imported for the golden tiny CLIP), answers equal to `mpl predict --json` (1e-4) for raw and multipart
 * uploads, bad requests answered with 4xx JSON while the server stays up, concurrent requests batched, the upload
 * page driven in headless Chromium (playwright-core; screenshots under test-output/serve/), and SIGTERM: a request
 * already received is answered, then the process exits 0.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import sharp from 'sharp';
import { chromium, type BrowserContext } from 'playwright-core';
import { loadClip } from '../../src/backbones/clip/load.js';
import { importDasslCheckpoint } from '../../src/packages/import.js';
import { fixturesDir, goldenDir, repoRoot, tmpDir } from '../helpers.js';
import { makeImageFolder, mplCli as mpl, ok } from '../e2e/fixtures.js';

const chromiumPath = process.env.MPL_CHROMIUM ?? '/usr/bin/chromium';
const shots = path.join(process.env.MPL_TEST_OUTPUT ?? path.join(repoRoot, 'test-output'), 'serve');
const weights = path.join(goldenDir, 'tiny_clip.safetensors');
const work = tmpDir('mpl-serve-');
const root = path.join(work, 'images');
const pkg = path.join(work, 'pkg');
const classes = ['red_square', 'green_field', 'blue_sky', 'yellow_sun'];
let images: string[] = [];

type Prediction = { image: string | null; probabilities: Record<string, number>; top: Array<{ class: string; probability: number }> };
let expected = new Map<string, Prediction>();

/** Starts `mpl serve ARGS --port 0`; resolves once it prints its URL. */
async function startServer(args: string[]): Promise<{ child: ChildProcess; url: string; stdout: () => string; stderr: () => string }> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'mpl.js'), 'serve', '--weights', weights, '--prompts', pkg, '--port', '0', '--device', 'cpu', '--precision', 'fp32', ...args], {
    env: { ...process.env, MPL_NUM_THREADS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mpl serve did not start in 120 s: ${out} ${err}`)), 120_000);
    child.stdout!.on('data', () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`mpl serve exited (${code}): ${err}`)));
  });
  return { child, url, stdout: () => out, stderr: () => err };
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.on('exit', (code) => resolve(code))));

function close(a: Prediction, b: Prediction, label: string): void {
  assert.deepEqual(Object.keys(a.probabilities).sort(), Object.keys(b.probabilities).sort(), label);
  for (const [c, p] of Object.entries(b.probabilities)) assert.ok(Math.abs(a.probabilities[c] - p) <= 1e-4, `${label}: ${c} ${a.probabilities[c]} vs ${p}`);
}

async function postRaw(url: string, file: string, query = ''): Promise<Response> {
  return fetch(`${url}predict${query}`, { method: 'POST', body: fs.readFileSync(file), headers: { 'content-type': 'application/octet-stream' } });
}

async function postForm(url: string, file: string, field = 'image'): Promise<Response> {
  const form = new FormData();
  form.append(field, new Blob([fs.readFileSync(file)]), path.basename(file));
  return fetch(`${url}predict`, { method: 'POST', body: form });
}

async function errorOf(r: Response, status: number, what: RegExp, label: string): Promise<void> {
  assert.equal(r.status, status, label);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/, label);
  const body = (await r.json()) as { error: string };
  assert.match(body.error, what, label);
}

before(async () => {
  await makeImageFolder(root, classes);
  images = classes.map((c) => path.join(root, c, '2.png'));
  const jpg = path.join(work, 'photo.jpg');
  await sharp(images[2]).jpeg({ quality: 90 }).toFile(jpg);
  images.push(jpg);
  // a package from an official checkpoint (MPL, the golden prompts of the tiny CLIP)
  const clip = await loadClip({ weights });
  try {
    await importDasslCheckpoint(path.join(fixturesDir, 'dassl_mpl', 'MultiModalPromptLearner', 'model.pth.tar-4'), pkg, { model: clip, classnames: classes });
  } finally {
    clip.model.dispose();
  }
  const predicted = JSON.parse(ok(mpl(['predict', '--weights', weights, '--prompts', pkg, '--json', '--top', '5', '--device', 'cpu', '--precision', 'fp32', ...images]), 'predict')) as Prediction[];
  expected = new Map(predicted.map((p) => [p.image!, p]));
});

describe('mpl serve', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let ctx: BrowserContext | undefined;

  before(async () => {
    server = await startServer(['--max-body-mb', '0.1', '--max-batch', '8']);
  });

  after(async () => {
    await ctx?.close();
    if (server?.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await exited(server.child);
    }
  });

  it('GET /health says what it serves', async () => {
    const h = (await (await fetch(`${server.url}health`)).json()) as Record<string, unknown>;
    assert.equal(h.status, 'ok');
    assert.equal(h.method, 'mpl');
    assert.equal(h.backbone, 'tiny_clip.safetensors');
    assert.equal(h.classes, 4);
    assert.deepEqual(h.classnames, classes);
  });

  it('POST /predict: raw bodies and multipart uploads answer what mpl predict prints (1e-4)', async () => {
    for (const file of images) {
      const raw = (await (await postRaw(server.url, file)).json()) as Prediction;
      close(raw, expected.get(file)!, `raw ${file}`);
      assert.equal(raw.image, null);
      assert.deepEqual(raw.top.map((t) => t.class), expected.get(file)!.top.map((t) => t.class), 'the same ranking');
      const form = (await (await postForm(server.url, file)).json()) as Prediction;
      close(form, expected.get(file)!, `multipart ${file}`);
      assert.equal(form.image, path.basename(file));
    }
    const two = (await (await postRaw(server.url, images[0], '?top=2')).json()) as Prediction;
    assert.equal(two.top.length, 2);
    assert.ok(two.top[0].probability >= two.top[1].probability);
  });

  it('bad requests get a 4xx JSON error and the server stays up', async () => {
    const junk = path.join(work, 'junk.png');
    fs.writeFileSync(junk, 'this is not an image');
    await errorOf(await postRaw(server.url, junk), 400, /cannot decode image .*not an image/, 'not an image');
    await errorOf(await postForm(server.url, junk), 400, /junk\.png: cannot decode image/, 'multipart, not an image');
    await errorOf(await postForm(server.url, images[0], 'file'), 400, /file field named 'image'/, 'multipart without image');
    await errorOf(await fetch(`${server.url}predict`, { method: 'POST', body: '' }), 400, /body is empty/, 'empty body');
    const big = path.join(work, 'big.bin');
    fs.writeFileSync(big, Buffer.alloc(200_000, 7));
    await errorOf(await postRaw(server.url, big), 413, /larger than this server accepts \(100000 bytes/, 'too large');
    const get = await fetch(`${server.url}predict`);
    assert.equal(get.headers.get('allow'), 'POST');
    await errorOf(get, 405, /use POST/, 'GET /predict');
    await errorOf(await fetch(`${server.url}nope`), 404, /no route \/nope/, 'unknown path');
    for (const top of ['0', 'abc', '-1', '1.5']) await errorOf(await postRaw(server.url, images[0], `?top=${top}`), 400, /top must be an integer >= 1/, `top=${top}`);
    // still up, still right
    close((await (await postRaw(server.url, images[1])).json()) as Prediction, expected.get(images[1])!, 'after the errors');
  });

  it('32 concurrent requests: all answered, equal to mpl predict, run in fewer batches than requests', async () => {
    const before = (await (await fetch(`${server.url}health`)).json()) as { stats: { images: number; batches: number } };
    const files = Array.from({ length: 32 }, (_, i) => images[i % images.length]);
    const answers = await Promise.all(files.map((f, i) => (i % 2 ? postForm(server.url, f) : postRaw(server.url, f))));
    for (let i = 0; i < files.length; i++) {
      assert.equal(answers[i].status, 200, `request ${i}`);
      close((await answers[i].json()) as Prediction, expected.get(files[i])!, `concurrent ${i}`);
    }
    const afterwards = (await (await fetch(`${server.url}health`)).json()) as { stats: { images: number; batches: number } };
    assert.equal(afterwards.stats.images - before.stats.images, 32);
    assert.ok(afterwards.stats.batches - before.stats.batches < 32, `batched: ${afterwards.stats.batches - before.stats.batches} batches for 32 images`);
  });

  it('the upload page in headless Chromium shows the top labels and probabilities of mpl predict', async () => {
    assert.ok(fs.existsSync(chromiumPath), `this test needs Chromium at ${chromiumPath} (Debian: apt-get install chromium, which scripts/install.sh does; or set MPL_CHROMIUM)`);
    fs.mkdirSync(shots, { recursive: true });
    ctx = await chromium.launchPersistentContext(tmpDir('mpl-chromium-'), {
      executablePath: chromiumPath,
      headless: true,
      viewport: { width: 900, height: 800 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url, { waitUntil: 'load' });
    assert.match(await page.locator('.facts').innerText(), /MPL · tiny_clip\.safetensors · 4 classes/);
    for (const file of [images[2], images[4]]) {
      await page.setInputFiles('#file', file);
      await page.fill('#top', '3');
      await page.click('#go');
      await page.waitForSelector('#status:text("done")');
      const rows = await page.locator('tr.result').evaluateAll((trs: Array<{ cells: ArrayLike<{ textContent: string | null }> }>) => trs.map((tr) => [tr.cells[0].textContent, tr.cells[1].textContent]));
      const want = expected.get(file)!.top.slice(0, 3).map((t) => [t.class, `${(100 * t.probability).toFixed(2)} %`]);
      assert.deepEqual(rows, want, `the page's rows for ${path.basename(file)}`);
      await page.screenshot({ path: path.join(shots, `predict-${path.basename(file).replace('.', '-')}.png`), fullPage: true });
    }
    // an upload that is not an image: the server's message on the page, no table
    const junk = path.join(work, 'notes.png');
    fs.writeFileSync(junk, 'not an image');
    await page.setInputFiles('#file', junk);
    await page.click('#go');
    await page.waitForFunction(() => (globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('error').textContent !== '');
    assert.match(await page.locator('#error').innerText(), /notes\.png: cannot decode image/);
    assert.equal(await page.locator('tr.result').count(), 0);
    await page.screenshot({ path: path.join(shots, 'error.png'), fullPage: true });
    // the failed upload's 400 is the only console message (the browser logs failed fetches)
    assert.deepEqual(errors.filter((e) => !/status of 400/.test(e)), [], 'no console error besides the 400');
  });
});

it('--host other than this machine warns; SIGTERM answers the request already received, then exits 0', async () => {
  const s = await startServer(['--host', '0.0.0.0', '--quiet']);
  assert.match(s.stderr(), /warning: --host 0\.0\.0\.0: the server is reachable from other machines; it has no authentication and no TLS/);
  const url = s.url.replace('0.0.0.0', '127.0.0.1');
  // a request whose body is still arriving when SIGTERM comes
  const body = fs.readFileSync(images[3]);
  let pending: http.ClientRequest | undefined;
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = http.request(`${url}predict`, { method: 'POST', headers: { 'content-type': 'image/png', 'content-length': body.length } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.write(body.subarray(0, 10));
    pending = req;
  });
  // wait until the server counts it (GET /health counts itself too)
  for (let i = 0; ; i++) {
    const h = (await (await fetch(`${url}health`)).json()) as { stats: { in_flight: number } };
    if (h.stats.in_flight >= 2) break;
    assert.ok(i < 200, 'the slow request never reached the server');
    await new Promise((r) => setTimeout(r, 50));
  }
  s.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  pending!.end(body.subarray(10));
  const a = await answer;
  assert.equal(a.status, 200, a.text);
  close(JSON.parse(a.text) as Prediction, expected.get(images[3])!, 'the request in flight at SIGTERM');
  assert.equal(await exited(s.child), 0, s.stderr());
  assert.match(s.stdout(), /mpl serve: stopped\n$/);
  assert.match(s.stderr(), /SIGTERM: answering the requests already received, then stopping/);
  await assert.rejects(fetch(`${url}health`), 'nothing listens any more');
});
