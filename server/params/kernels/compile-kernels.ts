/**
 * ps-kernels.wat → ps-kernels.wasm with wabt (a dev dependency): the committed binary
 * is what the coordinator loads, so it needs no compiler at run time.
 * `npm run build:kernels` rewrites it; kernel-build.test.ts fails when the two differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const WAT_URL = new URL('./ps-kernels.wat', import.meta.url);
export const WASM_URL = new URL('./ps-kernels.wasm', import.meta.url);

export async function compileKernels(): Promise<Uint8Array> {
  const { default: initWabt } = await import('wabt');
  const wabt = await initWabt();
  const module = wabt.parseWat('ps-kernels.wat', readFileSync(WAT_URL, 'utf8'), { simd: true, threads: true });
  try {
    const bytes = new Uint8Array(module.toBinary({}).buffer);
    // wabt's own validator rejects shared memories whatever the features, so V8 validates.
    if (!WebAssembly.validate(bytes)) throw new Error('ps-kernels.wat compiled to a module this runtime rejects');
    return bytes;
  } finally {
    module.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bytes = await compileKernels();
  writeFileSync(WASM_URL, bytes);
  process.stdout.write(`wrote ${fileURLToPath(WASM_URL)} (${bytes.length} bytes)\n`);
}
