/**
 * The tfjs backends a tab can train on, what the WebGPU adapter is, and which
 * backends may be chosen automatically. A fallback (software) WebGPU adapter is
 * never chosen automatically: it is correct but the slowest option; forcing
 * `?backend=webgpu` still uses it.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import type { AdapterInfo, BackendName } from '../../shared/protocol.js';
import { registerWasmGradientKernels } from './wasm-conv2d-backprop-filter.js';

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});
registerWasmGradientKernels();

export interface BackendCandidate {
  name: BackendName;
  /** Why the backend is left out of automatic selection, if it is. */
  excluded: string | null;
}

export interface WebGpuProbe {
  adapter: AdapterInfo | null;
  /** Why WebGPU cannot be used automatically, or null when it can. */
  unavailable: string | null;
}

interface GpuAdapterLike {
  info?: Partial<AdapterInfo>;
  isFallbackAdapter?: boolean;
}

export async function probeWebGpu(): Promise<WebGpuProbe> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } }).gpu;
  if (!gpu) return { adapter: null, unavailable: 'this browser has no WebGPU (navigator.gpu is missing)' };
  let raw: GpuAdapterLike | null = null;
  try {
    raw = await gpu.requestAdapter();
  } catch (err) {
    return { adapter: null, unavailable: `requestAdapter failed: ${String(err)}` };
  }
  if (!raw) return { adapter: null, unavailable: 'no WebGPU adapter (GPU blocklisted or absent)' };
  const info = raw.info ?? {};
  const adapter: AdapterInfo = {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    isFallbackAdapter: Boolean(info.isFallbackAdapter ?? raw.isFallbackAdapter),
  };
  return {
    adapter,
    unavailable: adapter.isFallbackAdapter ? 'the only WebGPU adapter is a software fallback (e.g. SwiftShader)' : null,
  };
}

/** Backends in preference order, each marked usable or not for automatic selection. */
export async function listCandidates(webgpu: WebGpuProbe): Promise<BackendCandidate[]> {
  const registered = new Set(Object.keys(tf.engine().registryFactory));
  const out: BackendCandidate[] = [];
  for (const name of ['webgpu', 'webgl', 'wasm', 'cpu'] as const) {
    let excluded: string | null = registered.has(name) ? null : 'not available in this browser';
    if (name === 'webgpu' && !excluded) excluded = webgpu.unavailable;
    out.push({ name, excluded });
  }
  return out;
}

/** Switches tfjs to `name`; false when the backend fails to initialise here. */
export async function useBackend(name: BackendName): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}
