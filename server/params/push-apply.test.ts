/**
 * A push as the coordinator takes it (the gradient gate decodes the fp32 payload into
 * the store's scratch, then the store applies it) lands exactly the gradient a direct
 * apply does, on every engine: bench ps-apply times that path as `push_gbs` and
 * compares it with the apply alone, so the two must do the same update.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { encodeTensors, getCodec } from '../../shared/codec.js';
import { optimizerSpecSchema } from '../../shared/job-spec.js';
import { seededRandom } from '../../shared/seeded-random.js';
import type { TensorSpec } from '../../shared/tensors.js';
import type { ApplySettings } from './apply-engine.js';
import { GradientGate } from './gradient-gate.js';
import { CHUNK } from './kernels/apply-share.mjs';
import { createOptimizer } from './optimizers.js';
import { ParameterStore } from './parameter-store.js';

/** Odd sizes for the kernels' tails, and tensors of several pool chunks so that threads split them. */
const MODEL: TensorSpec[] = [
  { name: 'dense/kernel', shape: [3, CHUNK + 1] },
  { name: 'dense/bias', shape: [7] },
  { name: 'out/kernel', shape: [2 * CHUNK + 5] },
];
const ENGINES: Record<string, ApplySettings> = {
  'JavaScript loops': { kernels: 'js', threads: 1, parallelFromParams: 0 },
  'SIMD kernels': { kernels: 'wasm', threads: 1, parallelFromParams: 0 },
  'SIMD kernels on a 3-thread pool': { kernels: 'wasm', threads: 3, parallelFromParams: 0 },
};

function randomTensors(seed: number, scale: number): Float32Array[] {
  const rand = seededRandom(seed);
  return MODEL.map((s) => Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () => (rand() - 0.5) * scale));
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('a decoded push applies like the gradient itself', () => {
  const stores: ParameterStore[] = [];
  afterAll(() => stores.forEach((s) => s.dispose()));

  for (const [label, apply] of Object.entries(ENGINES)) {
    it(`adam on ${label}: gate + apply equals scratch.set + apply, bit for bit, aligned or not`, () => {
      const make = () => new ParameterStore(MODEL, randomTensors(1, 1), createOptimizer(optimizerSpecSchema.parse({ type: 'adam' })), { apply });
      const pushed = make();
      const direct = make();
      stores.push(pushed, direct);
      expect(pushed.engine.threads).toBe(apply.threads);
      const gate = new GradientGate(pushed, getCodec('fp32')!, 10, null);
      for (let s = 0; s < 4; s++) {
        const gradient = randomTensors(100 + s, 1e-2);
        const { manifest, data } = encodeTensors(MODEL.map((spec, i) => ({ ...spec, values: gradient[i]! })));
        // Odd steps at an odd byte offset, as a pooled Node Buffer may arrive: the codec's byte-wise path.
        const bytes = data as Uint8Array;
        const payload = s % 2 ? new Uint8Array(bytes.byteLength + 1).subarray(1) : bytes;
        if (s % 2) payload.set(bytes);
        expect(gate.check({ manifest, data: payload, batches: 1 }, 'w1')).toBeNull();
        pushed.applyScratch();
        direct.tensors.forEach((t, i) => t.scratch.set(gradient[i]!));
        direct.applyScratch();
      }
      pushed.tensors.forEach((t, i) => {
        const d = direct.tensors[i]!;
        expect(bits(t.values).equals(bits(d.values)), t.spec.name).toBe(true);
        t.slots.forEach((slot, k) => expect(bits(slot).equals(bits(d.slots[k]!)), `${t.spec.name} slot ${k}`).toBe(true));
      });
    });
  }
});
