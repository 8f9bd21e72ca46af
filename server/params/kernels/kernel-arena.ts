/**
 * One parameter store's arrays (values, optimizer slots, the gradient buffer) laid out
 * in one shared WebAssembly memory, so the kernels update them in place: no copy in
 * or out per apply. Sized once; it never grows, so the views never move.
 */
import { instantiateKernels, type KernelExports } from './kernel-module.js';

const PAGE_BYTES = 65536;
/** wasm32 addresses 4 GiB; one page less, so that an array's end address never wraps to 0. */
const MAX_PAGES = 65535;
/** Kernels load four floats at a time from 16-byte-aligned addresses. */
const ALIGN_FLOATS = 4;

const aligned = (size: number) => Math.ceil(size / ALIGN_FLOATS) * ALIGN_FLOATS;

export class KernelArena {
  readonly kernels: KernelExports;
  private readonly buffer: SharedArrayBuffer;
  private nextFloat = 0;

  private constructor(
    readonly memory: WebAssembly.Memory,
    module: WebAssembly.Module,
    private readonly capacityFloats: number,
  ) {
    this.buffer = memory.buffer as unknown as SharedArrayBuffer;
    this.kernels = instantiateKernels(module, memory);
  }

  /** An arena for arrays of these sizes, or null when they do not fit in wasm32 memory. */
  static create(module: WebAssembly.Module, sizes: readonly number[]): KernelArena | null {
    const floats = sizes.reduce((n, s) => n + aligned(s), 0);
    const pages = Math.max(1, Math.ceil((floats * 4) / PAGE_BYTES));
    if (pages > MAX_PAGES) return null;
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    } catch (err) {
      if (err instanceof RangeError) return null; // the runtime would not reserve that much
      throw err;
    }
    return new KernelArena(memory, module, floats);
  }

  /** A zeroed view of `size` floats, 16-byte aligned. */
  alloc(size: number): Float32Array {
    if (this.nextFloat + aligned(size) > this.capacityFloats) {
      throw new Error(`KernelArena: ${size} more floats exceed the ${this.capacityFloats} it was sized for`);
    }
    const view = new Float32Array(this.buffer, this.nextFloat * 4, size);
    this.nextFloat += aligned(size);
    return view;
  }

  /** The byte offset the kernels address `array` by; it must be one of this arena's views. */
  offsetOf(array: Float32Array): number {
    if ((array.buffer as unknown) !== this.buffer) throw new Error('KernelArena: array is not in this arena');
    return array.byteOffset;
  }
}
