/**
 * The copy that bench ps-apply measures every engine against moves exactly the source's
 * bits into the destination and nothing beyond it, on every engine: one thread, and
 * split over the apply pool's threads like an optimizer's apply.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../../shared/seeded-random.js';
import { createApplyEngine, type ApplyEngine, type ApplySettings, type ApplyTensor } from '../apply-engine.js';
import { CHUNK } from './apply-share.mjs';
import { COPY_UPDATE } from './copy-update.js';

/**
 * Every remainder mod 32 that matters to the kernel's three loops (eight vectors a
 * turn, one vector, one float), and tensors of several pool chunks so threads split them.
 */
const SIZES = [1, 3, 4, 7, 31, 32, 33, 63, 100, 4099, 2 * CHUNK + 3, 3 * CHUNK + 29];
const ENGINES: Record<string, ApplySettings> = {
  'JavaScript (Float32Array.prototype.set)': { kernels: 'js', threads: 1, parallelFromParams: 0 },
  'SIMD kernel, one thread': { kernels: 'wasm', threads: 1, parallelFromParams: 0 },
  'SIMD kernel on a 3-thread pool': { kernels: 'wasm', threads: 3, parallelFromParams: 0 },
};
/** Bit patterns a float copy could change: NaNs with payloads (quiet and signalling), −0, subnormals, infinities. */
const AWKWARD = [0x7fc00001, 0x7f800001, 0xffbfffff, 0x80000000, 0x00000001, 0x807fffff, 0x7f800000, 0xff800000];
/** Written after every destination: a kernel that ran past its end would overwrite it. */
const GUARD = 0xdeadbeef;

interface Copied {
  engine: ApplyEngine;
  tensors: ApplyTensor[];
  /** The source: the gradient the apply reads. */
  gradient: Float32Array[];
  guards: Uint32Array[];
}

/** Per tensor: the destination (values), a guard array right after it, then the source (the gradient). */
function copyCase(settings: ApplySettings, seed: number): Copied {
  const engine = createApplyEngine(settings, SIZES.flatMap((n) => [n, 4, n]), SIZES.length, SIZES.reduce((a, b) => a + b, 0));
  const rand = seededRandom(seed);
  const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
  const guards: Uint32Array[] = [];
  const gradient: Float32Array[] = [];
  const tensors = SIZES.map((n) => {
    const values = engine.alloc(n);
    guards.push(bits(engine.alloc(4)).fill(GUARD));
    const source = engine.alloc(n);
    gradient.push(source);
    const src = bits(source);
    for (let i = 0; i < n; i++) src[i] = i < AWKWARD.length ? AWKWARD[(i + n) % AWKWARD.length]! : Math.floor(rand() * 2 ** 32);
    bits(values).fill(0x3f800000); // 1.0, unlike any source value
    return { values, slots: [] };
  });
  return { engine, tensors, gradient, guards };
}

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('copy update', () => {
  const engines: ApplyEngine[] = [];
  afterAll(() => engines.forEach((e) => e.dispose()));

  for (const [label, settings] of Object.entries(ENGINES)) {
    it(`${label}: the destination holds the source bit for bit, and nothing past it changes`, () => {
      const { engine, tensors, gradient, guards } = copyCase(settings, SIZES.length + settings.threads);
      engines.push(engine);
      expect([engine.kernels, engine.threads]).toEqual([settings.kernels, settings.threads]);
      engine.apply(COPY_UPDATE, tensors, gradient, 1, 1);
      tensors.forEach((t, i) => {
        expect(bytes(t.values).equals(bytes(gradient[i]!)), `tensor of ${t.values.length}`).toBe(true);
        expect(Array.from(guards[i]!), `guard after the tensor of ${t.values.length}`).toEqual([GUARD, GUARD, GUARD, GUARD]);
      });
    });
  }
});
