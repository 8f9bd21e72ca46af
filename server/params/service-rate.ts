/**
 * How many payloads the process took in per second, over a sliding interval on the
 * injected clock: the rate push slots size their window and spread their retries by
 * (push-slots.ts). Counts live in buckets (ten per interval), so recording and reading
 * allocate nothing and no timer runs: a bucket is cleared when time reaches it again.
 */
import type { Clock } from '../clock.js';

const BUCKETS = 10;

export class ServiceRate {
  private readonly bucketMs: number;
  private readonly counts = new Float64Array(BUCKETS);
  /** Which bucket-period (now ÷ bucketMs) each bucket holds now. */
  private readonly periods = new Float64Array(BUCKETS).fill(Number.NEGATIVE_INFINITY);

  constructor(
    private readonly clock: Clock,
    /** The sliding interval. Default 1000 ms. */
    private readonly intervalMs = 1000,
  ) {
    if (!(intervalMs > 0)) throw new RangeError(`ServiceRate: intervalMs must be > 0, got ${intervalMs}`);
    this.bucketMs = intervalMs / BUCKETS;
  }

  /** One payload taken in now. */
  record(): void {
    const period = Math.floor(this.clock.now() / this.bucketMs);
    const i = ((period % BUCKETS) + BUCKETS) % BUCKETS;
    if (this.periods[i] !== period) {
      this.periods[i] = period;
      this.counts[i] = 0;
    }
    this.counts[i] += 1;
  }

  /** Payloads per second over the last interval (the bucket under way counts whole). */
  perSecond(): number {
    const period = Math.floor(this.clock.now() / this.bucketMs);
    let n = 0;
    for (let i = 0; i < BUCKETS; i++) if (period - this.periods[i]! < BUCKETS) n += this.counts[i]!;
    return (n * 1000) / this.intervalMs;
  }
}
