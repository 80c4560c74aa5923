/**
 * Decoding against PIL itself: test/fixtures/images holds files made by Pillow 9.4 (make_pil_images.py) and
 * what `Image.open(f).convert("RGB")` gave for each, or that PIL refused it. decodeImage must give the same
 * bytes or refuse too. Then the pixel limit (PIL's MAX_IMAGE_PIXELS): warn above it, refuse above twice it,
 * from the header, without decoding.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeImage, jpegScanEnd, MAX_IMAGE_PIXELS, maxImagePixels } from '../../src/data/image.js';
import { UserError } from '../../src/util/errors.js';
import { fixturesDir, tmpDir } from '../helpers.js';
import { bigBlackPng } from './bomb.js';

const dir = path.join(fixturesDir, 'images');
type Expected = { pil: 'ok'; mode: string; width: number; height: number; rgb: string } | { pil: 'error'; error: string };
const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Record<string, Expected>;
const work = tmpDir('mpl-pil-');

for (const [name, e] of Object.entries(expected)) {
  if (name.startsWith('_')) continue;
  test(`${name}: as PIL (${e.pil === 'ok' ? `mode ${e.mode} -> RGB` : 'refused'})`, async () => {
    const file = path.join(dir, name);
    if (e.pil === 'error') {
      await assert.rejects(decodeImage(file), (err: Error) => {
        assert.ok(err instanceof UserError, String(err));
        assert.ok(err.message.startsWith(`${file}: corrupt JPEG data`), err.message);
        assert.match(err.message, /PIL refuses this file too/);
        return true;
      });
      return;
    }
    const img = await decodeImage(file);
    assert.equal(img.width, e.width);
    assert.equal(img.height, e.height);
    const want = fs.readFileSync(path.join(dir, e.rgb));
    let diff = 0;
    for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(want[i]! - img.data[i]!));
    assert.equal(diff, 0, `max |difference| from PIL`);
  });
}

test('jpegScanEnd finds the marker that ends the scan data', () => {
  assert.deepEqual(jpegScanEnd(fs.readFileSync(path.join(dir, 'plain.jpg'))), { marker: 0xd9, singleScan: true });
  assert.deepEqual(jpegScanEnd(fs.readFileSync(path.join(dir, 'corrupt_dht.jpg'))), { marker: 0xc4, singleScan: true });
  assert.equal(jpegScanEnd(Buffer.from('not a jpeg')), null);
});

test('pixel limit: a warning above it, a one-line refusal above twice it, the environment can raise it', async () => {
  const small = path.join(dir, 'plain.jpg'); // 24 x 16 = 384 pixels
  const warnings: string[] = [];
  await decodeImage(small, { maxPixels: 300, onWarning: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /plain\.jpg: image is 24x16 = 384 pixels, above the limit of 300 \(PIL warns too\)/);
  await decodeImage(small, { maxPixels: 384, onWarning: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1, 'at the limit: no warning (PIL: strictly above)');
  await assert.rejects(decodeImage(small, { maxPixels: 191 }), /plain\.jpg: image is 24x16 = 384 pixels, more than twice the limit of 191 .*--max-image-pixels N or MPL_MAX_IMAGE_PIXELS=N/);
  assert.equal(maxImagePixels({}), MAX_IMAGE_PIXELS);
  assert.equal(maxImagePixels({ MPL_MAX_IMAGE_PIXELS: '5000' }), 5000);
  assert.throws(() => maxImagePixels({ MPL_MAX_IMAGE_PIXELS: '1e9' }), /MPL_MAX_IMAGE_PIXELS must be a positive integer/);
});

test('a 60000x60000 PNG is refused from its header: no decoding, no memory', async () => {
  const big = path.join(work, 'big.png');
  await bigBlackPng(big, 60000, 60000);
  const before = process.memoryUsage().rss;
  await assert.rejects(decodeImage(big), /big\.png: image is 60000x60000 = 3,600,000,000 pixels, more than twice the limit of 89,478,485/);
  const grew = process.memoryUsage().rss - before;
  assert.ok(grew < 100 << 20, `RSS grew by ${(grew / 2 ** 20).toFixed(0)} MB`);
});
