/**
 * The parameter server's own gradient norms per mini-batch, kept per tensor so that the
 * norm bound has a reference for any contiguous range of the job's tensors: the whole
 * model for a data-parallel push, one stage's tensors for a stage's part of a replica
 * step (a split job's replicas may cut the model at different layers, so the ranges are
 * known only as stage parts arrive). The norm of a range is the lower median, over the
 * mini-batches, of that range's norm in each: over the whole model it is exactly the
 * norm per batch the bound took before it kept tensors apart.
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
