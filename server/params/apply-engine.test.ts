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
import { ApplyPool, sharedApplyPool } from './kernels/apply-pool.js';
import { CHUNK } from './kernels/apply-share.mjs';
import { instantiateKernels, kernelModule } from './kernels/kernel-module.js';
import { createOptimizer } from './optimizers.js';
import { ParameterStore } from './parameter-store.js';

/**
 * Sizes with every remainder mod 4, one smaller than a vector, and two of several
 * 16,384-element chunks (apply-share.mjs) so that tensors are split between threads.
 */
const MODEL: TensorSpec[] = [1, 3, 6, 257, 4099, 2 * CHUNK + 3, 3 * CHUNK + 5].map((n, i) => ({ name: `t${i}`, shape: [n] }));
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
  const gradient = randomTensors(100 + s, 2);
  for (const g of gradient) for (let k = 0; k < g.length; k += 7) g[k] = 0;
  store.apply({ views: gradient }, s === 2 ? 0.5 : 1);
}

/** A store after `steps` applies. */
function train(spec: object, apply: ApplySettings, steps = 5): ParameterStore {
  const store = storeOf(spec, apply);
  for (let s = 0; s < steps; s++) step(store, s);
  return store;
}

const flat = (store: ParameterStore) => store.tensors.flatMap((t) => [t.values, ...t.slots]);

/**
 * The kernels and the JavaScript loops take `steps` steps from the same state each
 * time (the loops' state is copied into the kernels' store before every step), so
 * rounding cannot pile up and each step is held to float32 rounding: the change of
 * every parameter within 2e-6 of the loops' change (plus one ulp of the parameter and
 * 1e-6 of the tensor's largest change), every slot likewise. Small parameters keep
 * that ulp well below the steps. A wrong constant (1e-5 off) or ε fails this.
 */
function expectStepwiseAgreement(spec: object, gradScale: number, steps = 4): void {
  const initial = randomTensors(1, 1e-3);
  const make = (apply: ApplySettings) => new ParameterStore(MODEL, initial, createOptimizer(optimizerSpecSchema.parse(spec)), { apply });
  const ours = make(WASM);
  const loops = make(JS);
  let moved = 0;
  /** The worst excess over its tolerance, and where (one expect per step: a million would take seconds). */
  let worst = { excess: -Infinity, at: '' };
  const check = (err: number, tolerance: number, at: () => string) => {
    if (err - tolerance > worst.excess) worst = { excess: err - tolerance, at: at() };
  };
  for (let s = 0; s < steps; s++) {
    const before = loops.snapshot();
    ours.restore(before);
    const gradient = randomTensors(300 + s, gradScale);
    for (const g of gradient) for (let k = 0; k < g.length; k += 7) g[k] = 0;
    ours.apply({ views: gradient });
    loops.apply({ views: gradient });
    ours.tensors.forEach((t, i) => {
      const r = loops.tensors[i]!;
      const p = before.tensors[i]!.values;
      const refSteps = r.values.map((v, k) => v - p[k]!);
      // Where a decayed slot and a gradient term nearly cancel, float32 keeps only their
      // precision, not the small result's: 1e-6 of the tensor's largest step or slot.
      const stepScale = 1e-6 * Math.max(...refSteps.map(Math.abs));
      for (let k = 0; k < t.values.length; k++) {
        // The result's own rounding: one ulp of the larger of the parameter before and after.
        const ulp = 1.2e-7 * Math.max(Math.abs(p[k]!), Math.abs(r.values[k]!));
        check(Math.abs(t.values[k]! - p[k]! - refSteps[k]!), 2e-6 * Math.abs(refSteps[k]!) + stepScale + ulp, () => `step ${s}, ${t.spec.name}[${k}]`);
        if (refSteps[k] !== 0) moved += 1;
      }
      t.slots.forEach((slot, n) => {
        const ref = r.slots[n]!;
        const slotScale = 1e-6 * Math.max(...ref.map(Math.abs));
        for (let k = 0; k < slot.length; k++) check(Math.abs(slot[k]! - ref[k]!), 2e-6 * Math.abs(ref[k]!) + slotScale, () => `step ${s}, ${t.spec.name} slot ${n}[${k}]`);
      });
    });
  }
  expect(worst.excess, `worst at ${worst.at}`).toBeLessThanOrEqual(0);
  expect(moved).toBeGreaterThan((ours.parameterCount * steps) / 2); // the steps were not all zero
  ours.dispose();
  loops.dispose();
}

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

    it(`${label}: every step of the SIMD kernels agrees with the JavaScript loops to float32 rounding`, () => {
      expectStepwiseAgreement(spec, 2);
    });
  }

  // Gradients so small that ε dominates the denominators: a kernel that dropped or misplaced ε would step far off.
  for (const spec of [
    { type: 'adam', learningRate: 0.01 },
    { type: 'adagrad', learningRate: 0.01, initialAccumulatorValue: 0 },
  ]) {
    it(`${spec.type}: with gradients near ε the kernels still agree with the loops`, () => {
      expectStepwiseAgreement(spec, 2e-7);
    });
  }

  for (const type of ['sgd', 'adagrad']) {
    it(`${type}: entries with a zero gradient stay bit-for-bit unchanged in the kernels (delta pulls rely on it)`, () => {
      const store = storeOf({ type }, POOL);
      stores.push(store);
      const before = store.tensors.map((t) => t.values.slice());
      // Written where the store applies from, as the gradient gate writes a push.
      const buffer = store.gradientBuffer;
      for (const g of buffer) for (let k = 0; k < g.length; k++) g[k] = k % 2 ? 0.5 : 0;
      store.apply({ views: buffer });
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
    const gradient = store.tensors.map((t) => new Float32Array(t.values.length));
    gradient[4]!.fill(1);
    store.apply({ views: gradient });
    expect(store.tensors[4]!.values[0]).toBeCloseTo(before - 0.1, 6);
  });

  it('models below parallelFromParams apply on the event loop', () => {
    const store = storeOf({ type: 'sgd' }, { kernels: 'wasm', threads: 2, parallelFromParams: 1_000_000 });
    stores.push(store);
    expect(store.engine.threads).toBe(1);
  });
});

