/**
 * The norm bound of a job, one NormBound (norm-bound.ts) per contiguous range of its
 * tensors: the whole model for a data-parallel push, each stage's tensors for a stage's
 * part of a replica step. A stage's part is judged against its own tensors' history (the
 * latest norms its range's workers pushed, the PS's own norm of those tensors), never
 * against the whole model's: a part 100× its honest size can hide in a joined gradient
 * whose other stage holds most of the norm, and a whole-gradient verdict cannot say
 * which stage's part it was. Replicas planned at different speeds may cut the model at
 * different layers, so a range's bound is made when its first part arrives.
 */
import { NormBound } from './norm-bound.js';
import type { ReferenceNorms } from './reference-norms.js';

interface RangeBound {
  from: number;
  to: number;
  bound: NormBound;
}

export class RangeNormBounds {
  private readonly bounds = new Map<string, RangeBound>();

  /** `factor` ≤ 0 disables every bound; `reference`: the PS's own norms per tensor, or null when there are none (local mode). */
  constructor(
    private readonly factor: number,
    private reference: ReferenceNorms | null,
  ) {}

  /** The bound of tensors [from, to), its reference the PS's norm of those tensors. */
  of(from: number, to: number): NormBound {
    const key = `${from}:${to}`;
    let r = this.bounds.get(key);
    if (!r) this.bounds.set(key, (r = { from, to, bound: new NormBound(this.factor, this.reference?.normOf(from, to) ?? null) }));
    return r.bound;
  }

  /** The PS's norms at recent parameters: every range's reference from now on. */
  setReference(norms: ReferenceNorms): void {
    this.reference = norms;
    for (const r of this.bounds.values()) r.bound.setReference(norms.normOf(r.from, r.to));
  }

  /** A worker left: its samples and runs go from every range. */
  forget(workerId: string): void {
    for (const r of this.bounds.values()) r.bound.forget(workerId);
  }
}
