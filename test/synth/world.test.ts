import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadDataset } from '../../src/data/dataset.js';
import { decodeImage, evalTransform } from '../../src/data/image.js';
import { sceneBatch } from '../../src/synth/batch.js';
import { writeSynthDataset } from '../../src/synth/dataset.js';
import { renderScene } from '../../src/synth/render.js';
import { SHAPES, SHAPE_NAMES } from '../../src/synth/shapes.js';
import { COLOUR_NAMES, caption, heldOutColour, isHeldOut, sampleRandom, sampleScene } from '../../src/synth/world.js';
import { UserError } from '../../src/util/errors.js';
import { tmpDir } from '../helpers.js';

test('shapes: every signed distance is negative at the centre region and positive outside the unit disc', () => {
  for (const [name, sdf] of Object.entries(SHAPES)) {
    for (let a = 0; a < 2 * Math.PI; a += 0.3) {
      assert.ok(sdf(1.3 * Math.cos(a), 1.3 * Math.sin(a)) > 0, `${name} extends beyond radius 1.3`);
    }
    // some point near the centre is inside (the ring and the moon are hollow or offset, so look around)
    let inside = false;
    for (let x = -0.8; x <= 0.8 && !inside; x += 0.1) for (let y = -0.8; y <= 0.8 && !inside; y += 0.1) inside = sdf(x, y) < 0;
    assert.ok(inside, `${name} has no inside`);
  }
});

test('world: scenes and captions are a function of (seed, stream, index); captions name the shape', () => {
  for (let i = 0; i < 200; i++) {
    const r1 = sampleRandom(7, 'pretrain', i);
    const r2 = sampleRandom(7, 'pretrain', i);
    const s1 = sampleScene(r1);
    const s2 = sampleScene(r2);
    assert.deepEqual(s1, s2);
    const c = caption(s1, r1);
    assert.equal(c, caption(s2, r2));
    assert.match(c, new RegExp(`\\b${s1.shape}\\b`));
    assert.ok(!isHeldOut(s1.shape, s1.colour), `pretraining drew the held-out ${s1.colour} ${s1.shape}`);
  }
  assert.notDeepEqual(sampleScene(sampleRandom(7, 'pretrain', 0)), sampleScene(sampleRandom(8, 'pretrain', 0)));
  assert.notDeepEqual(sampleScene(sampleRandom(7, 'pretrain', 0)), sampleScene(sampleRandom(7, 'test', 0)));
  // one held-out colour per shape, every shape has one
  for (const s of SHAPE_NAMES) assert.equal(COLOUR_NAMES.filter((c) => isHeldOut(s, c)).length, 1, s);
  // a fixed colour changes the colour and nothing else that is drawn
  const free = sampleScene(sampleRandom(7, 'test', 1), { heldOut: true }, { shape: 'star' });
  const fixed = sampleScene(sampleRandom(7, 'test', 1), { heldOut: true }, { shape: 'star', colour: heldOutColour('star') });
  assert.equal(fixed.colour, heldOutColour('star'));
  assert.deepEqual({ ...fixed.look, fill: null, accent: null, background: null }, { ...free.look, fill: null, accent: null, background: null });
  assert.throws(() => sampleScene(sampleRandom(7, 'test', 1), {}, { colour: 'teal' }), /unknown colour "teal"/);
});

test('render: deterministic bytes, the object differs from the background, batches are CLIP-normalised', () => {
  const scene = sampleScene(sampleRandom(1, 'validation', 3), { heldOut: true });
  const a = renderScene(scene, 48);
  const b = renderScene(scene, 48);
  assert.equal(a.width, 48);
  assert.deepEqual(a.data, b.data);
  // the same scene without its object differs exactly around the object
  const L = scene.look;
  const empty = renderScene({ ...scene, look: { ...L, radius: 1e-6 } }, 48);
  let inside = 0;
  let outside = 0;
  for (let y = 0; y < 48; y++) {
    for (let x = 0; x < 48; x++) {
      const d = Math.hypot((x + 0.5) / 48 - L.cx, (y + 0.5) / 48 - L.cy);
      let diff = 0;
      for (let k = 0; k < 3; k++) diff += Math.abs(a.data[(y * 48 + x) * 3 + k] - empty.data[(y * 48 + x) * 3 + k]);
      if (d > L.radius * 1.3) outside += diff;
      else inside += diff;
    }
  }
  assert.equal(outside, 0, 'nothing changes outside the object');
  assert.ok(inside > 48 * 48, `the object is drawn (${inside})`);
  const batch = sceneBatch(1, 'validation', 0, 4, 32);
  assert.equal(batch.images.length, 4 * 3 * 32 * 32);
  assert.equal(batch.captions.length, 4);
  const mean = batch.images.reduce((s, v) => s + v, 0) / batch.images.length;
  assert.ok(Math.abs(mean) < 1.5 && batch.images.every(Number.isFinite), `mean ${mean}`);
});

test('dataset: CoOp layout read by loadDataset, same pixels as rendered, reused when identical, refused when different', async () => {
  const root = tmpDir('mpl-synth-');
  const r = await writeSynthDataset(root, { train: 3, val: 1, test: 2, seed: 5 });
  assert.equal(r.written, true);
  assert.equal(r.images, 12 * 6);
  const ds = loadDataset('synthshapes', { root, subsample: 'base' });
  assert.deepEqual(ds.classnames, SHAPE_NAMES.slice(0, 6));
  assert.equal(ds.template, 'a photo of a {}.');
  assert.equal(ds.train.length, 18);
  assert.equal(loadDataset('synth', { root, subsample: 'new' }).classnames.join(','), SHAPE_NAMES.slice(6).join(','));
  // a PNG read back through the data pipeline gives the rendered bytes (lossless, same size: no resampling)
  const first = ds.train[0];
  const img = await decodeImage(first.impath);
  const rng = sampleRandom(5, 'train', 0);
  const colour = rng.random() < 0.5 ? heldOutColour('arrow') : undefined; // half of the images: the held-out colour
  const scene = sampleScene(rng, { heldOut: true }, { shape: 'arrow', colour });
  assert.equal(path.basename(first.impath), 'train_0000.png');
  assert.deepEqual(img.data, renderScene(scene, 48).data);
  assert.equal(evalTransform(img, 48).length, 3 * 48 * 48);
  // same settings: reused; other settings: a clear error, nothing replaced; --force replaces
  const stamp = fs.statSync(path.join(r.dir, 'synth.json')).mtimeMs;
  assert.equal((await writeSynthDataset(root, { train: 3, val: 1, test: 2, seed: 5 })).written, false);
  await assert.rejects(writeSynthDataset(root, { train: 4, val: 1, test: 2, seed: 5 }), (e: unknown) => e instanceof UserError && /--force/.test(e.message));
  assert.equal(fs.statSync(path.join(r.dir, 'synth.json')).mtimeMs, stamp);
  assert.equal((await writeSynthDataset(root, { train: 4, val: 0, test: 2, seed: 5, force: true })).written, true);
  assert.equal(loadDataset('synthshapes', { root }).train.length, 48);
  assert.deepEqual(fs.readdirSync(root), ['synthshapes'], 'no temporary folder left behind');
  await assert.rejects(writeSynthDataset(root, { train: 0 }), /train images per class must be an integer >= 1/);
  assert.throws(() => loadDataset('synthshapes', { root: tmpDir('mpl-synth-empty-') }), /mpl data synth --root/);
});
