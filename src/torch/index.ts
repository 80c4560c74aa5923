/** The engine: libtorch tensors for TypeScript, freed by scope. */
export { Tensor, Generator, dtypeBytes, type DType, type Device, type Reduction, type TypedArray } from './tensor.js';
export { tidy, keep, dispose, liveTensors, noGrad, isGradEnabled } from './scope.js';
export * from './create.js';
export * as nn from './nn.js';
export { SGD, AdamW, type SGDOptions, type AdamWOptions, type AdamWState } from './optim.js';
export { native, setNumThreads, getNumThreads, defaultThreads, blasInfo, checkBlas, type BlasInfo } from './native.js';

import { native } from './native.js';
/** libtorch's version string, e.g. "1.13.1". */
export function torchVersion(): string {
  return native.version() as string;
}
/** True when the addon was built against a CUDA libtorch and a GPU is visible. */
export function cudaAvailable(): boolean {
  return native.cudaAvailable() as boolean;
}
