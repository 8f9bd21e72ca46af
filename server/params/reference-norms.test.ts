import { describe, expect, it } from 'vitest';
import { ReferenceNorms, tensorSquares } from './reference-norms.js';

describe('reference norms per range of tensors', () => {
  // Three mini-batches of three tensors: each row holds each tensor's sum of squares.
  const norms = new ReferenceNorms([
    [9, 16, 0],
    [1, 0, 100],
    [4, 5, 16],
  ]);

  it('take the lower median over the mini-batches of the range’s own norm, not a slice of the whole', () => {
    // Whole model: 5, 10.05, 5 → median 5.
    expect(norms.normOf(0, 3)).toBe(5);
    // First tensor alone: 3, 1, 2 → 2; the last alone: 0, 10, 4 → 4 (the whole's median batch has 0 there).
    expect(norms.normOf(0, 1)).toBe(2);
    expect(norms.normOf(2, 3)).toBe(4);
    // An even count of batches takes the lower of the two middle ones, as the norm bound's median does.
    expect(new ReferenceNorms([[4], [16]]).normOf(0, 1)).toBe(2);
    expect(norms.normOf(1, 1)).toBe(0);
  });

  it('are built from a mini-batch’s gradients, tensor by tensor', () => {
    expect(tensorSquares([new Float32Array([3, 4]), new Float32Array([1])])).toEqual([25, 1]);
    expect(() => new ReferenceNorms([])).toThrow(RangeError);
  });
});
