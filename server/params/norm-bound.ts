/**
 * Byzantine defence for asynchronous mode: a gradient whose norm per mini-batch is far
 * above the median of the job's recent accepted pushes is refused, so a worker pushing
 * 100×-scaled gradients cannot blow the parameters up (nor, with Adagrad, inflate the
 * accumulators and stall learning for good). It is refused (a fault toward its worker's
 * bar, in the rejection counters), except for the early transients below, clipped.
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
 *
 * Early transients are clipped, not refused: an honest worker's gradient can jump past
 * the bound for a push or two early in training (the cnn in 2 stages, one step stale:
 * 11.0 then 7.0 per batch against a bound of 6.4, back to ~1.6 after; refused, the
 * parameters never moved past it and the same push came back over the bound until its
 * worker was barred). A warm worker (WARM_PUSHES pushes within the bound) may have an
 * over-bound push scaled down to the bound while at most MAX_CLIPS of any CLIP_WINDOW
 * pushes it has had accepted in a row are clipped: 3 in a row, then 4 within the bound
 * before the next, as a run of clips; but also a transient that swings over, under and
 * over the bound again (measured: the cnn's stage 0 at three steps in flight, clipped at
 * step 17, within at 18, over at 19, which a rule of "4 within after any clip" refused).
 * Any other over-bound push is refused as before, so a worker always over the bound (a
 * 100× attacker from its first push, or after its clips) is refused and barred. Safe because
 * a clipped push weighs exactly what the largest push accepted unclipped does (factor ×
 * the median, which anyone may push at any time) and its norm never enters the median:
 * what an attacker gains is a few pushes at the bound not counted as faults, nothing it
 * could not get by scaling its gradient to just under the bound itself.
 */
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';

/** Distinct workers whose latest samples the median is taken over. */
export const NORM_WINDOW_WORKERS = 101;
/** Below this many workers with samples, the reference norm (when there is one) is the median. */
export const MIN_WORKERS = 3;
/** Pushes within the bound in a row after which a worker's next over-bound pushes are clipped rather than refused. */
export const WARM_PUSHES = 4;
/** Clipped pushes a worker may have among any CLIP_WINDOW of its accepted pushes in a row; an over-bound push past that is refused. */
export const MAX_CLIPS = 3;
/** The span MAX_CLIPS is counted over: so at most 3 of any 7 accepted pushes weigh the bound without counting as faults. */
export const CLIP_WINDOW = WARM_PUSHES + MAX_CLIPS;

/** What the bound makes of a push: null (within it), scaled down to it by `scale` (< 1), or refused. */
export type NormVerdict = null | { clip: number } | Failure;

/** A worker's record: its pushes within the bound (counted up to WARM_PUSHES), and whether each of its last CLIP_WINDOW − 1 accepted pushes was clipped, oldest first. */
interface Run {
  within: number;
  recent: boolean[];
}

export class NormBound {
  /** Each worker's latest accepted norm per batch, least recently pushed first (Map order). */
  private readonly latest = new Map<string, number>();
  private readonly runs = new Map<string, Run>();
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

  /**
   * A norm per batch above factor × the median is clipped to it when `workerId` is warm
   * (WARM_PUSHES within the bound) and fewer than MAX_CLIPS of its last CLIP_WINDOW − 1
   * accepted pushes were clipped, else refused; records nothing.
   */
  judge(normPerBatch: number, workerId?: string): NormVerdict {
    if (this.factor <= 0) return null;
    const median = this.median;
    if (median === null || normPerBatch <= median * this.factor) return null;
    const run = workerId === undefined ? undefined : this.runs.get(workerId);
    const clips = run ? clipsIn(run) : 0;
    if (run && run.within >= WARM_PUSHES && clips < MAX_CLIPS) return { clip: (median * this.factor) / normPerBatch };
    const why = clips >= MAX_CLIPS ? `; ${clips} of its last ${run!.recent.length} were clipped to it` : '';
    return fail(ErrorCode.NORM_OUTLIER, `Gradient norm ${normPerBatch.toPrecision(3)} per batch is above ${this.factor}× the recent median (${median.toPrecision(3)})${why}`);
  }

  /**
   * `workerId`'s push passed every check: within the bound, its norm per batch becomes
   * that worker's sample; clipped, it counts among the worker's recent clips and its norm
   * is not a sample (a median made of clipped norms would ramp with them).
   */
  record(workerId: string, normPerBatch: number, clipped = false): void {
    let run = this.runs.get(workerId);
    if (!run) this.runs.set(workerId, (run = { within: 0, recent: [] }));
    run.recent.push(clipped);
    if (run.recent.length >= CLIP_WINDOW) run.recent.shift();
    if (clipped) return;
    run.within = Math.min(run.within + 1, WARM_PUSHES);
    this.latest.delete(workerId);
    this.latest.set(workerId, normPerBatch);
    if (this.latest.size > this.window) this.forget(this.latest.keys().next().value!);
  }

  /** A worker left: its sample goes, so that departed workers cannot outvote the ones training. */
  forget(workerId: string): void {
    this.latest.delete(workerId);
    this.runs.delete(workerId);
  }
}

function clipsIn(run: Run): number {
  let n = 0;
  for (const c of run.recent) if (c) n++;
  return n;
}

function usable(norm: number | null): number | null {
  return norm !== null && Number.isFinite(norm) && norm > 0 ? norm : null;
}
