/**
 * Byzantine defence for asynchronous mode: a gradient whose norm (per mini-batch) is
 * far above the median of the job's recent accepted pushes is refused, so a worker
 * pushing 100×-scaled gradients cannot blow the parameters up. Refusing (not clipping)
 * keeps the rule simple to reason about and shows up in the rejection counters.
 * Sign-flipped gradients have honest norms and pass; with a minority of such workers
 * asynchronous SGD still descends (the sync mode's trimmed mean is the defence there).
 */
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';

const WINDOW = 101;
const MIN_SAMPLES = 20;

export class NormBound {
  private readonly recent: number[] = [];
  private readonly sorted: number[] = [];

  /** `factor` ≤ 0 disables the bound. */
  constructor(private readonly factor: number) {}

  check(normPerBatch: number): Failure | null {
    if (this.factor <= 0 || this.sorted.length < MIN_SAMPLES) return null;
    const median = this.sorted[this.sorted.length >> 1]!;
    const limit = median * this.factor;
    if (normPerBatch <= limit) return null;
    return fail(ErrorCode.NORM_OUTLIER, `Gradient norm ${normPerBatch.toPrecision(3)} is above ${this.factor}× the recent median (${median.toPrecision(3)})`);
  }

  /** Records an accepted push's norm (kept sorted: O(window) per push, no per-element work). */
  record(normPerBatch: number): void {
    this.recent.push(normPerBatch);
    this.insert(normPerBatch);
    if (this.recent.length > WINDOW) this.remove(this.recent.shift()!);
  }

  private insert(v: number): void {
    let i = this.sorted.length;
    this.sorted.push(v);
    while (i > 0 && this.sorted[i - 1]! > v) {
      this.sorted[i] = this.sorted[i - 1]!;
      i--;
    }
    this.sorted[i] = v;
  }

  private remove(v: number): void {
    const i = this.sorted.indexOf(v);
    if (i >= 0) this.sorted.splice(i, 1);
  }
}
