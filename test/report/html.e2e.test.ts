/**
 * mpl report, opened in a real headless browser (Debian's chromium driven by playwright-core): the tables'
 * numbers equal `mpl table --json`, every image loads, the console stays free of errors, every run page opens;
 * screenshots are saved under test-output/report/ (or $MPL_TEST_OUTPUT/report/).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { goldenDir, mplOk, repoRoot, runMpl, tmpDir } from '../helpers.js';
import { makeImageFolder } from '../data/fixtures.js';
import { makeResult, writeFixtureResults, writeResult } from './fixtures.js';
import { percent } from '../../src/util/format.js';

const chromiumPath = process.env.MPL_CHROMIUM ?? '/usr/bin/chromium';
const shots = path.join(process.env.MPL_TEST_OUTPUT ?? path.join(repoRoot, 'test-output'), 'report');
const work = tmpDir('mpl-html-');
const out = path.join(work, 'runs');

const mpl = (args: string[]) => runMpl(args, { cwd: work });
const ok = mplOk;

/** Opens a page and collects what the browser reports: console errors and page exceptions. */
async function open(ctx: BrowserContext, file: string): Promise<{ page: Page; errors: string[] }> {
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`file://${file}`, { waitUntil: 'load' });
  return { page, errors };
}

/** Every <img> finished loading and decoded to a non-empty picture. */
async function imagesLoaded(page: Page): Promise<{ total: number; broken: string[] }> {
  // (the callback runs in the page; `any` because the test build has no DOM types)
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return page.$$eval('img', async (imgs: any[]) => {
    await Promise.all(imgs.map((i) => (i.complete ? null : new Promise((r) => { i.addEventListener('load', r, { once: true }); i.addEventListener('error', r, { once: true }); }))));
    return { total: imgs.length, broken: imgs.filter((i) => !i.complete || i.naturalWidth === 0).map((i) => String(i.alt)) };
  });
}

describe('mpl report in a headless browser', () => {
  let ctx: BrowserContext;
  let table: Record<string, unknown>;

  before(async () => {
    assert.ok(
      fs.existsSync(chromiumPath),
      `this test needs Chromium at ${chromiumPath} (Debian: apt-get install chromium, which scripts/install.sh does; or set MPL_CHROMIUM)`,
    );
    await makeImageFolder(path.join(work, 'images'), ['cat', 'dog', 'red_car', 'blue_sky'], 8);
    ok(mpl(['base2new', '--weights', path.join(goldenDir, 'tiny_clip.safetensors'), '--dataset', 'imagefolder', '--root', path.join(work, 'images'), '--method', 'mpl', '--depth', '3', '--epochs', '2', '--seeds', '1,2', '--precision', 'fp32', '--workers', '1', '--out', out, '--quiet']), 'base2new');
    // more protocols from fixture result files: base2new on two datasets, cross-dataset, few-shot at 5 K
    writeFixtureResults(path.join(out, 'fixtures'));
    for (const method of ['coop', 'mpl']) {
      for (const k of [1, 2, 4, 8, 16]) {
        for (const seed of [1, 2]) {
          writeResult(path.join(out, 'fewshot', `${k}`), makeResult({ protocol: 'fewshot', method, dataset: 'dtd', seed, shots: k, accuracy: { dtd: 40 + 4 * Math.log2(k) + seed + (method === 'mpl' ? 2 : 0) } }));
        }
      }
    }
    ok(mpl(['report', out]), 'report');
    table = JSON.parse(ok(mpl(['table', out, '--json']), 'table --json'));
    fs.mkdirSync(shots, { recursive: true });
    ctx = await chromium.launchPersistentContext(tmpDir('mpl-chromium-'), {
      executablePath: chromiumPath,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });

  after(async () => {
    await ctx?.close();
  });

  it('index.html: the tables hold the numbers of mpl table --json, every figure loads, no console error', async () => {
    const index = path.join(out, 'report', 'index.html');
    const { page, errors } = await open(ctx, index);
    const cells = await page.$$eval('td[data-path]', (tds) => tds.map((td) => ({ path: JSON.parse(td.getAttribute('data-path')!) as string[], value: Number(td.getAttribute('data-value')), text: td.textContent ?? '' })));
    const protocols = new Set(cells.map((c) => c.path[0]));
    assert.deepEqual([...protocols].sort(), ['base2new', 'fewshot', 'xd']);
    for (const c of cells) {
      const expected = c.path.reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], table);
      assert.equal(typeof expected, 'number', `${c.path.join('.')} is a number in mpl table --json`);
      assert.equal(c.value, expected, c.path.join('.'));
      assert.ok(c.text.startsWith(percent(expected as number)), `${c.path.join('.')}: shown "${c.text}" (the one formatter)`);
    }
    // every mean of mpl table --json appears in the report (base2new: base, new and hm of each cell)
    const b2n = table.base2new as Record<string, Record<string, { mean?: Record<string, number> }>>;
    const expectedCells = Object.values(b2n).reduce((n, m) => n + Object.keys(m).filter((d) => !['average', 'tag', 'test_subset'].includes(d)).length * 3, 0);
    assert.equal(cells.filter((c) => c.path[0] === 'base2new' && c.path[3] === 'mean').length, expectedCells);
    const imgs = await imagesLoaded(page);
    assert.ok(imgs.total >= 5, `${imgs.total} figures`);
    assert.deepEqual(imgs.broken, []);
    assert.ok(await page.$('img[alt="accuracy vs shots per class"]'), 'the few-shot figure is there');
    assert.deepEqual(errors, []);
    await page.screenshot({ path: path.join(shots, 'index.png'), fullPage: true });
    await page.close();
  });

  it('every run page opens from the index: configuration, curves, layout, per-class accuracy', async () => {
    const index = path.join(out, 'report', 'index.html');
    const { page } = await open(ctx, index);
    const links = await page.$$eval('a[href^="runs/"]', (as, base) => as.map((a) => new URL(a.getAttribute('href')!, base).href), `file://${index}`);
    await page.close();
    assert.equal(links.length, fs.readdirSync(path.join(out, 'report', 'runs')).length);
    let real = 0;
    for (const link of links) {
      const { page: p, errors } = await open(ctx, new URL(link).pathname);
      const imgs = await imagesLoaded(p);
      assert.deepEqual(imgs.broken, [], link);
      assert.deepEqual(errors, [], link);
      const h = await p.$$eval('h2', (hs) => hs.map((x) => x.textContent));
      assert.deepEqual(h, ['Results', 'Configuration', 'Training curves', 'Prompt layout', 'Per-class accuracy']);
      if (link.includes('imagefolder')) {
        real++;
        // a run made by mpl: training curves from metrics.csv and the layout from prompts.json
        assert.ok(await p.$('img[alt="training loss, accuracy and learning rate per epoch"]'), link);
        assert.ok(await p.$('img[alt="token layout per layer"]'), link);
        assert.equal(await p.$$eval('table.per-class', (t) => t.length), 2, 'base and new classes');
        if (real === 1) await p.screenshot({ path: path.join(shots, 'run.png'), fullPage: true });
      }
      await p.close();
    }
    assert.equal(real, 2);
  });
});
