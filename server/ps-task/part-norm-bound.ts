/**
 * The norm bound on a split job's stage parts at one ps task (a whole push's slices go
 * through the task's GradientGate instead). A stage's part here is its tensors' slices
 * on this task, which are contiguous in the task's order (a stage is a contiguous run
 * of the model's tensors, and a task keeps its slices in the model's order): it is
 * judged against the bound of that range of slices, as the in-process gate judges a
 * stage's part against its range of tensors (range-norm-bounds.ts). Within: held as
 * sent; an early transient of a warm worker: scaled down to the bound in place, then
 * held; otherwise refused (NORM_OUTLIER) and nothing is held.
 *
 * Why judging each task's part alone is enough: the parts a push has on the tasks are
 * disjoint, so a push accepted everywhere has a norm of at most factor × sqrt(Σ each
 * task's median²); scaling a gradient and spreading it over tasks gains nothing.
 */
import type { Failure } from '../../shared/result.js';
import { createLogger } from '../logger.js';
import { RangeNormBounds } from '../params/range-norm-bounds.js';
import type { ReferenceNorms } from '../params/reference-norms.js';
import type { StagePart } from './stage-part.js';

const log = createLogger('norm-bound');

export class PartNormBound {
  private readonly bounds: RangeNormBounds;

  /** `factor` ≤ 0: off; `batches`: mini-batches a part sums (norms are judged per batch); `reference`: the PS's norms per slice of this task, or null. */
  constructor(
    private readonly factor: number,
    private readonly batches: number,
    reference: ReferenceNorms | null,
  ) {
    this.bounds = new RangeNormBounds(factor, reference);
  }

  /** Null when `worker`'s part may be held (scaled down to the bound in place if it was clipped); the refusal otherwise. */
  judge(worker: string, part: StagePart): Failure | null {
    if (this.factor <= 0) return null;
    let squares = 0;
    for (const v of part.values) for (let i = 0; i < v.length; i++) squares += v[i]! * v[i]!;
    const perBatch = Math.sqrt(squares) / this.batches;
    const bound = this.bounds.of(part.slices[0]!, part.slices[part.slices.length - 1]! + 1);
    const verdict = bound.judge(perBatch, worker);
    if (verdict && 'ok' in verdict) return verdict;
    if (verdict) {
      for (const v of part.values) for (let i = 0; i < v.length; i++) v[i]! *= verdict.clip;
      log.info('stage part clipped to the norm bound', { worker, normPerBatch: +perBatch.toPrecision(3), scale: +verdict.clip.toPrecision(3) });
    }
    bound.record(worker, perBatch, verdict !== null);
    return null;
  }

  /** A worker left the job: its samples and runs go from every range. */
  forget(worker: string): void {
    this.bounds.forget(worker);
  }

  /** The PS's own norms per slice of this task at recent parameters: every range's reference from now on. */
  setReference(norms: ReferenceNorms): void {
    this.bounds.setReference(norms);
  }
}
