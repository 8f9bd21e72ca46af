/**
 * The apply engines against each other: the pool splits each tensor over its threads
 * and must give bit-for-bit what one thread gives; the SIMD kernels must agree with
 * the JavaScript reference loops to float32 rounding, including the scalar tails.
 * (optimizers.test.ts compares every engine with tfjs.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import { optimizerSpecSchema } from '../../shared/job-spec.js';
import { seededRandom } from '../../shared/seeded-random.js';
import type { TensorSpec } from '../../shared/tensors.js';
import type { ApplySettings } from './apply-engine.js';
import { ApplyPool } from './kernels/apply-pool.js';
import { instantiateKernels, kernelModule } from './kernels/kernel-module.js';
import { createOptimizer } from './optimizers.js';
import { ParameterStore } from './parameter-store.js';

/** Sizes with every remainder mod 4, one smaller than a vector, one split unevenly over 3 threads. */
const MODEL: TensorSpec[] = [1, 3, 6, 257, 4099].map((n, i) => ({ name: `t${i}`, shape: [n] }));
const OPTIMIZERS = [
  { type: 'sgd', learningRate: 0.1 },
  { type: 'momentum', learningRate: 0.1, momentum: 0.9 },
  { type: 'momentum', learningRate: 0.1, momentum: 0.9, nesterov: true },
  { type: 'adagrad', learningRate: 0.05 },
  { type: 'adam', learningRate: 0.01 },
];
const JS: ApplySettings = { kernels: 'js', threads: 1, parallelFromParams: 0 };
const WASM: ApplySettings = { kernels: 'wasm', threads: 1, parallelFromParams: 0 };
const POOL: ApplySettings = { kernels: 'wasm', threads: 3, parallelFromParams: 0 };

function randomTensors(seed: number, scale: number): Float32Array[] {
  const rand = seededRandom(seed);
  return MODEL.map((s) => Float32Array.from({ length: s.shape[0]! }, () => (rand() - 0.5) * scale));
}

const storeOf = (spec: object, apply: ApplySettings) =>
  new ParameterStore(MODEL, randomTensors(1, 1), createOptimizer(optimizerSpecSchema.parse(spec)), { apply });

/** Apply number `s`: a seeded gradient with every 7th entry zero; the third at half the learning rate. */
function step(store: ParameterStore, s: number): void {
  randomTensors(100 + s, 2).forEach((g, i) => {
    for (let k = 0; k < g.length; k += 7) g[k] = 0;
    store.tensors[i]!.scratch.set(g);
  });
  store.applyScratch(s === 2 ? 0.5 : 1);
}

/** A store after `steps` applies. */
function train(spec: object, apply: ApplySettings, steps = 5): ParameterStore {
  const store = storeOf(spec, apply);
  for (let s = 0; s < steps; s++) step(store, s);
  return store;
}

const flat = (store: ParameterStore) => store.tensors.flatMap((t) => [t.values, ...t.slots]);

describe('apply engines', () => {
  const stores: ParameterStore[] = [];
  afterAll(() => stores.forEach((s) => s.dispose()));

  for (const spec of OPTIMIZERS) {
    const label = `${spec.type}${'nesterov' in spec ? ' (Nesterov)' : ''}`;

    it(`${label}: the pool's threads give exactly what one thread gives`, () => {
      const one = train(spec, WASM);
      const pooled = train(spec, POOL);
      stores.push(one, pooled);
      expect(pooled.engine.threads).toBe(3);
      const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
      const expected = flat(one);
      flat(pooled).forEach((a, i) => expect(bytes(a).equals(bytes(expected[i]!))).toBe(true));
    });

    it(`${label}: the SIMD kernels agree with the JavaScript loops to float32 rounding`, () => {
      const kernels = train(spec, WASM);
      const reference = train(spec, JS);
      stores.push(kernels, reference);
      expect(kernels.engine.kernels).toBe('wasm');
      expect(reference.engine.kernels).toBe('js');
      const ref = flat(reference);
      flat(kernels).forEach((a, i) => {
        for (let k = 0; k < a.length; k++) {
          const r = ref[i]![k]!;
          expect(Math.abs(a[k]! - r)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(r)));
        }
      });
      // The parameters moved, so agreeing means something.
      expect(kernels.tensors[4]!.values[1]).not.toBe(randomTensors(1, 1)[4]![1]);
    });
  }

  for (const type of ['sgd', 'adagrad']) {
    it(`${type}: entries with a zero gradient stay bit-for-bit unchanged in the kernels (delta pulls rely on it)`, () => {
      const store = storeOf({ type }, POOL);
      stores.push(store);
      const before = store.tensors.map((t) => t.values.slice());
      store.tensors.forEach((t) => {
        for (let k = 0; k < t.scratch.length; k++) t.scratch[k] = k % 2 ? 0.5 : 0;
      });
      store.applyScratch();
      store.tensors.forEach((t, i) => {
        for (let k = 0; k < t.values.length; k++) {
          if (k % 2) expect(t.values[k]).not.toBe(before[i]![k]);
          else expect(Object.is(t.values[k], before[i]![k])).toBe(true);
        }
      });
    });
  }

  it('stores sharing the pool each update only their own arrays', () => {
    const spec = { type: 'adam', learningRate: 0.01 };
    const alone = train(spec, POOL, 4);
    const a = storeOf(spec, POOL);
    const b = storeOf(spec, POOL);
    stores.push(alone, a, b);
    for (let s = 0; s < 4; s++) for (const store of [a, b]) step(store, s);
    for (const store of [a, b]) flat(store).forEach((arr, i) => expect(Array.from(arr)).toEqual(Array.from(flat(alone)[i]!)));
  });

  it('a disposed store lets go of the pool and still applies, on the event loop', () => {
    const store = train({ type: 'sgd', learningRate: 0.1 }, POOL, 1);
    const before = store.tensors[4]!.values[0]!;
    store.dispose();
    expect(store.engine.threads).toBe(1);
    store.tensors[4]!.scratch.fill(1);
    store.applyScratch();
    expect(store.tensors[4]!.values[0]).toBeCloseTo(before - 0.1, 6);
  });

  it('models below parallelFromParams apply on the event loop', () => {
    const store = storeOf({ type: 'sgd' }, { kernels: 'wasm', threads: 2, parallelFromParams: 1_000_000 });
    stores.push(store);
    expect(store.engine.threads).toBe(1);
  });
});

describe('apply pool', () => {
  it('reports a helper whose kernel traps, and takes the next apply', () => {
    const module = kernelModule()!;
    const pool = new ApplyPool(2, module);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    const arena = pool.attach(memory, instantiateKernels(module, memory), 1);
    const p = new Float32Array(memory.buffer as unknown as SharedArrayBuffer, 0, 8).fill(1);
    // Out of bounds: the helpers' loads trap.
    ApplyPool.setCall(arena, 0, 'sgd', [0, 1 << 20, 0, 0], 8, [0.5, 0, 0, 0, 0]);
    expect(() => pool.run(arena, 1)).toThrow(/out of bounds/);
    // The gradient p itself: p ← p − 0.5·p.
    ApplyPool.setCall(arena, 0, 'sgd', [0, 0, 0, 0], 8, [0.5, 0, 0, 0, 0]);
    pool.run(arena, 1);
    expect(Array.from(p)).toEqual(Array(8).fill(0.5));
    return pool.close();
  });
});
