import { describe, expect, it } from 'vitest';
import { pieceSquares, ReferenceNorms, tensorSquares } from './reference-norms.js';

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

  it('are kept per ps task slice when pieces are named (a row partition from its own rows), and give a task its columns', () => {
    // A 2×2 tensor cut into its two rows, and a whole vector.
    const grads = [new Float32Array([1, 2, 3, 4]), new Float32Array([5])];
    const pieces = [
      { tensor: 0, offset: 0, length: 2 },
      { tensor: 0, offset: 2, length: 2 },
      { tensor: 1, offset: 0, length: 1 },
    ];
    expect(pieceSquares(grads, pieces)).toEqual([5, 25, 25]);
    expect(pieceSquares(grads)).toEqual(tensorSquares(grads));
    // A task holding pieces 0 and 2: its columns, in its order; rows thinned evenly to at most 2.
    expect(norms.columns([0, 2])).toEqual([[9, 0], [1, 100], [4, 16]]);
    expect(norms.columns([2], 2)).toEqual([[0], [16]]);
  });
});
