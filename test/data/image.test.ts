import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { goldenDir, tmpDir } from '../helpers.js';
import { UserError } from '../../src/util/errors.js';
import {
  decodeImage,
  evalTransform,
  loadEvalImage,
  normalizeInto,
  randomResizedCropParams,
  resizeShorterSide,
  sampleRng,
  trainTransform,
  type RgbImage,
} from '../../src/data/image.js';
import { resizeBicubicPil } from '../../src/data/resample.js';
import { PyRandom } from '../../src/data/pyrandom.js';
import { readSafetensorsF32, writeImage } from './fixtures.js';

// Measured: the transform is bit-identical to PIL 9.4 + torchvision on all four golden images
// (max |diff| = 0, PNG, greyscale, RGBA and the JPEG alike). The bound leaves room for float noise only;
// a decoder change (another libjpeg-turbo in sharp) would show up here. See docs/data.md.
const GOLDEN_MAX_ABS = 1e-6;

test('evaluation transform matches openai/CLIP preprocessing (golden preprocessed.safetensors)', async () => {
  const golden = readSafetensorsF32(path.join(goldenDir, 'preprocessed.safetensors'), 'pixel_values');
  assert.deepEqual(golden.shape, [4, 3, 32, 32]);
  const files = JSON.parse(golden.metadata!.files) as string[];
  const plane = 3 * 32 * 32;
  let max = 0;
  let sum = 0;
  for (let i = 0; i < files.length; i++) {
    const got = await loadEvalImage(path.join(goldenDir, files[i]), 32);
    for (let j = 0; j < plane; j++) {
      const d = Math.abs(got[j] - golden.data[i * plane + j]);
      max = Math.max(max, d);
      sum += d;
    }
  }
  const mean = sum / (files.length * plane);
  assert.ok(max <= GOLDEN_MAX_ABS, `max abs diff ${max}`);
  assert.ok(mean <= GOLDEN_MAX_ABS, `mean abs diff ${mean}`);
});

test('decoding: JPEG/PNG/WebP/GIF/TIFF, greyscale, alpha dropped (not flattened), 16-bit → 8-bit RGB', async () => {
  const dir = tmpDir();
  const w = 6;
  const h = 4;
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 37) & 255;
  const base = () => sharp(px, { raw: { width: w, height: h, channels: 3 } });
  await base().png().toFile(path.join(dir, 'a.png'));
  await base().webp({ lossless: true }).toFile(path.join(dir, 'a.webp'));
  await base().tiff({ compression: 'lzw' }).toFile(path.join(dir, 'a.tiff'));
  await base().toColourspace('rgb16').png().toFile(path.join(dir, 'a16.png'));
  await base().ensureAlpha(0.2).png().toFile(path.join(dir, 'rgba.png'));
  await base().greyscale().png().toFile(path.join(dir, 'g.png'));
  await base().gif().toFile(path.join(dir, 'a.gif'));
  await base().jpeg().toFile(path.join(dir, 'a.jpg'));
  for (const f of ['a.png', 'a.webp', 'a.tiff', 'a16.png', 'rgba.png']) {
    const img = await decodeImage(path.join(dir, f));
    assert.deepEqual([img.width, img.height, img.data.length], [w, h, w * h * 3], f);
    assert.deepEqual(Buffer.from(img.data), px, `${f}: exact pixels (alpha dropped like PIL convert("RGB"))`);
  }
  const g = await decodeImage(path.join(dir, 'g.png'));
  for (let i = 0; i < w * h; i++) assert.ok(g.data[i * 3] === g.data[i * 3 + 1] && g.data[i * 3] === g.data[i * 3 + 2]);
  for (const f of ['a.gif', 'a.jpg']) assert.equal((await decodeImage(path.join(dir, f))).data.length, w * h * 3);
});

