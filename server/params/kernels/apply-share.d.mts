import type { KernelFn } from './kernel-module.js';

export declare const CALL_FIELDS: number;
export declare const CHUNK: number;
export declare function applyShare(kernels: readonly KernelFn[], commands: Float64Array, ctl: Int32Array, next: number, index: number, threads: number): void;
