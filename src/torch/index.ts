/** The engine: libtorch tensors for TypeScript, freed by scope. */
export { Tensor, Generator, dtypeBytes, type DType, type Device, type Reduction, type TypedArray } from './tensor.js';
export { tidy, keep, dispose, liveTensors, noGrad, isGradEnabled } from './scope.js';
export * from './create.js';
export * as nn from './nn.js';
export { SGD, AdamW, type SGDOptions, type AdamWOptions, type AdamWState } from './optim.js';
export { native, setNumThreads, getNumThreads, defaultThreads, blasInfo, checkBlas, type BlasInfo } from './native.js';
export {
  builtWithCuda,
  cudaDeviceCount,
  cudaDevices,
  synchronize,
  isCuda,
  resolveDevice,
  cpuInfo,
  cpuHasNativeBf16,
  cpuClass,
  onednnCapBelowBf16,
  type CpuClass,
  libtorchDescription,
  type CudaDeviceInfo,
  type CpuInfo,
} from './device.js';
export { PRECISIONS, cpuBf16Decision, precision, precisionOfDtype, resolvePrecision, type Precision, type PrecisionName } from './precision.js';
export { GradScaler, type GradScalerState } from './optim.js';

import { native } from './native.js';
/** libtorch's version string, e.g. "1.13.1". */
export function torchVersion(): string {
  return native.version() as string;
}
/** True when the addon was built against a CUDA libtorch and a GPU is visible. */
export function cudaAvailable(): boolean {
  return native.cudaAvailable() as boolean;
}
/**
 * Hands the heap pages the C allocator keeps after frees back to the system (glibc malloc_trim); the trainer
 * calls it after each epoch so the resident size of a long run follows what is in use.
 */
export function releaseFreedMemory(): void {
  native.mallocTrim();
}
/**
 * The peak of bytes the GPU's caching allocator handed out on CUDA device `index` since the last reset
 * (torch.cuda.max_memory_allocated), restarting the count with `reset`; null where it is not known (no GPU, a
 * CPU build, libtorch before 2.9). For the benchmarks.
 */
export function devicePeakBytes(index = 0, reset = false): number | null {
  return native.devicePeakBytes(index, reset) as number | null;
}
/** True when libtorch has fused scaled_dot_product_attention (2.1 and later). */
export function hasSdpa(): boolean {
  return native.hasSdpa() as boolean;
}