test('EXIF orientation is ignored by default (like PIL), applied on request', async () => {
  const file = path.join(tmpDir(), 'rot.jpg');
  await sharp({ create: { width: 20, height: 10, channels: 3, background: 'gray' } }).jpeg().withMetadata({ orientation: 6 }).toFile(file);
  const plain = await decodeImage(file);
  assert.deepEqual([plain.width, plain.height], [20, 10]);
  const rotated = await decodeImage(file, { applyExifOrientation: true });
  assert.deepEqual([rotated.width, rotated.height], [10, 20]);
});

test('bad images: each a UserError naming the file', async () => {
  const dir = tmpDir();
  const jpg = path.join(dir, 'good.jpg');
  await writeImage(jpg, 40, 30);
  const bytes = fs.readFileSync(jpg);
  const cases: [string, Buffer | null, RegExp][] = [
    ['missing.jpg', null, /image file not found/],
    ['truncated.jpg', bytes.subarray(0, Math.floor(bytes.length * 0.6)), /cannot decode image.*corrupt, truncated/],
    ['corrupt.jpg', Buffer.concat([bytes.subarray(0, 20), Buffer.alloc(200, 0x55)]), /cannot decode image/],
    ['text.jpg', Buffer.from('this is not an image'), /cannot decode image/],
    ['empty.png', Buffer.alloc(0), /empty \(0 bytes\)/],
  ];
  for (const [name, data, what] of cases) {
    const f = path.join(dir, name);
    if (data) fs.writeFileSync(f, data);
    await assert.rejects(decodeImage(f), (e: unknown) => {
      assert.ok(e instanceof UserError, `${name}: ${e}`);
      assert.ok(e.message.startsWith(f), `${name}: ${e.message}`);
      assert.match(e.message, what);
      return true;
    });
  }
  const tiny = path.join(dir, 'tiny.png');
  await sharp({ create: { width: 1, height: 1, channels: 3, background: 'red' } }).png().toFile(tiny);
  await assert.rejects(decodeImage(tiny), /tiny\.png: image is too small \(1x1; the minimum side is 2 pixels\)/);
  assert.equal((await decodeImage(tiny, { minSide: 1 })).width, 1);
  await assert.rejects(decodeImage(dir), /is a folder/);
});

function randomImage(w: number, h: number, seed: number): RgbImage {
  const r = new PyRandom(seed);
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = r.getrandbits(8);
  return { width: w, height: h, data };
}

test('torchvision geometry: shorter side to S with int(S*long/short), centre crop with round-half-even', () => {
  assert.deepEqual(resizeShorterSide(500, 375, 224), [298, 224]);
  assert.deepEqual(resizeShorterSide(375, 500, 224), [224, 298]);
  assert.deepEqual(resizeShorterSide(41, 64, 32), [32, 49]);
  // 35x32 needs no resize at S=32; the crop offset is round((35-32)/2) = round(1.5) = 2
  const img = randomImage(35, 32, 1);
  const out = evalTransform(img, 32);
  const expected = new Float32Array(3 * 32 * 32);
  const crop: RgbImage = { width: 32, height: 32, data: new Uint8Array(32 * 32 * 3) };
  for (let y = 0; y < 32; y++) crop.data.set(img.data.subarray((y * 35 + 2) * 3, (y * 35 + 34) * 3), y * 32 * 3);
  normalizeInto(crop, expected, 0);
  assert.deepEqual(out, expected);
  // 33 wide: round(0.5) = 0
  const img33 = randomImage(33, 32, 2);
  const c33: RgbImage = { width: 32, height: 32, data: new Uint8Array(32 * 32 * 3) };
  for (let y = 0; y < 32; y++) c33.data.set(img33.data.subarray(y * 33 * 3, (y * 33 + 32) * 3), y * 32 * 3);
  const e33 = new Float32Array(3 * 32 * 32);
  normalizeInto(c33, e33, 0);
  assert.deepEqual(evalTransform(img33, 32), e33);
});

