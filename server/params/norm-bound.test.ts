import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { NormBound } from './norm-bound.js';

describe('norm bound', () => {
  it('refuses a 100× push from the very first one when seeded with the PS\'s own gradient norm', () => {
    const b = new NormBound(10, 2.0);
    expect(b.admit(200)?.code).toBe(ErrorCode.NORM_OUTLIER);
    expect(b.admit(1.8)).toBeNull();
  });

  it('keeps an honest reference while fewer than half of the pushes are hostile', () => {
    const b = new NormBound(10, 1);
    for (let i = 0; i < 200; i++) {
      const hostile = i % 4 === 0;
      const r = b.admit(hostile ? 100 : 1 + (i % 3) * 0.1);
      expect(r === null, `push ${i}`).toBe(!hostile);
    }
  });

  it('follows honest norms as they shrink during training', () => {
    const b = new NormBound(10, 5);
    for (let i = 0; i < 300; i++) expect(b.admit(5 * Math.pow(0.99, i))).toBeNull();
    expect(b.admit(5)?.code).toBe(ErrorCode.NORM_OUTLIER); // the start-of-training norm is now an outlier
  });

  it('is off with factor 0', () => {
    expect(new NormBound(0, 1).admit(1e9)).toBeNull();
  });
});