describe('apply pool', () => {
  const module = kernelModule()!;
  /** A one-page arena: 16,384 floats; `calls` SGD calls of 4 floats each, call k on floats [4k, 4k + 4). */
  function smallArena(pool: ApplyPool, calls: number) {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    const arena = pool.attach(memory, instantiateKernels(module, memory), calls, calls);
    const floats = new Float32Array(memory.buffer as unknown as SharedArrayBuffer);
    /** p ← p − 0.5·g with g = p (or g out of bounds for the calls in `trap`). */
    const run = (trap: number[] = []) => {
      for (let k = 0; k < calls; k++) ApplyPool.setCall(arena, k, 'sgd', 16 * k, trap.includes(k) ? 1 << 20 : 16 * k, 0, 0, 4, [0.5, 0, 0, 0, 0, 0]);
      pool.run(arena, calls);
    };
    return { arena, floats, run };
  }

  it("retires itself when a helper's kernel traps; every later run is refused", async () => {
    const pool = new ApplyPool(2, module);
    // Three one-chunk calls: chunk 0 is the event loop's fixed share, chunk 1 the helper's, chunk 2 the shared tail.
    const { floats, run } = smallArena(pool, 3);
    floats.fill(1, 0, 12);
    run();
    expect(Array.from(floats.subarray(0, 12))).toEqual(Array(12).fill(0.5));
    expect(() => run([1])).toThrow(/a helper failed/);
    expect(pool.broken).toMatch(/a helper failed/);
    expect(() => run()).toThrow(/retired/);
    await pool.close();
  });

  it('retires itself when its helpers do not start in time', async () => {
    const pool = new ApplyPool(2, module, { startMs: 0, applyMs: 2000 });
    const { run } = smallArena(pool, 3);
    expect(() => run()).toThrow(/did not start within 0 ms/);
    expect(pool.broken).toMatch(/did not start/);
    await pool.close();
  });

  it("retires itself when the event loop's own share traps", async () => {
    const pool = new ApplyPool(2, module);
    const { run } = smallArena(pool, 3);
    expect(() => run([0])).toThrow(/event loop's share failed/);
    expect(pool.broken).not.toBeNull();
    await pool.close();
  });

  it('ends its helpers when an arena detaches, and the next apply starts new ones that know the others', async () => {
    const pool = new ApplyPool(3, module);
    const a = smallArena(pool, 6);
    const b = smallArena(pool, 6);
    a.floats.fill(1, 0, 24);
    a.run();
    pool.detach(b.arena);
    a.run();
    expect(Array.from(a.floats.subarray(0, 24))).toEqual(Array(24).fill(0.25));
    expect(pool.broken).toBeNull();
    await pool.close();
  });

  it("a store whose pool was retired applies on the event loop, correctly", () => {
    const spec = { type: 'adam', learningRate: 0.01 };
    const store = storeOf(spec, POOL);
    const reference = storeOf(spec, WASM);
    step(store, 0);
    step(reference, 0);
    void sharedApplyPool(POOL.threads, module).close();
    expect(store.engine.threads).toBe(1);
    for (let s = 1; s < 4; s++) {
      step(store, s);
      step(reference, s);
    }
    flat(store).forEach((arr, i) => expect(Array.from(arr)).toEqual(Array.from(flat(reference)[i]!)));
    store.dispose();
    reference.dispose();
  });
});
