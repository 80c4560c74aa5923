/** Loading the golden tiny CLIP, images and per-method reference tensors of ../shared/golden. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import assert from 'node:assert/strict';
import { readSafetensors } from '../../src/io/safetensors.js';
import type { RawTensor } from '../../src/io/tensor.js';
import { ClipModel, type ClipArchitecture } from '../../src/backbones/clip/model.js';
import { cpuHasNativeBf16, isCuda, native, resolveDevice, tensor, type Device, type PrecisionName, type Tensor } from '../../src/torch/index.js';
import type { MethodName, MethodOptions } from '../../src/prompting/methods/index.js';
import { goldenDir } from '../helpers.js';

/**
 * The device the device-aware tests run on: $MPL_TEST_DEVICE (cpu, cuda, cuda:N), default cpu -- given
 * explicitly everywhere, so the same tests exercise the device plumbing on a CPU and run on a GPU
 * (scripts/gpu-check.sh sets it).
 */
export const testDevice: Device = resolveDevice(process.env.MPL_TEST_DEVICE ?? 'cpu', 'MPL_TEST_DEVICE');

/** Whether float16 matmuls run on a device (not on libtorch 1.13's CPU). */
export function halfMatmulSupported(device: Device): boolean {
  const a = native.ones([2, 2], 'float16', device);
  try {
    native.dispose(native.matmul(a, a));
    return true;
  } catch {
    return false;
  } finally {
    native.dispose(a); // also when the matmul throws (libtorch 1.13's CPU), or a later leak check sees it freed by the GC
  }
}

/**
 * The precisions the device-aware tests cover on the test device: $MPL_TEST_PRECISIONS (comma list), else fp32;
 * bf16 on a GPU and on a CPU with native bf16 (elsewhere the tool refuses it, and the tests check that instead);
 * fp16 and amp where float16 matmuls exist (CUDA; libtorch 2.x CPUs).
 */
export function testPrecisions(): PrecisionName[] {
  const env = process.env.MPL_TEST_PRECISIONS;
  if (env) return env.split(',').map((s) => s.trim()) as PrecisionName[];
  const out: PrecisionName[] = ['fp32'];
  if (isCuda(testDevice) || cpuHasNativeBf16()) out.push('bf16');
  if (halfMatmulSupported(testDevice)) out.push('fp16', 'amp');
  return out;
}

export function goldenArch(): ClipArchitecture {
  const c = JSON.parse(fs.readFileSync(path.join(goldenDir, 'config.json'), 'utf8'));
  return { vision: { ...c.vision, mlp_width: 4 * c.vision.width }, text: { ...c.text, mlp_width: 4 * c.text.width }, embed_dim: c.embed_dim };
}

const cached = new Map<string, ClipModel>();
/** The tiny CLIP with OpenAI key names, shared by the tests of one file: fp32 on the CPU unless asked. */
export function goldenModel(precision: PrecisionName = 'fp32', device: Device = 'cpu'): ClipModel {
  const key = `${precision}@${device}`;
  let m = cached.get(key);
  if (!m) {
    m = ClipModel.fromTensors(goldenArch(), readSafetensors(path.join(goldenDir, 'tiny_clip.safetensors')).tensors, { precision, device });
    cached.set(key, m);
  }
  return m;
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

export { relativeL2 } from '../../src/util/numeric.js';

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

/** A method's golden outputs.json (../shared/golden/methods/<method>/): the run's options and figures. */
export interface Outputs {
  classes: string[];
  labels: number[];
  loss?: number;
  loss_step2?: number;
  vision_lengths?: number[];
  trainable_parameters?: number;
  [k: string]: unknown;
}

/** A method's outputs.json, with the classes and labels every method shares (zero-shot's file holds only its template). */
export function outputs(method: string): Outputs {
  const read = (m: string) => JSON.parse(fs.readFileSync(path.join(goldenDir, 'methods', m, 'outputs.json'), 'utf8')) as Outputs;
  const o = read(method);
  // zero-shot's file holds only its template; the classes and labels are the same for every method
  const shared = read('coop');
  return { ...o, classes: o.classes ?? shared.classes, labels: o.labels ?? shared.labels };
}

/** The golden run's method options, as the library names them. */
export function optionsFor(method: MethodName, o: Outputs): MethodOptions {
  const n = (k: string) => o[k] as number | undefined;
  const s = (k: string) => o[k] as string | undefined;
  switch (method) {
    case 'zeroshot':
      return { template: s('template') };
    case 'coop':
      return { nCtx: n('n_ctx'), ctxInit: s('ctx_init'), csc: o.csc as boolean, classTokenPosition: s('class_token_position') as 'end' };
    case 'cocoop':
      return { nCtx: n('n_ctx'), ctxInit: s('ctx_init') };
    case 'vpt':
      return { nCtxVision: n('n_ctx_vision'), depthVision: n('depth'), template: s('text_template') };
    case 'ivlp':
    case 'promptsrc':
      return {
        nCtx: n('n_ctx_text'),
        nCtxVision: n('n_ctx_vision'),
        depthText: n('depth_text'),
        depthVision: n('depth_vision'),
        ctxInit: s('ctx_init'),
        textLossWeight: n('text_loss_weight'),
        imageLossWeight: n('image_loss_weight'),
      };
    case 'maple':
      return { nCtx: n('n_ctx'), depth: n('depth'), ctxInit: s('ctx_init') };
    case 'mpl':
      return { nCtx: n('n_ctx'), nAdd: n('n_add'), nRm: n('n_rm'), depth: n('depth'), ctxInit: s('ctx_init') };
    default:
      throw new Error(
        `${method}: no vectors in shared/golden; its parity test is its own (KgCoOp and ProGrad: test/prompting/kgcoop-prograd.test.ts; the adapters, caches and probe: test/prompting/zoo-parity.test.ts)`,
      );
  }
}
