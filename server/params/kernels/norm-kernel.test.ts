/**
 * A push's norm (ApplyEngine.norm), on every engine: the JavaScript reference
 * loop, the sumsq kernel on one thread, and the kernel split over a 3-thread pool.
 * Each against a compensated float64 reference, within its documented error, on random
 * data, on values whose squares overflow float32, and on 4M parameters; and a single
 * NaN or ±Infinity anywhere (any tensor's first, middle or last element, any chunk's
 * first or last, so every thread's share) must make it non-finite: the gradient gate's
 * NON_FINITE check is this norm.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../../shared/seeded-random.js';
import { createApplyEngine, type ApplyEngine, type ApplySettings } from '../apply-engine.js';
import { CHUNK } from './apply-share.mjs';

const ENGINES: Record<string, ApplySettings> = {
  'JavaScript reference loop': { kernels: 'js', threads: 1, parallelFromParams: 0 },
  'sumsq kernel, one thread': { kernels: 'wasm', threads: 1, parallelFromParams: 0 },
  'sumsq kernel on a 3-thread pool': { kernels: 'wasm', threads: 3, parallelFromParams: 0 },
};
/**
 * Every remainder mod 16 (the kernel's sixteen floats a turn and its scalar tail),
 * lengths that are no multiple of 4, and tensors of one, two and several pool chunks.
 */
const SIZES = [...Array.from({ length: 17 }, (_, i) => i + 1), 31, 33, 4099, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 3, 3 * CHUNK + 29];
const FLT_MAX = 3.4028234663852886e38;
const U = 2 ** -53;

interface NormCase {
  engine: ApplyEngine;
  /** One array per tensor, in the engine's arena. */
  gradient: Float32Array[];
}

/**
 * An engine over a gradient of tensors of `sizes`, each followed by a fence of NaNs: a
 * kernel that read past a tensor's end would return NaN.
 */
function normCase(settings: ApplySettings, sizes: readonly number[]): NormCase {
  const total = sizes.reduce((a, b) => a + b, 0);
  const engine = createApplyEngine(settings, sizes.flatMap((n) => [n, 16]), sizes.length, total);
  const gradient = sizes.map((n) => {
    const g = engine.alloc(n);
    engine.alloc(16).fill(NaN);
    return g;
  });
  return { engine, gradient };
}

/** Fills every tensor of the gradient from `value(rand)`. */
function fill(gradient: readonly Float32Array[], seed: number, value: (rand: () => number) => number): void {
  const rand = seededRandom(seed);
  for (const g of gradient) for (let i = 0; i < g.length; i++) g[i] = value(rand);
}

/** Gradient-like values spread over ten decades, either sign. */
const varied = (rand: () => number) => (rand() - 0.5) * 10 ** (rand() * 10 - 8);
/** Values near FLT_MAX: every square overflows float32, none overflows float64. */
const huge = (rand: () => number) => (rand() < 0.5 ? -1 : 1) * FLT_MAX * (0.5 + rand() / 2);
/** Magnitudes from float32's subnormals to FLT_MAX. */
const extreme = (rand: () => number) => (rand() < 0.5 ? -1 : 1) * Math.fround(2 ** (rand() * 276 - 149));

/** The sum of squares, compensated (Neumaier): within 2·2⁻⁵³ of exact, since each float32's square is exact in float64. */
function referenceSumsq(gradient: readonly Float32Array[]): number {
  let sum = 0;
  let carry = 0;
  for (const g of gradient) {
    for (const x of g) {
      const sq = x * x;
      const next = sum + sq;
      carry += Math.abs(sum) >= sq ? sum - next + sq : sq - next + sum;
      sum = next;
    }
  }
  return sum + carry;
}

/**
 * The documented bound on the relative error of the sum of squares (apply-engine.ts):
 * the reference loop adds n terms in sequence; the kernel at most CHUNK/8 + 18 within a
 * chunk, then one per chunk.
 */
function sumsqBound(engine: ApplyEngine, sizes: readonly number[]): number {
  const n = sizes.reduce((a, b) => a + b, 0);
  const chunks = sizes.reduce((c, s) => c + Math.ceil(s / CHUNK), 0);
  return (engine.kernels === 'js' ? n : CHUNK / 8 + 18 + chunks) * U;
}

