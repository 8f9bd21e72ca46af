/**
 * The compiled kernels (ps-kernels.wat) and their calling convention.
 * Compiled once per process; instantiated once per kernel arena and per pool thread.
 */
import { readFileSync } from 'node:fs';

/**
 * The kernels, in the order the apply pool's command buffer names them by index.
 * 'copy' is no optimizer's: it is bench ps-apply's baseline (copy-update.ts). 'sumsq'
 * updates nothing: it sums the squares of its gradient argument (the gate's norm).
 */
export const KERNEL_NAMES = ['sgd', 'momentum', 'nesterov', 'adagrad', 'adam', 'copy', 'sumsq'] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

/**
 * (param, gradient, slot a, slot b as byte offsets; elements; six per-apply constants)
 * → what a reduction sums over the elements; 0 from an update.
 */
export type KernelFn = (
  p: number,
  g: number,
  a: number,
  b: number,
  n: number,
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  c4: number,
  c5: number,
) => number;
export type KernelExports = Record<KernelName, KernelFn>;

/** One optimizer step as a kernel call: which kernel, and its per-apply constants c0..c5 (unused ones 0). */
export interface KernelStep {
  kernel: KernelName;
  constants: [number, number, number, number, number, number];
}

let compiled: WebAssembly.Module | null | undefined;

/**
 * The kernel module, or null where this runtime lacks WebAssembly SIMD or shared
 * memory (the parameter store then runs the JavaScript optimizers).
 */
export function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    const bytes = readFileSync(new URL('./ps-kernels.wasm', import.meta.url));
    compiled = WebAssembly.validate(bytes) && typeof SharedArrayBuffer === 'function' ? new WebAssembly.Module(bytes) : null;
  }
  return compiled;
}

export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
}
