import { expect, it } from 'vitest';
import { smooth } from './smoothing.js';

it('is the identity at weight 0 and a debiased moving average above it', () => {
  expect(smooth([1, 2, null, 4], 0)).toEqual([1, 2, null, 4]);
  const s = smooth([1, 3], 0.5);
  // m1 = 0.5, debiased 0.5 / 0.5 = 1; m2 = 0.25 + 1.5 = 1.75, debiased 1.75 / 0.75.
  expect(s[0]).toBe(1);
  expect(s[1]).toBeCloseTo(1.75 / 0.75, 12);
  expect(smooth([5, 5, 5], 0.9).every((v) => Math.abs(v! - 5) < 1e-12)).toBe(true);
  expect(smooth([1, null, 3], 0.5)).toEqual([1, null, expect.closeTo(1.75 / 0.75, 12)]);
});
