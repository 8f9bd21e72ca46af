import type { KernelFn } from './kernel-module.js';

export declare const CTL: Readonly<{ GEN: 0; DONE: 1; TARGET: 2; FAILED: 3; NEXT: 4; READY: 5; FIELDS: 6 }>;
export declare const CALL_FIELDS: number;
export declare const CHUNK: number;
export declare function chunkCount(commands: Float64Array): number;
export declare function applyShare(kernels: readonly KernelFn[], commands: Float64Array, sums: Float64Array, ctl: Int32Array, index: number, threads: number): void;
export declare function sumChunks(commands: Float64Array, sums: Float64Array): number;
