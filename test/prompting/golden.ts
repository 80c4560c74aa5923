/** Loading the golden tiny CLIP, images and per-method reference tensors of ../shared/golden. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import assert from 'node:assert/strict';
import { readSafetensors } from '../../src/io/safetensors.js';
import type { RawTensor } from '../../src/io/tensor.js';
import { ClipModel, type ClipArchitecture } from '../../src/clip/model.js';
import { tensor, type Tensor } from '../../src/torch/index.js';
import { goldenDir } from '../helpers.js';

export function goldenArch(): ClipArchitecture {
  const c = JSON.parse(fs.readFileSync(path.join(goldenDir, 'config.json'), 'utf8'));
  return { vision: { ...c.vision, mlp_width: 4 * c.vision.width }, text: { ...c.text, mlp_width: 4 * c.text.width }, embed_dim: c.embed_dim };
}

let cached: ClipModel | null = null;
/** The tiny CLIP with OpenAI key names (fp32), shared by the tests of one file. */
export function goldenModel(): ClipModel {
  if (!cached) cached = ClipModel.fromTensors(goldenArch(), readSafetensors(path.join(goldenDir, 'tiny_clip.safetensors')).tensors);
  return cached;
}

export function goldenTensors(rel: string): Map<string, RawTensor> {
  return readSafetensors(path.join(goldenDir, rel)).tensors;
}

export function toTensor(raw: RawTensor): Tensor {
  return tensor(raw.data, raw.shape, raw.dtype);
}

/** The four preprocessed golden images [4, 3, 32, 32]. */
export function goldenImages(): Tensor {
  return toTensor(goldenTensors('preprocessed.safetensors').get('pixel_values')!);
}

export function float32(raw: RawTensor): Float32Array {
  return new Float32Array(raw.data.buffer.slice(raw.data.byteOffset, raw.data.byteOffset + raw.data.byteLength));
}

/** |a - e| <= atol + rtol·|e| elementwise, with the worst offender in the message. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) assert.fail(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
}
