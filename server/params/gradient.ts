/**
 * A gradient as a value: what the gradient gate hands the consistency mode, and the
 * mode the parameter store. One Float32Array per tensor, in the store's tensor order.
 */

export interface Gradient {
  /** views[k] is tensor k's gradient, as long as the tensor. */
  readonly views: readonly Float32Array[];
}

/**
 * A pushed gradient the gate decoded and passed. Its views are the store's gradient
 * buffer (ParameterStore.gradientBuffer), so that applying it copies nothing: it is
 * valid until that buffer is written again (the gate's next check, a round's
 * aggregate). A mode that keeps a gradient longer (a sync round) copies it.
 */
export interface DecodedGradient extends Gradient {
  /** L2 norm of the whole gradient (finite: the gate refused anything else). */
  readonly norm: number;
  /** Mini-batches summed into it, as the coordinator counts them (the lease's). */
  readonly batches: number;
  /** The factor it was scaled by down to the norm bound (server/params/norm-bound.ts), or null: as pushed; a replica step's: its smallest stage's. */
  readonly clipped: number | null;
  /** A replica step's: each stage part's factor (null: as pushed); null for a whole model's push. */
  readonly stageClips: readonly (number | null)[] | null;
}
