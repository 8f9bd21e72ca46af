/**
 * Byzantine defence for asynchronous mode: a gradient whose norm per mini-batch is far
 * above the median of the job's recent accepted pushes is refused, so a worker pushing
 * 100×-scaled gradients cannot blow the parameters up (nor, with Adagrad, inflate the
 * accumulators and stall learning for good). Refusing (not clipping) keeps the rule
 * simple to reason about and shows up in the rejection counters.
 *
 * What shapes the median, and why:
 * - Only pushes that passed every check (`record`, called last): refused norms never
 *   enter it, so refused 10,000× pushes cannot raise the bound for the next ones.
 * - One sample per worker, its latest, from the `window` workers that pushed most
 *   recently: a worker pushing tiny (or huge) gradients fast cannot fill the window and
 *   drag the median, whatever its rate. The lower median of n workers' samples is an
 *   honest norm while fewer than half of them are hostile.
 * - While fewer than MIN_WORKERS workers have samples, the PS's own gradient norm per
 *   mini-batch alone is the median: at the initial parameters
 *   (server/jobs/reference-gradient.ts) until the PS has taken it at a recent snapshot
 *   (trusted-snapshots.ts, `setReference`), so that it follows the model. Taken once
 *   at the start, a lone honest worker whose gradients grow as training gets going (a
 *   CNN's: 0.6 to 10 within seconds) was barred by a bound stuck at 10 × 0.6. Alone,
 *   not beside the few workers' samples: a lone honest worker's single-batch norms jump
 *   fivefold from one push to the next early in training (measured: 1.4 then 7.2), and
 *   the lower median of {its last, the reference} (the smaller) would refuse such a
 *   jump; and a lone worker's ramp (every push just under factor × its own last) cannot
 *   move a median its samples are not part of.
 * The batch count the norm is divided by is the coordinator's (the lease's batches),
 * never the worker's claim. Sign-flipped gradients have honest norms and pass (the
 * direction check, direction-check.ts, is the defence against them).
 */
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';

/** Distinct workers whose latest samples the median is taken over. */
export const NORM_WINDOW_WORKERS = 101;
/** Below this many workers with samples, the reference norm (when there is one) is the median. */
export const MIN_WORKERS = 3;

export class NormBound {
  /** Each worker's latest accepted norm per batch, least recently pushed first (Map order). */
  private readonly latest = new Map<string, number>();
  private readonly values = new Float64Array(NORM_WINDOW_WORKERS + 1);
  private reference: number | null;

  /**
   * `factor` ≤ 0 disables the bound. `reference`: a norm known to be honest (the PS's
   * own gradient at the initial parameters), or null when there is none (local mode's
   * deltas): then the bound holds once a worker has a sample.
   */
  constructor(
    private readonly factor: number,
    reference: number | null = null,
    private readonly window = NORM_WINDOW_WORKERS,
  ) {
    this.reference = usable(reference);
    if (window < 1 || window > NORM_WINDOW_WORKERS) throw new RangeError(`window must be in [1, ${NORM_WINDOW_WORKERS}], got ${window}`);
  }

  /**
   * The PS's norm per batch at recent parameters replaces the reference: one assignment,
   * between pushes. A norm that is not finite and positive leaves the last one.
   */
  setReference(norm: number): void {
    this.reference = usable(norm) ?? this.reference;
  }

  /** The bound's reference now: the lower median of the samples (the reference norm instead while few workers have one); null before any. */
  get median(): number | null {
    if (this.reference !== null && this.latest.size < MIN_WORKERS) return this.reference;
    let n = 0;
    for (const v of this.latest.values()) this.values[n++] = v;
    if (n === 0) return null;
    const sorted = this.values.subarray(0, n).sort();
    return sorted[(n - 1) >> 1]!;
  }

  /** Refuses a norm per batch above factor × the median; records nothing. */
  judge(normPerBatch: number): Failure | null {
    if (this.factor <= 0) return null;
    const median = this.median;
    if (median === null || normPerBatch <= median * this.factor) return null;
    return fail(ErrorCode.NORM_OUTLIER, `Gradient norm ${normPerBatch.toPrecision(3)} per batch is above ${this.factor}× the recent median (${median.toPrecision(3)})`);
  }

  /** The norm of `workerId`'s push that passed every check becomes that worker's sample. */
  record(workerId: string, normPerBatch: number): void {
    this.latest.delete(workerId);
    this.latest.set(workerId, normPerBatch);
    if (this.latest.size > this.window) this.latest.delete(this.latest.keys().next().value!);
  }

  /** A worker left: its sample goes, so that departed workers cannot outvote the ones training. */
  forget(workerId: string): void {
    this.latest.delete(workerId);
  }
}

function usable(norm: number | null): number | null {
  return norm !== null && Number.isFinite(norm) && norm > 0 ? norm : null;
}
