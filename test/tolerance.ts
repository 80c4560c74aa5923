/**
 * How close a computed tensor must be to its reference: every numerical bound of the tests, stated once, with
 * its reason. docs/precision.md ("Accuracy") quotes them with the errors measured.
 *
 * float32. Two correct float32 computations of the same network differ by rounding only: each kernel
 * (OpenBLAS, MKL, oneDNN at AVX2 or AVX-512, ATen's own loops, a GPU's) sums its dot products in its own order
 * and vector width, and a sum of K terms taken in another order moves by up to about K·u·Σ|terms| (u = 2^-24),
 * which the following layers carry on. That error scales with the terms summed, that is with the scale of the
 * tensor, not with the element: an element that is small because its terms cancelled carries the same absolute
 * error as a large one. So the float32 bound is on each element against the tensor's largest element,
 *     max_i |a_i − e_i| ≤ tol · max_j |e_j|,
 * which holds on any kernel, where an elementwise relative bound fails on the small elements (libtorch 2.15 at
 * AVX2 put element 157 of CLIP's normalised text features, 0.0037931, 38 ppm from the reference: 2 ulps of the
 * tensor's largest element). FP32.forward (1e-5, ~170 ulps of the largest element) holds the outputs of a
 * forward pass (features, logits, losses); FP32.backward (1e-4) the gradients, whose chain is twice as deep,
 * and the change of a parameter over the SGD steps, compared as a change (the parameter itself barely moves)
 * with the float32 rounding of the stored parameter allowed beside it (assertUpdate).
 * Measured worst on both libtorch builds, at AVX-512 and capped at AVX2: test/clip/tolerance.test.ts prints
 * it. That test also shows the bound still sees a real bug: every weight moved by one ulp passes, one weight
 * wrong by 1% of its matrix's largest weight fails.
 *
 * Reduced precisions (bf16, fp16, amp) are compared with the float32 reference by the relative L2 error
 * ‖a − e‖/‖e‖ of the whole tensor (REDUCED: each precision rounds every matmul input to 8 or 11 significant
 * bits, an error spread over all elements, so a norm is the measure); a parameter stored in half (the fp16
 * recipe) may also differ by the half rounding of its stored values.
 */
import assert from 'node:assert/strict';
import type { PrecisionName } from '../src/torch/index.js';

/** float32 bounds, relative to the largest element of the reference (see above). */
export const FP32 = { forward: 1e-5, backward: 1e-4 } as const;

/**
 * The float32 bounds on a device: FP32 on a CPU; ten times that on a GPU, whose kernels (cuBLAS, cuDNN) split
 * each sum over thousands of threads and may use TF32 in convolutions (scripts/gpu-check.sh).
 */
export function fp32Tolerance(device: string): { forward: number; backward: number } {
  return device === 'cpu' ? FP32 : { forward: 10 * FP32.forward, backward: 10 * FP32.backward };
}

/** max_i |a_i − e_i| / max_j |e_j| (0 when both are all zero; Infinity on NaN or a length mismatch). */
export function scaledError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst === 0 ? 0 : worst / scale;
}

/**
 * Asserts max_i |a_i − e_i| ≤ tol · max_j |e_j|, naming the worst element; returns the measured ratio
 * (so a test can report it).
 */
export function assertScaled(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): number {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const err = scaledError(actual, expected);
  if (!(err <= tol)) {
    let worst = 0;
    for (let i = 1; i < expected.length; i++) if (!(Math.abs(actual[worst] - expected[worst]) >= Math.abs(actual[i] - expected[i]))) worst = i;
    assert.fail(
      `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]}: an error of ${err.toExponential(2)} of the tensor's largest element, over the bound ${tol}`,
    );
  }
  return err;
}

/**
 * A float32 parameter after `steps` SGD steps against its reference: the change from `start` to within
 * FP32.backward of the largest change, plus the rounding of the stored parameter (each step rounds it to
 * float32 on both sides: one ulp of the largest |parameter| per step). Returns the error beyond that rounding
 * against the largest change (for the report).
 */
