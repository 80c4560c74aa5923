/**
 * Numerical precision of a run (`--precision fp32|fp16|amp|bf16|auto`). A precision is a small policy the
 * CLIP model and the prompt learner follow; docs/precision.md explains each and its measured effect.
 *
 *   fp32  everything in float32.
 *   fp16  the official trainers' PREC "fp16" recipe: CLIP's Conv/Linear/attention weights and activations
 *         in half, LayerNorm computed in float32 and cast back (OpenAI's LayerNorm subclass), the prompt
 *         tensors the official code creates in the model's dtype (ctx, proj, CoCoOp's meta-net) stored and
 *         updated in half, the others float32 and cast when inserted; no loss scaling. A GPU recipe.
 *   amp   the official PREC "amp": float32 master weights, matmuls in float16, LayerNorm / softmax / loss in
 *         float32, dynamic loss scaling (GradScaler's rule). A GPU recipe.
 *   bf16  frozen matmul weights and matmuls in bfloat16, LayerNorm / softmax / loss, the prompts, their
 *         gradients and the SGD state in float32; bfloat16 has float32's range, so no loss scaling.
 * In amp and bf16 the residual streams stay float32 (autocast's intent; the official amp code lets the
 * vision stream fall to half through `.to(x.dtype)` casts, which we do not copy).
 */
import { UserError } from '../util/errors.js';
import type { DType } from '../io/tensor.js';
import { cpuClass, cpuHasNativeBf16, cpuInfo, cudaDevices, isCuda, onednnCapBelowBf16, type CpuClass } from './device.js';
import type { Device } from './tensor.js';

export const PRECISIONS = ['fp32', 'fp16', 'amp', 'bf16'] as const;
export type PrecisionName = (typeof PRECISIONS)[number];

export interface Precision {
  name: PrecisionName;
  /** storage and compute dtype of the frozen matmul/conv weights (Linear, Conv, attention, projections) */
  matmul: DType;
  /** dtype of the activations between ops: residual streams, embeddings, inserted prompts, features */
  activation: DType;
  /** fp16: the prompt tensors the official trainers create in the model's dtype are half (updated in half) */
  halfPrompts: boolean;
  /** amp: scale the loss and unscale the gradients dynamically (torch.cuda.amp.GradScaler) */
  lossScaling: boolean;
}

const POLICIES: Record<PrecisionName, Precision> = {
  fp32: { name: 'fp32', matmul: 'float32', activation: 'float32', halfPrompts: false, lossScaling: false },
  fp16: { name: 'fp16', matmul: 'float16', activation: 'float16', halfPrompts: true, lossScaling: false },
  amp: { name: 'amp', matmul: 'float16', activation: 'float32', halfPrompts: false, lossScaling: true },
  bf16: { name: 'bf16', matmul: 'bfloat16', activation: 'float32', halfPrompts: false, lossScaling: false },
};

export function precision(name: PrecisionName = 'fp32'): Precision {
  const p = POLICIES[name];
  if (!p) throw new UserError(`unknown precision '${name}' (fp32, fp16, amp, bf16)`);
  return p;
}

/** The precision of a legacy `dtype` option (float32 / float16 / bfloat16). */
export function precisionOfDtype(dtype: DType): Precision {
  if (dtype === 'float16') return POLICIES.fp16;
  if (dtype === 'bfloat16') return POLICIES.bf16;
  if (dtype === 'float32') return POLICIES.fp32;
  throw new UserError(`a model cannot compute in ${dtype} (float32, float16 or bfloat16)`);
}

export interface ResolveOptions {
  flag?: string;
  /** called once with a sentence when `auto` chose something, or a choice will be slow */
  note?: (message: string) => void;
  /** allow fp16/amp on a CPU (tests; the CLI refuses them) */
  allowCpuHalf?: boolean;
}

/**
 * What `--precision bf16` does on this CPU, in one sentence: allowed where the CPU has native bf16 (AMX or
 * AVX512-BF16); elsewhere refused, because emulated bf16 is slower than fp32 and, with libtorch 1.13 on a CPU
 * without AVX-512, less accurate (docs/precision.md gives the measurements). `mpl env` prints it.
 */
export function cpuBf16Decision(cls: CpuClass = cpuClass()): { allowed: boolean; why: string } {
  if (cls === 'native-bf16') {
    const which = cpuInfo().features.filter((f) => f === 'amx_bf16' || f === 'avx512_bf16').join(', ');
    return { allowed: true, why: `${which} on this CPU: native bf16 matmuls, about twice fp32's speed` };
  }
  const cap = onednnCapBelowBf16();
  const emulated =
    cls === 'avx512'
      ? 'oneDNN would emulate bf16 with AVX-512: about 2x slower than fp32'
      : "libtorch would run its own bf16 loops: 20-30x slower than fp32, and with libtorch 1.13 10x fp32's gradient error";
  return { allowed: false, why: `no AVX512-BF16 or AMX on this CPU${cap ? ` (oneDNN is capped at ${cap} by ONEDNN_MAX_CPU_ISA)` : ''}, so ${emulated}` };
}

/**
 * The precision a `--precision` value means on a device. `auto`: fp16 on CUDA (the official recipe); on a
 * CPU with native bf16 (AMX or AVX512-BF16) bf16, else fp32. fp16/amp are GPU recipes and refused on a CPU;
 * bf16 on a CPU is refused without native bf16 (cpuBf16Decision); bf16 on a GPU needs compute capability
 * 8.0 (Ampere) or later. The library's model constructors take any precision as given (the tests measure
 * emulated ones with them); this is the rule for what users ask.
 */
export function resolvePrecision(spec: string | undefined, device: Device, o: ResolveOptions = {}): Precision {
  const flag = o.flag ?? '--precision';
  const s = (spec ?? 'fp32').trim().toLowerCase();
  const cuda = isCuda(device);
  if (s === 'auto') {
    if (cuda) return POLICIES.fp16;
    const info = cpuInfo();
    if (cpuHasNativeBf16(info)) {
      const which = info.features.filter((f) => f === 'amx_bf16' || f === 'avx512_bf16').join(', ');
      o.note?.(`precision auto: bf16 (this CPU has ${which}; docs/precision.md gives the accuracy effect)`);
      return POLICIES.bf16;
    }
    return POLICIES.fp32;
  }
  if (!(PRECISIONS as readonly string[]).includes(s)) throw new UserError(`${flag} must be fp32, fp16, amp, bf16 or auto, got '${spec}'`);
  const p = POLICIES[s as PrecisionName];
  if ((p.name === 'fp16' || p.name === 'amp') && !cuda && !o.allowCpuHalf) {
    throw new UserError(
      `${flag} ${p.name} is a GPU recipe (float16 matmuls on a CPU are emulated and slow): use --device cuda, or on this CPU ` +
        `--precision ${cpuHasNativeBf16() ? 'bf16 (native here) or fp32' : 'fp32'}`,
    );
  }
  if (p.name === 'bf16' && !cuda) {
    const d = cpuBf16Decision();
    if (!d.allowed) throw new UserError(`${flag} bf16: ${d.why}; use --precision fp32 (what auto picks here) or --device cuda`);
  }
  if (p.name === 'bf16' && cuda) {
    const index = device.includes(':') ? Number(device.split(':')[1]) : 0;
    const d = cudaDevices()[index];
    if (d && d.capability[0] > 0 && d.capability[0] < 8) {
      throw new UserError(`${flag} bf16 needs a GPU of compute capability 8.0 or later; ${d.name} is ${d.capability.join('.')}: use fp16 or amp`);
    }
  }
  return p;
}