test('Pillow resampling: same size is a copy, constant images stay constant, crop = resize of the cropped image', () => {
  const img = randomImage(17, 11, 3);
  assert.deepEqual(resizeBicubicPil(img, 17, 11).data, img.data);
  const flat: RgbImage = { width: 50, height: 30, data: new Uint8Array(50 * 30 * 3).fill(200) };
  assert.ok(resizeBicubicPil(flat, 7, 13).data.every((v) => v === 200));
  const box = { left: 3, top: 2, width: 9, height: 7 };
  const cropped: RgbImage = { width: 9, height: 7, data: new Uint8Array(9 * 7 * 3) };
  for (let y = 0; y < 7; y++) cropped.data.set(img.data.subarray(((y + 2) * 17 + 3) * 3, ((y + 2) * 17 + 12) * 3), y * 27);
  for (const [w, h] of [[5, 4], [9, 12], [20, 7]]) {
    assert.deepEqual(resizeBicubicPil(img, w, h, box).data, resizeBicubicPil(cropped, w, h).data, `${w}x${h}`);
  }
  // An output window gives exactly the pixels of resize-then-crop (both passes, one pass, none).
  for (const [w, h] of [[9, 6], [17, 6], [9, 11], [17, 11], [30, 25]]) {
    const full = resizeBicubicPil(img, w, h);
    const win = { left: Math.floor(w / 3), top: Math.floor(h / 4), width: Math.ceil(w / 2), height: Math.ceil(h / 2) };
    const expected = new Uint8Array(win.width * win.height * 3);
    for (let y = 0; y < win.height; y++) {
      expected.set(full.data.subarray(((y + win.top) * w + win.left) * 3, ((y + win.top) * w + win.left + win.width) * 3), y * win.width * 3);
    }
    assert.deepEqual(resizeBicubicPil(img, w, h, undefined, win).data, expected, `${w}x${h}`);
  }
});

test('RandomResizedCrop parameters: inside the image, scale and ratio ranges, fallback for extreme shapes', () => {
  const rng = new PyRandom(0);
  for (let i = 0; i < 2000; i++) {
    const W = 20 + rng.randbelow(500);
    const H = 20 + rng.randbelow(500);
    const b = randomResizedCropParams(W, H, rng);
    assert.ok(b.left >= 0 && b.top >= 0 && b.left + b.width <= W && b.top + b.height <= H);
    assert.ok(b.width >= 1 && b.height >= 1);
  }
  // A 1000x10 strip: no attempt fits, fallback = centre crop at ratio 4/3 of the full height.
  assert.deepEqual(randomResizedCropParams(1000, 10, new PyRandom(1)), { top: 0, left: 493, height: 10, width: 13 });
  assert.deepEqual(randomResizedCropParams(10, 1000, new PyRandom(1)), { top: 493, left: 0, height: 13, width: 10 });
});

test('training transform: deterministic per (seed, epoch, index), different across them, flips happen', () => {
  const img = randomImage(60, 45, 4);
  const a = trainTransform(img, 24, sampleRng(1, 0, 5));
  assert.deepEqual(trainTransform(img, 24, sampleRng(1, 0, 5)), a);
  assert.notDeepEqual(trainTransform(img, 24, sampleRng(1, 1, 5)), a);
  assert.notDeepEqual(trainTransform(img, 24, sampleRng(2, 0, 5)), a);
  assert.notDeepEqual(trainTransform(img, 24, sampleRng(1, 0, 6)), a);
  let flips = 0;
  for (let i = 0; i < 200; i++) {
    const r = sampleRng(1, 0, i);
    randomResizedCropParams(60, 45, r);
    if (r.random() < 0.5) flips++;
  }
  assert.ok(flips > 70 && flips < 130, `flips ${flips}`);
  assert.throws(() => sampleRng(-1, 0, 0), /seed must be an integer/);
});
