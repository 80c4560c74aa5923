/**
 * Deterministic freeing of native tensors. Every Tensor created while a tidy() scope is open belongs to
 * the innermost scope; when the scope's function returns, every tensor it created is disposed, except the
 * tensors found in its return value (moved to the enclosing scope) and those taken out with keep().
 * Tensors created outside any scope are owned by the caller, who disposes them.
 *
 * tidy() takes a synchronous function on purpose: the scope stack is one per thread, and an `await`
 * inside a scope would let unrelated code create tensors into it. Async code runs a tidy() per step.
 */
import { native } from './native.js';
import type { Tensor } from './tensor.js';

const stack: Array<Set<Tensor>> = [];

/** @internal called by the Tensor constructor */
export function track(t: Tensor): void {
  if (stack.length > 0) stack[stack.length - 1].add(t);
}

/** @internal called by dispose() and keep() */
export function untrack(t: Tensor): void {
  for (let i = stack.length - 1; i >= 0; i--) if (stack[i].delete(t)) return;
}

function collect(value: unknown, out: Set<Tensor>, seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (isTensor(value)) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out, seen);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, out, seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, out, seen);
  }
}

function isTensor(v: object): v is Tensor {
  return typeof (v as Tensor).dispose === 'function' && 'kept' in v && 'handle' in v;
}

/**
 * Runs fn in a new scope and frees every tensor it created but did not return (tensors inside returned
 * arrays, Maps and plain objects count as returned).
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  stack.push(scope);
  let result: T | undefined;
  let ok = false;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error('tidy() needs a synchronous function (see src/torch/scope.ts)');
    ok = true;
  } finally {
    stack.pop();
    const returned = new Set<Tensor>();
    if (ok) collect(result, returned, new Set());
    for (const t of scope) {
      if (returned.has(t)) track(t);
      else t.dispose();
    }
  }
  return result as T;
}

/** Takes tensors out of scope management; the caller disposes them. */
export function keep<T extends Tensor>(t: T): T {
  return t.keep();
}

/** Disposes every tensor found in a value (a tensor, arrays, Maps, plain objects). */
export function dispose(value: unknown): void {
  const found = new Set<Tensor>();
  collect(value, found, new Set());
  for (const t of found) t.dispose();
}

/** Number of native tensors alive in the process (for leak tests). */
export function liveTensors(): number {
  return native.liveCount() as number;
}

/** Runs fn with gradient recording off (torch.no_grad()). Synchronous, like tidy(). */
export function noGrad<T>(fn: () => T): T {
  const prev = native.setGradEnabled(false) as boolean;
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled() as boolean;
}
