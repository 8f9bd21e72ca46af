/**
 * The parameter server's own gradient norms per mini-batch, kept per tensor so that the
 * norm bound has a reference for any contiguous range of the job's tensors: the whole
 * model for a data-parallel push, one stage's tensors for a stage's part of a replica
 * step (a split job's replicas may cut the model at different layers, so the ranges are
 * known only as stage parts arrive). The norm of a range is the lower median, over the
 * mini-batches, of that range's norm in each: over the whole model it is exactly the
 * norm per batch the bound took before it kept tensors apart.
 *
 * A job on ps tasks keeps them per placed slice instead (a tensor's row partition, or
 * the tensor when it is whole: `pieceSquares`), so that each task gets the columns of
 * its own slices (`columns`) and judges its part of a push against them.
 */
export class ReferenceNorms {
  /** `squares[b][k]`: the sum of squares of tensor k's gradient in mini-batch b; at least one batch, every one as long as the tensors. */
  constructor(private readonly squares: readonly (readonly number[])[]) {
    if (squares.length === 0) throw new RangeError('A reference needs at least one mini-batch');
  }

  /** The tensors it covers. */
  get tensors(): number {
    return this.squares[0]!.length;
  }

  /** Every mini-batch's sums of squares of the pieces at `indices`, in that order (a ps task's slices); rows evenly thinned to at most `maxRows`. */
  columns(indices: readonly number[], maxRows = Number.POSITIVE_INFINITY): number[][] {
    const step = Math.max(1, Math.ceil(this.squares.length / maxRows));
    const rows: number[][] = [];
    for (let b = 0; b < this.squares.length; b += step) rows.push(indices.map((k) => this.squares[b]![k]!));
    return rows;
  }

  /** The lower median over the mini-batches of the norm of tensors [from, to). */
  normOf(from: number, to: number): number {
    const norms = this.squares.map((batch) => {
      let sum = 0;
      for (let k = from; k < to; k++) sum += batch[k]!;
      return Math.sqrt(sum);
    });
    norms.sort((a, b) => a - b);
    return norms[(norms.length - 1) >> 1]!;
  }
}

/** Each tensor's sum of squares: one mini-batch's row of a ReferenceNorms. */
export function tensorSquares(grads: readonly ArrayLike<number>[]): number[] {
  return grads.map((g) => {
    let sq = 0;
    for (let i = 0; i < g.length; i++) sq += g[i]! * g[i]!;
    return sq;
  });
}

/** A contiguous run of one tensor's elements: a ps task's slice (a row partition, or the whole tensor). */
export interface TensorPiece {
  tensor: number;
  /** First element within the flat tensor. */
  offset: number;
  length: number;
}

/** Each piece's sum of squares (`pieces` absent: each tensor whole), one mini-batch's row of a ReferenceNorms. */
export function pieceSquares(grads: readonly ArrayLike<number>[], pieces?: readonly TensorPiece[]): number[] {
  if (!pieces) return tensorSquares(grads);
  return pieces.map(({ tensor, offset, length }) => {
    const g = grads[tensor]!;
    let sq = 0;
    for (let i = offset; i < offset + length; i++) sq += g[i]! * g[i]!;
    return sq;
  });
}
