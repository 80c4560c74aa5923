/**
 * Writes a classification dataset of the synthetic world in CoOp's layout, read by the `synthshapes`
 * dataset (src/data/datasets/synth.ts) like any benchmark:
 *
 *   <root>/synthshapes/images/<shape>/<split>_<nnnn>.png
 *   <root>/synthshapes/split_synthshapes.json   (CoOp's split format: [relpath, label, classname])
 *   <root>/synthshapes/synth.json               (the settings it was made with)
 *
 * Classes are the 12 shapes (labels in alphabetical order, so base = arrow..hexagon, new = moon..triangle);
 * each image has a random pattern, size, place and background. Its colour is, half of the time, the one
 * colour pretraining never showed that shape in (src/synth/world.ts, isHeldOut), otherwise any colour: every
 * shape has a "typical" colour here that goes against what the model learned, as downstream datasets have
 * their own regularities. Zero-shot CLIP, biased by the colours it saw each shape in, stumbles on those
 * images; few-shot prompt learning has something to learn (measured in assets/tiny-clip/README.md).
 * Images are 8-bit PNG (lossless), so the pixels the models see are exactly the rendered ones. The folder
 * is written under a temporary name and renamed when complete: never half a dataset.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { writeSplitFile } from '../data/splits.js';
import type { SplitEntry, SplitLists } from '../data/types.js';
import { SYNTH_DIR, SYNTH_IMAGE_DIR, SYNTH_SPLIT_FILE } from '../data/datasets/synth.js';
import { UserError } from '../util/errors.js';
import { writeJsonAtomic } from '../util/fs.js';
import { renderScene } from './render.js';
import { SHAPE_NAMES } from './shapes.js';
import { heldOutColour, sampleRandom, sampleScene, type Stream } from './world.js';

// where the dataset lives is its DatasetDef's (src/data/datasets/synth.ts): the reader and this writer agree
export { SYNTH_DIR, SYNTH_IMAGE_DIR, SYNTH_SPLIT_FILE };

export interface SynthDatasetOptions {
  /** seeds every image (default 1) */
  seed?: number;
  /** images per class in each split (defaults 32 / 8 / 50) */
  train?: number;
  val?: number;
  test?: number;
  /** image side in pixels (default 48, the tiny CLIP's input) */
  size?: number;
  /** background clutter (1 = as in pretraining) */
  clutter?: number;
  /**
   * Share of each class's images drawn in its held-out colour (the one colour pretraining never showed
   * that shape in); the rest have any colour. Default 0.5.
   */
  heldOutShare?: number;
  /** replace an existing dataset made with other settings */
  force?: boolean;
}

export interface SynthDatasetResult {
  /** the dataset folder (<root>/synthshapes) */
  dir: string;
  /** false when an identical dataset was already there */
  written: boolean;
  images: number;
}

function settings(o: SynthDatasetOptions): Required<Omit<SynthDatasetOptions, 'force'>> & { format: string } {
  return {
    format: 'mpl-synthshapes/1',
    seed: o.seed ?? 1,
    train: o.train ?? 32,
    val: o.val ?? 8,
    test: o.test ?? 50,
    size: o.size ?? 48,
    clutter: o.clutter ?? 1,
    heldOutShare: o.heldOutShare ?? 0.5,
  };
}

function check(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new UserError(`${name} must be an integer >= ${min}, got ${v}`);
}

/** Writes (or reuses) the dataset under `root`; see the module comment. */
export async function writeSynthDataset(root: string, options: SynthDatasetOptions = {}): Promise<SynthDatasetResult> {
  const s = settings(options);
  check('seed', s.seed, 0);
  check('train images per class', s.train, 1);
  check('val images per class', s.val, 0);
  check('test images per class', s.test, 1);
  check('image size', s.size, 8);
  if (!(s.clutter >= 0)) throw new UserError(`clutter must be a number >= 0, got ${s.clutter}`);
  if (!(s.heldOutShare >= 0 && s.heldOutShare <= 1)) throw new UserError(`the held-out share must be in [0, 1], got ${s.heldOutShare}`);
  const dir = path.join(path.resolve(root), SYNTH_DIR);
  const meta = path.join(dir, 'synth.json');
  const total = SHAPE_NAMES.length * (s.train + s.val + s.test);
  if (fs.existsSync(dir)) {
    let existing: unknown = null;
    try {
      existing = JSON.parse(fs.readFileSync(meta, 'utf8'));
    } catch {
      // not one of ours or incomplete: only --force replaces it
    }
    if (JSON.stringify(existing) === JSON.stringify(s)) return { dir, written: false, images: total };
    if (!options.force) {
      throw new UserError(`${dir} exists and was not made with these settings (${meta}); pass --force to replace it or choose another --root`);
    }
  }
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = path.join(path.dirname(dir), `.${SYNTH_DIR}.${process.pid}.tmp`);
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    const split: SplitLists<SplitEntry> = { train: [], val: [], test: [] };
    for (const [label, shape] of SHAPE_NAMES.entries()) {
      const folder = path.join(tmp, SYNTH_IMAGE_DIR, shape);
      fs.mkdirSync(folder, { recursive: true });
      for (const stream of ['train', 'val', 'test'] as const satisfies readonly Stream[]) {
        const writes: Array<Promise<unknown>> = [];
        for (let i = 0; i < s[stream]; i++) {
          const rng = sampleRandom(s.seed, stream, label * 1_000_000 + i);
          const colour = rng.random() < s.heldOutShare ? heldOutColour(shape) : undefined;
          const scene = sampleScene(rng, { heldOut: true, clutter: s.clutter }, { shape, colour });
          const img = renderScene(scene, s.size);
          const name = `${stream}_${String(i).padStart(4, '0')}.png`;
          writes.push(sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toFile(path.join(folder, name)));
          split[stream].push({ relpath: `${shape}/${name}`, label, classname: shape });
        }
        await Promise.all(writes);
      }
    }
    writeSplitFile(path.join(tmp, SYNTH_SPLIT_FILE), split);
    writeJsonAtomic(path.join(tmp, 'synth.json'), s);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return { dir, written: true, images: total };
}
