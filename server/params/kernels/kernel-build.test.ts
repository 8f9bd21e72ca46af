/** The committed ps-kernels.wasm is exactly what ps-kernels.wat compiles to: neither was edited alone. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileKernels, WASM_URL } from './compile-kernels.js';
import { KERNEL_NAMES, kernelModule } from './kernel-module.js';

describe('ps-kernels.wasm', () => {
  it('is the compiled ps-kernels.wat (else: npm run build:kernels)', async () => {
    const committed = new Uint8Array(readFileSync(WASM_URL));
    expect(Buffer.from(await compileKernels()).equals(Buffer.from(committed))).toBe(true);
  });

  it('exports every kernel the apply engine names, and loads in this runtime', () => {
    const module = kernelModule();
    expect(module).not.toBeNull();
    const exported = WebAssembly.Module.exports(module!).map((e) => e.name).sort();
    expect(exported).toEqual([...KERNEL_NAMES].sort());
  });
});
