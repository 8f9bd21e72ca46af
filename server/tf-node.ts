/**
 * TensorFlow.js in Node: @tensorflow/tfjs-node cannot be installed here (it downloads
 * libtensorflow), so the coordinator uses the pure-JS package with the wasm backend
 * (fast) or cpu (fallback). Production mode keeps tfjs from printing advice to stderr.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmGradientKernels } from '../client/engine/wasm-conv2d-backprop-filter.js';

let ready: Promise<string> | null = null;

export function initNodeTf(preferred: 'wasm' | 'cpu' = 'wasm'): Promise<string> {
  ready ??= (async () => {
    tf.enableProdMode();
    // The PS computes a reference gradient (norm bound); CNNs need this kernel on wasm.
    registerWasmGradientKernels();
    if (preferred === 'wasm' && (await tf.setBackend('wasm').catch(() => false))) return 'wasm';
    await tf.setBackend('cpu');
    return 'cpu';
  })();
  return ready;
}

export { tf };