/** The norm against the reference: half the sum's relative error, plus the two square roots' and the reference's rounding. */
function expectAccurate(c: NormCase, sizes: readonly number[]): void {
  const norm = c.engine.norm(c.gradient);
  const reference = Math.sqrt(referenceSumsq(c.gradient));
  expect(Number.isFinite(reference) && reference > 0).toBe(true);
  const relative = Math.abs(norm - reference) / reference;
  expect(relative).toBeLessThanOrEqual(sumsqBound(c.engine, sizes) / 2 + 4 * U);
}

/** Positions (tensor, element) where one bad value must show: each tensor's first, middle and last, each chunk's first and last. */
function positions(sizes: readonly number[]): [number, number][] {
  const at = new Set<string>();
  sizes.forEach((n, t) => {
    for (const i of [0, n >> 1, n - 1]) at.add(`${t}:${i}`);
    for (let start = 0; start < n; start += CHUNK) for (const i of [start, Math.min(start + CHUNK, n) - 1]) at.add(`${t}:${i}`);
  });
  return [...at].map((s) => s.split(':').map(Number) as [number, number]);
}

describe('gradient norm', () => {
  const engines: ApplyEngine[] = [];
  afterAll(() => engines.forEach((e) => e.dispose()));
  const make = (settings: ApplySettings, sizes: readonly number[]) => {
    const c = normCase(settings, sizes);
    engines.push(c.engine);
    expect([c.engine.kernels, c.engine.threads]).toEqual([settings.kernels, settings.threads]);
    return c;
  };

  for (const [label, settings] of Object.entries(ENGINES)) {
    it(`${label}: within its documented error of the float64 reference, on varied, near-FLT_MAX and extreme values`, () => {
      const c = make(settings, SIZES);
      for (const [seed, value] of [varied, huge, extreme].entries()) {
        fill(c.gradient, seed + 1, value);
        expectAccurate(c, SIZES);
      }
      // Squares of 1e19 and more overflow float32: finite in float64, and the norm is too.
      fill(c.gradient, 9, huge);
      expect(Number.isFinite(c.engine.norm(c.gradient))).toBe(true);
    });

    it(`${label}: one NaN, +Infinity or −Infinity in any position makes the norm NaN or +Infinity`, () => {
      const c = make(settings, SIZES);
      fill(c.gradient, 5, huge); // finite, with squares past float32: an overflowing sum would call them infinite too
      let checked = 0;
      for (const [t, i] of positions(SIZES)) {
        const s = c.gradient[t]!;
        const kept = s[i]!;
        for (const [bad, expected] of [
          [NaN, NaN],
          [Infinity, Infinity],
          [-Infinity, Infinity],
        ]) {
          s[i] = bad!;
          expect(c.engine.norm(c.gradient), `${bad} at tensor ${t} (${s.length}) element ${i}`).toBe(expected);
          checked += 1;
        }
        s[i] = kept;
        expect(Number.isFinite(c.engine.norm(c.gradient))).toBe(true);
      }
      expect(checked).toBeGreaterThan(3 * 3 * SIZES.length);
      // NaN wins over an infinity elsewhere: still non-finite, as the gate needs.
      c.gradient[0]![0] = Infinity;
      c.gradient.at(-1)![5] = NaN;
      expect(c.engine.norm(c.gradient)).toBeNaN();
    });
  }

  it('4M parameters: every engine within its documented error', () => {
    const sizes = [4_000_000 + 13, 4107, 5]; // tails of 13, 11 and 5 elements
    const rand = seededRandom(11);
    const gradient = sizes.map((n) => Float32Array.from({ length: n }, () => varied(rand)));
    for (const settings of Object.values(ENGINES)) {
      const c = make(settings, sizes);
      c.gradient.forEach((g, i) => g.set(gradient[i]!));
      expectAccurate(c, sizes);
      c.engine.dispose();
    }
  });

  it('the pool adds its threads’ chunk sums in chunk order: exactly the one-thread norm', () => {
    const one = make(ENGINES['sumsq kernel, one thread']!, SIZES);
    const pooled = make(ENGINES['sumsq kernel on a 3-thread pool']!, SIZES);
    for (const [seed, value] of [varied, huge, extreme].entries()) {
      fill(one.gradient, seed + 20, value);
      fill(pooled.gradient, seed + 20, value);
      for (let round = 0; round < 3; round++) expect(pooled.engine.norm(pooled.gradient)).toBe(one.engine.norm(one.gradient));
    }
  });
});
