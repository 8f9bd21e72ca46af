import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../shared/seeded-random.js';
import { createKrumScratch, krumDropCount, multiKrumSelect } from './multi-krum.js';
import { aggregateInto } from './robust-aggregation.js';

const SIZE = 4000;
/** Three times the truth's spread per coordinate (uniform in ±0.1: std 0.058). */
const NOISE_STD = 0.17;

/** Honest gradients as mini-batches give them: a small shared direction under per-worker noise three times its size. */
function honestRound(seed: number, n: number): { truth: Float32Array; honest: Float32Array[] } {
  const rnd = seededRandom(seed);
  const truth = Float32Array.from({ length: SIZE }, () => (rnd() - 0.5) * 0.2);
  const noise = () => (rnd() - 0.5) * 2 * Math.sqrt(3) * NOISE_STD;
  return { truth, honest: Array.from({ length: n }, () => truth.map((v) => v + noise())) };
}

/** The round as the round buffers hold it: tensors split in two, each a list of slots. */
function asTensors(gradients: Float32Array[]): Float32Array[][] {
  const cut = 1500;
  return [gradients.map((g) => g.subarray(0, cut)), gradients.map((g) => g.subarray(cut))];
}

function keptOf(gradients: Float32Array[], f: number): number[] {
  const kept = new Uint8Array(gradients.length);
  multiKrumSelect(asTensors(gradients), gradients.length, f, createKrumScratch(gradients.length + 2), kept);
  return [...kept].flatMap((k, i) => (k ? [i] : []));
}

describe('Multi-Krum', () => {
  it('drops f = floor(fraction · n), capped so that n > 2f + 2', () => {
    expect([1, 2, 3, 4].map((n) => krumDropCount(n, 0.25))).toEqual([0, 0, 0, 0]);
    expect(krumDropCount(5, 0.25)).toBe(1);
    expect(krumDropCount(8, 0.25)).toBe(2);
    expect(krumDropCount(8, 0.49)).toBe(2); // 3 would need n > 8
    expect(krumDropCount(9, 0.49)).toBe(3);
    expect(krumDropCount(16, 0.25)).toBe(4);
    expect(krumDropCount(8, 0)).toBe(0);
  });

  it('keeps exactly the six honest gradients when two of eight are sign-flipped', () => {
    const { honest } = honestRound(5, 6);
    const extra = honestRound(6, 2).honest; // the attackers' own mini-batches, then flipped
    const flipped = extra.map((g) => g.map((v) => -v));
    const round = [flipped[0]!, ...honest.slice(0, 3), flipped[1]!, ...honest.slice(3)];
    expect(keptOf(round, 2)).toEqual([1, 2, 3, 5, 6, 7]);
  });

  it('keeps the sign-flipped gradients out where the coordinate-wise trimmed mean shrinks the step by a quarter', () => {
    const { truth, honest } = honestRound(8, 6);
    const flipped = honestRound(9, 2).honest.map((g) => g.map((v) => -v));
    const round = [...honest, ...flipped];
    const kept = keptOf(round, 2);
    const krum = truth.map((_, i) => kept.reduce((s, k) => s + round[k]![i]!, 0) / kept.length);
    const trimmed = new Float32Array(SIZE);
    aggregateInto(trimmed, round, 8, { aggregation: 'trimmed-mean', trimFraction: 0.25 }, new Float32Array(8));
    // Projection onto the true direction, relative to the truth's own norm: 1 is unbiased.
    const along = (g: ArrayLike<number>) => Array.from(truth).reduce((s, v, i) => s + v * g[i]!, 0) / truth.reduce((s, v) => s + v * v, 0);
    expect(along(krum)).toBeGreaterThan(0.9); // 0.99 here
    expect(along(trimmed)).toBeLessThan(0.85); // 0.75 here: the flipped values sit inside the noise and pull every coordinate back
  });

  it('keeps a 100×-scaled gradient out, and keeps everything when f = 0', () => {
    const { honest } = honestRound(12, 5);
    const round = [...honest.slice(0, 2), honest[2]!.map((v) => v * 100), ...honest.slice(3)];
    expect(keptOf(round, 1)).toEqual([0, 1, 3, 4]);
    expect(keptOf(round, 0)).toEqual([0, 1, 2, 3, 4]);
  });

  it('refuses a round larger than its scratch, and the coordinate path refuses multi-krum', () => {
    const { honest } = honestRound(1, 4);
    expect(() => multiKrumSelect(asTensors(honest), 4, 1, createKrumScratch(3), new Uint8Array(4))).toThrow(/scratch for 3/);
    expect(() => aggregateInto(new Float32Array(SIZE), honest, 4, { aggregation: 'multi-krum', trimFraction: 0.25 }, new Float32Array(4))).toThrow(/whole gradients/);
  });
});
