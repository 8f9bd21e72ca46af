/**
 * Byzantine defence for asynchronous mode: a gradient whose norm (per mini-batch) is
 * far above the median norm of the job's recent pushes is refused, so a worker pushing
 * 100×-scaled gradients cannot blow the parameters up (nor, with Adagrad, inflate the
 * accumulators and stall learning for good). Refusing (not clipping) keeps the rule
 * simple to reason about and shows up in the rejection counters.
 *
 * The window holds every push's norm, refused ones too, and the bound uses its lower
 * median: while fewer than half of the pushes are hostile the reference stays honest.
 * It starts seeded with the norm of a gradient the PS computed itself
 * (server/jobs/reference-gradient.ts), so the bound holds from the very first push.
 * Sign-flipped gradients have honest norms and pass; in asynchronous mode a minority of
 * them slows descent (see the byzantine benchmark).
 */
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';

const WINDOW = 101;
const MIN_SAMPLES = 3;

export class NormBound {
  private readonly recent: number[] = [];
  private readonly sorted: number[] = [];

  /**
   * `factor` ≤ 0 disables the bound. `reference`: a norm known to be honest (the PS's
   * own gradient at the initial parameters); it seeds the window so the bound holds from
   * the first push.
   */
  constructor(
    private readonly factor: number,
    reference: number | null = null,
  ) {
    if (reference !== null && Number.isFinite(reference) && reference > 0) for (let i = 0; i < MIN_SAMPLES; i++) this.record(reference);
  }

  /** Records the push's norm and refuses it when it is an outlier. */
  admit(normPerBatch: number): Failure | null {
    if (this.factor <= 0) return null;
    const ready = this.sorted.length >= MIN_SAMPLES;
    const median = ready ? this.sorted[(this.sorted.length - 1) >> 1]! : 0;
    this.record(normPerBatch);
    if (!ready || normPerBatch <= median * this.factor) return null;
    return fail(ErrorCode.NORM_OUTLIER, `Gradient norm ${normPerBatch.toPrecision(3)} is above ${this.factor}× the recent median (${median.toPrecision(3)})`);
  }

  /** Keeps the window sorted: O(window) per push, no per-element work. */
  private record(v: number): void {
    this.recent.push(v);
    let i = this.sorted.length;
    this.sorted.push(v);
    while (i > 0 && this.sorted[i - 1]! > v) {
      this.sorted[i] = this.sorted[i - 1]!;
      i--;
    }
    this.sorted[i] = v;
    if (this.recent.length > WINDOW) {
      const old = this.recent.shift()!;
      this.sorted.splice(this.sorted.indexOf(old), 1);
    }
  }
}
