/**
 * Each PS optimizer against tfjs's own optimizer on the same parameters and the same
 * gradients, step by step: the server must train exactly as tfjs would, whichever
 * apply engine runs it (JavaScript loops, SIMD kernels, SIMD kernels on the pool).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../shared/seeded-random.js';
import { optimizerSpecSchema, type OptimizerType } from '../../shared/job-spec.js';
import { createOptimizer } from './optimizers.js';
import { ParameterStore } from './parameter-store.js';
import type { ApplySettings } from './apply-engine.js';

const STEPS = 6;
const SIZE = 257;

const engines: { label: string; settings: ApplySettings }[] = [
  { label: 'js', settings: { kernels: 'js', threads: 1, parallelFromParams: 0 } },
  { label: 'wasm', settings: { kernels: 'wasm', threads: 1, parallelFromParams: 0 } },
  { label: 'wasm, 2 threads', settings: { kernels: 'wasm', threads: 2, parallelFromParams: 0 } },
];

const cases: { type: OptimizerType; label?: string; tfjs: () => tf.Optimizer; spec: object }[] = [
  { type: 'sgd', spec: { learningRate: 0.1 }, tfjs: () => tf.train.sgd(0.1) },
  { type: 'momentum', spec: { learningRate: 0.1, momentum: 0.9 }, tfjs: () => tf.train.momentum(0.1, 0.9) },
  {
    type: 'momentum',
    label: 'momentum (Nesterov)',
    spec: { learningRate: 0.1, momentum: 0.9, nesterov: true },
    tfjs: () => tf.train.momentum(0.1, 0.9, true),
  },
  { type: 'adagrad', spec: { learningRate: 0.05, initialAccumulatorValue: 0.1 }, tfjs: () => tf.train.adagrad(0.05, 0.1) },
  { type: 'adam', spec: { learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }, tfjs: () => tf.train.adam(0.01, 0.9, 0.999, 1e-7) },
];

beforeAll(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

describe.each(engines)('parameter-server optimizers match tfjs ($label)', ({ label, settings }) => {
  for (const c of cases) {
    it(`${c.label ?? c.type}: max |difference| ≤ 1e-6 over ${STEPS} steps`, () => {
      const rand = seededRandom(42);
      const initial = Float32Array.from({ length: SIZE }, () => rand() - 0.5);
      const grads = Array.from({ length: STEPS }, () => Float32Array.from({ length: SIZE }, () => (rand() - 0.5) * 2));

      const opt = createOptimizer(optimizerSpecSchema.parse({ type: c.type, ...c.spec }));
      const store = new ParameterStore([{ name: 'p', shape: [SIZE] }], [initial], opt, { apply: settings });
      expect(store.engine.kernels).toBe(settings.kernels);
      expect(store.engine.threads).toBe(settings.threads);
      for (const g of grads) {
        store.apply({ views: [g] });
      }
      const ours = store.tensors[0]!.values;
      store.dispose();

      const v = tf.variable(tf.tensor1d(initial), true, `p_${label}_${cases.indexOf(c)}`);
      const theirs = c.tfjs();
      for (const g of grads) {
        const gt = tf.tensor1d(g);
        theirs.applyGradients({ [v.name]: gt });
        gt.dispose();
      }
      const expected = v.dataSync();
      let maxDiff = 0;
      for (let i = 0; i < SIZE; i++) maxDiff = Math.max(maxDiff, Math.abs(expected[i]! - ours[i]!));
      v.dispose();
      theirs.dispose();
      expect(maxDiff).toBeLessThanOrEqual(1e-6);
      // The parameters really moved: a no-op optimizer must not pass.
      expect(Math.abs(ours[0]! - initial[0]!)).toBeGreaterThan(1e-4);
    });
  }

  it('scales the step by lrScale (staleness-aware modes)', () => {
    const spec = optimizerSpecSchema.parse({ type: 'sgd', learningRate: 0.1 });
    const p = Float32Array.from([1]);
    createOptimizer(spec).apply(p, Float32Array.from([1]), [], 1, 0.5);
    expect(p[0]).toBeCloseTo(0.95, 7);
  });
});
