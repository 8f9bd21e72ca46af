import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../shared/seeded-random.js';
import { aggregateInto, trimCount, type AggregationRule } from './robust-aggregation.js';

const f32 = (xs: number[]) => Float32Array.from(xs);
const MEDIAN: AggregationRule = { aggregation: 'median', trimFraction: 0 };
const trimmed = (trimFraction: number): AggregationRule => ({ aggregation: 'trimmed-mean', trimFraction });

function aggregate(inputs: Float32Array[], rule: AggregationRule): number[] {
  const out = new Float32Array(inputs[0]!.length).fill(NaN);
  aggregateInto(out, inputs, inputs.length, rule, new Float32Array(inputs.length));
  return [...out];
}

// Three coordinates; the third has ties.
const A = f32([1, 10, -2]);
const B = f32([3, -4, -2]);
const C = f32([2, 0, 7]);
const D = f32([4, 1, 7]);
const E = f32([100, 2, 0.5]);

describe('trimCount', () => {
  it('drops floor(fraction · n) from each end and always leaves one value', () => {
    expect(trimCount(8, 0.25)).toBe(2);
    expect(trimCount(5, 0.25)).toBe(1);
    expect(trimCount(3, 0.25)).toBe(0);
    expect(trimCount(100, 0.49)).toBe(49);
    expect(trimCount(1, 0.49)).toBe(0);
    expect(trimCount(4, 0)).toBe(0);
    // Out-of-spec fractions are clamped so that n − 2t ≥ 1.
    expect(trimCount(4, 0.5)).toBe(1);
    expect(trimCount(3, 0.9)).toBe(1);
  });
});

describe('coordinate-wise median', () => {
  it('takes the middle value of an odd round, ties included', () => {
    expect(aggregate([A, B, C], MEDIAN)).toEqual([2, 0, -2]);
  });

  it('averages the two middle values of an even round', () => {
    // Columns sorted: [1,2,3,4], [-4,0,1,10], [-2,-2,7,7].
    expect(aggregate([A, B, C, D], MEDIAN)).toEqual([2.5, 0.5, 2.5]);
  });

  it('of one gradient is that gradient, of two their mean', () => {
    expect(aggregate([A], MEDIAN)).toEqual([1, 10, -2]);
    expect(aggregate([A, B], MEDIAN)).toEqual([2, 3, -2]);
  });
});

describe('coordinate-wise trimmed mean', () => {
  it('drops t values from each end and averages the rest', () => {
    // n = 5, t = floor(0.25 · 5) = 1. Columns sorted: [1,2,3,4,100], [-4,0,1,2,10], [-2,-2,0.5,7,7].
    const r = aggregate([A, B, C, D, E], trimmed(0.25));
    expect(r[0]).toBeCloseTo(3, 6);
    expect(r[1]).toBeCloseTo(1, 6);
    expect(r[2]).toBeCloseTo(5.5 / 3, 6);
  });

  it('with trimFraction 0, or too few gradients to trim, is the mean', () => {
    const inputs = [A, B, C, D, E];
    const mean = [0, 1, 2].map((i) => inputs.reduce((s, g) => s + g[i]!, 0) / inputs.length);
    const r = aggregate(inputs, trimmed(0));
    for (let i = 0; i < 3; i++) expect(r[i]).toBeCloseTo(mean[i]!, 5);
    expect(aggregate([A, B, C], trimmed(0.3))).toEqual(aggregate([A, B, C], { aggregation: 'mean', trimFraction: 0 })); // t = floor(0.9) = 0
  });
});

describe('Byzantine gradients among honest ones', () => {
  const SIZE = 2000;
  /** Six honest gradients: a shared direction in [0.5, 1] plus per-worker noise of ±0.05. */
  function honestRound(seed: number): Float32Array[] {
    const rnd = seededRandom(seed);
    const truth = Float32Array.from({ length: SIZE }, () => 0.5 + 0.5 * rnd());
    return Array.from({ length: 6 }, () => truth.map((v) => v + (rnd() - 0.5) * 0.1));
  }
  /** Every coordinate of `out` within the honest values' range for that coordinate. */
  function withinHonestRange(out: Float32Array, honest: Float32Array[]): boolean {
    for (let i = 0; i < out.length; i++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (const g of honest) {
        lo = Math.min(lo, g[i]!);
        hi = Math.max(hi, g[i]!);
      }
      if (out[i]! < lo || out[i]! > hi) return false;
    }
    return true;
  }

  for (const rule of [MEDIAN, trimmed(0.25)]) {
    it(`${rule.aggregation}: a 100× gradient and a sign-flipped one do not move the result out of the honest range`, () => {
      const honest = honestRound(7);
      const scaled = honest[0]!.map((v) => v * 100);
      const flipped = honest[1]!.map((v) => -v);
      const inputs = [scaled, ...honest, flipped]; // n = 8, t = 2
      const out = new Float32Array(SIZE);
      const column = new Float32Array(8);
      aggregateInto(out, inputs, 8, rule, column);
      expect(withinHonestRange(out, honest)).toBe(true);
      // The mean of the same round is dragged far outside it: the test can tell the rules apart.
      aggregateInto(out, inputs, 8, { aggregation: 'mean', trimFraction: 0 }, column);
      expect(withinHonestRange(out, honest)).toBe(false);
    });
  }

  it('leaves the inputs as they were', () => {
    const honest = honestRound(3);
    const copies = honest.map((g) => g.slice());
    aggregateInto(new Float32Array(SIZE), honest, honest.length, MEDIAN, new Float32Array(6));
    expect(honest).toEqual(copies);
  });
});

describe('large rounds (native sort)', () => {
  it('agree with a reference computed by Array.prototype.sort', () => {
    const rnd = seededRandom(11);
    for (const n of [31, 32, 33, 41, 64]) {
      const inputs = Array.from({ length: n }, () => Float32Array.from({ length: 50 }, () => (rnd() - 0.5) * 10));
      const median = new Float32Array(50);
      const trim = new Float32Array(50);
      const column = new Float32Array(n + 3); // longer than needed: only n values are sorted
      aggregateInto(median, inputs, n, MEDIAN, column);
      aggregateInto(trim, inputs, n, trimmed(0.25), column);
      const t = Math.floor(0.25 * n);
      for (let i = 0; i < 50; i++) {
        const col = inputs.map((g) => g[i]!).sort((a, b) => a - b);
        const m = n % 2 ? col[(n - 1) / 2]! : (col[n / 2 - 1]! + col[n / 2]!) / 2;
        expect(median[i], `n ${n}, coordinate ${i}`).toBe(Math.fround(m));
        const kept = col.slice(t, n - t);
        expect(trim[i]).toBeCloseTo(kept.reduce((s, v) => s + v, 0) / kept.length, 5);
      }
    }
  });
});

describe('argument checks', () => {
  it('refuses an empty round and a column scratch shorter than the round', () => {
    expect(() => aggregateInto(new Float32Array(3), [A], 0, MEDIAN, new Float32Array(1))).toThrow(/1\.\.1 inputs, got 0/);
    expect(() => aggregateInto(new Float32Array(3), [A, B, C], 3, MEDIAN, new Float32Array(2))).toThrow(/column scratch/);
  });
});