export function assertUpdate(actual: ArrayLike<number>, expected: ArrayLike<number>, start: ArrayLike<number>, steps: number, tol: number, what: string): number {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let moved = 0;
  let scale = 0;
  let worst = 0;
  let at = 0;
  for (let i = 0; i < expected.length; i++) {
    moved = Math.max(moved, Math.abs(expected[i] - start[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worst)) [worst, at] = [Number.isNaN(d) ? Infinity : d, i];
  }
  const allowed = tol * moved + steps * float32Ulp(scale);
  if (!(worst <= allowed)) {
    assert.fail(
      `${what}: element ${at} is ${actual[at]}, expected ${expected[at]} (moved from ${start[at]}): off by ${worst.toExponential(2)}, over ${tol} of the largest change ` +
        `(${moved.toExponential(2)}) plus ${steps} float32 ulps of the largest parameter`,
    );
  }
  const beyondRounding = Math.max(0, worst - steps * float32Ulp(scale));
  return moved === 0 ? beyondRounding : beyondRounding / moved;
}

/** One ulp of |x| in float32 (23-bit mantissa). */
export function float32Ulp(x: number): number {
  return 2 ** (Math.floor(Math.log2(Math.max(Math.abs(x), 2 ** -126))) - 23);
}

/** The change a - start elementwise (for comparing parameter updates rather than parameters). */
export function change(after: ArrayLike<number>, start: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: after.length }, (_, i) => after[i] - start[i]);
}

export { relativeL2 } from '../src/util/numeric.js';

/**
 * Bounds on the relative L2 error against the float32 reference, per reduced precision: eval logits, the
 * training loss, every gradient, the change of each parameter over two SGD steps. bf16 holds them only where
 * the CPU (or GPU) has native bf16; elsewhere the tool refuses bf16 (docs/precision.md), and the tests check
 * that instead.
 */
export const REDUCED: Record<Exclude<PrecisionName, 'fp32'>, { logits: number; loss: number; grad: number; delta: number }> = {
  bf16: { logits: 0.03, loss: 0.01, grad: 0.15, delta: 0.15 },
  fp16: { logits: 0.01, loss: 0.003, grad: 0.05, delta: 0.05 },
  amp: { logits: 0.01, loss: 0.003, grad: 0.05, delta: 0.05 },
};
/**
 * PromptSRC's L1 terms differentiate to sign(image features − teacher features): elements where the two agree
 * to within rounding flip sign under reduced precision, so its gradients (and changes) get a wider bound.
 */
export const PROMPTSRC_GRAD: Record<Exclude<PrecisionName, 'fp32'>, number> = { bf16: 0.5, fp16: 0.3, amp: 0.3 };

/** One ulp of |x| in half precision (10-bit mantissa; subnormals below 2^-14). */
export function halfUlp(x: number): number {
  const a = Math.max(Math.abs(x), 2 ** -14);
  return 2 ** (Math.floor(Math.log2(a)) - 10);
}

/**
 * A parameter the fp16 recipe stores in half, after `steps` SGD steps: each step rounds the stored value to
 * half, so beside the change's relative L2 bound each element may be off by one half ulp per rounding (the
 * load and each step). Asserts ‖a − e‖ ≤ bound·‖e − start‖ + ‖(steps + 1)·ulp16(e)‖ and returns the change's
 * relative L2 error beyond that rounding allowance (for the report).
 */
export function assertHalfStored(actual: ArrayLike<number>, expected: ArrayLike<number>, start: ArrayLike<number>, bound: number, steps: number, what: string): number {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let err = 0;
  let moved = 0;
  let rounding = 0;
  for (let i = 0; i < expected.length; i++) {
    err += (actual[i] - expected[i]) ** 2;
    moved += (expected[i] - start[i]) ** 2;
    rounding += ((steps + 1) * halfUlp(expected[i])) ** 2;
  }
  [err, moved, rounding] = [Math.sqrt(err), Math.sqrt(moved), Math.sqrt(rounding)];
  assert.ok(
    err <= bound * moved + rounding,
    `${what}: ‖a − e‖ = ${err.toExponential(3)} exceeds ${bound} of the change's norm (${moved.toExponential(3)}) plus the half rounding of ${steps + 1} stores (${rounding.toExponential(3)})`,
  );
  return Math.max(0, err - rounding) / moved;
}
