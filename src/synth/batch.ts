/**
 * Batches of the synthetic world as the models take them: images normalised with CLIP's mean and std
 * (the evaluation transform of a same-size image is exactly this, so a PNG written by the dataset writer
 * and read back through src/data gives the same floats), with their captions or shape labels.
 */
import { normalizeInto } from '../data/image.js';
import { renderScene } from './render.js';
import { SHAPE_NAMES } from './shapes.js';
import { caption, isHeldOut, sampleRandom, sampleScene, type Scene, type Stream, type WorldOptions } from './world.js';

export interface SceneBatch {
  /** [n, 3, size, size] CHW float32, CLIP-normalised */
  images: Float32Array;
  captions: string[];
  scenes: Scene[];
}

/** Samples `start .. start + n - 1` of `stream`, rendered at `size` pixels, each with a caption. */
export function sceneBatch(seed: number, stream: Stream, start: number, n: number, size: number, world: WorldOptions = {}): SceneBatch {
  const images = new Float32Array(n * 3 * size * size);
  const captions: string[] = [];
  const scenes: Scene[] = [];
  for (let j = 0; j < n; j++) {
    const rng = sampleRandom(seed, stream, start + j);
    const scene = sampleScene(rng, world);
    normalizeInto(renderScene(scene, size), images, j * 3 * size * size);
    captions.push(caption(scene, rng));
    scenes.push(scene);
  }
  return { images, captions, scenes };
}

/** Shape labels (indices into SHAPE_NAMES) of scenes, and whether each is a held-out combination. */
export function shapeLabels(scenes: Scene[]): { labels: number[]; heldOut: boolean[] } {
  return { labels: scenes.map((s) => SHAPE_NAMES.indexOf(s.shape)), heldOut: scenes.map((s) => isHeldOut(s.shape, s.colour)) };
}
