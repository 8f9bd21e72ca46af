/**
 * The JS Conv2DBackpropFilter kernel for tfjs's wasm backend against the cpu backend's
 * own kernel, through tf.grad of a real convolution (so the registered kernel is what runs).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmGradientKernels, wasmConv2DBackpropFilterConfig } from './wasm-conv2d-backprop-filter.js';

function filterGradient(backend: string, x: Float32Array, xShape: number[], fShape: [number, number, number, number], stride: number, pad: 'valid' | 'same') {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, xShape as [number, number, number, number]);
    const f = tf.ones(fShape).mul(0.1) as tf.Tensor4D;
    const g = tf.grad((ft: tf.Tensor) => tf.conv2d(xt, ft as tf.Tensor4D, stride, pad).square().sum())(f);
    return { backend: tf.getBackend(), values: g.dataSync().slice() };
  });
}

beforeAll(async () => {
  tf.enableProdMode();
  registerWasmGradientKernels();
});

describe('wasm Conv2DBackpropFilter', () => {
  const cases = [
    { name: 'MNIST conv1 (5×5, 1→8, valid)', xShape: [4, 28, 28, 1], f: [5, 5, 1, 8] as [number, number, number, number], stride: 1, pad: 'valid' as const },
    { name: 'conv2 (5×5, 8→16, valid)', xShape: [3, 12, 12, 8], f: [5, 5, 8, 16] as [number, number, number, number], stride: 1, pad: 'valid' as const },
    { name: 'strided, same padding', xShape: [2, 9, 9, 3], f: [3, 3, 3, 4] as [number, number, number, number], stride: 2, pad: 'same' as const },
  ];
  for (const c of cases) {
    it(`matches the cpu kernel: ${c.name}`, async () => {
      const n = c.xShape.reduce((a, b) => a * b, 1);
      const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37));
      await tf.setBackend('cpu');
      const cpu = filterGradient('cpu', x, c.xShape, c.f, c.stride, c.pad);
      expect(await tf.setBackend('wasm')).toBe(true);
      const wasm = filterGradient('wasm', x, c.xShape, c.f, c.stride, c.pad);
      expect(wasm.backend).toBe('wasm');
      expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc).toBe(wasmConv2DBackpropFilterConfig.kernelFunc);
      let maxRel = 0;
      for (let i = 0; i < cpu.values.length; i++) {
        maxRel = Math.max(maxRel, Math.abs(cpu.values[i]! - wasm.values[i]!) / Math.max(1, Math.abs(cpu.values[i]!)));
      }
      expect(maxRel).toBeLessThan(1e-4);
      expect(Math.max(...cpu.values.map(Math.abs))).toBeGreaterThan(0);
    });
  }
});
