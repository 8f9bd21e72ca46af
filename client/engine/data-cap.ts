/**
 * The volunteer's data cap: at most `bytesPerHour` on the network, both ways together
 * (what a phone plan counts). A token bucket over bytes: it fills at the cap's rate up to
 * `burstBytes`; every byte the meter counts is taken from it, and the engine starts no
 * mini-batch (so sends no push and asks no pull) while the bucket is in debt. Bytes are
 * spent as they pass, so one message can take the bucket below zero; the engine then
 * waits until the rate has paid the debt back.
 *
 * The bound this gives: over any span of t seconds from the start, the bytes moved are at
 * most burstBytes + cap · t + the largest one batch moves (its push, its pull, a shard
 * download begun in it). Over an hour that is the cap plus a few percent.
 *
 * Why slow training rather than push less often: the coordinator ties every push to its
 * lease and accepts a claim of exactly min(nPush, batches left) batches
 * (server/jobs/push-accounting.ts), so a worker cannot carry more batches per push than
 * the job's nPush. Pulling less often than nFetch would save little with pull deltas
 * (a delta grows with the versions it spans) and make pushes staler. So the engine keeps
 * the job's schedule and rests between batches: bytes per batch stay the same, batches
 * per hour go down to fit.
 */

export interface DataCapOptions {
  /** MB (10⁶ bytes) per hour; null: no cap. */
  mbPerHour: number | null;
  /** Milliseconds, monotonic. Default: performance.now. */
  now?: () => number;
  /** The bucket's size: bytes that may pass at once after a quiet spell. Default: what the cap allows in 30 s, at least 256 kB. */
  burstBytes?: number;
}

/**
 * What the link carries per byte the meter counts: TCP/IP headers (66 bytes on each
 * ~1,448-byte segment) and the ACKs coming back. Measured on a shaped veth
 * (server/test/data-cap-link.test.ts): the link's counters were 6.6 % above the meter's.
 * The cap spends this much per counted byte, since what the volunteer's plan counts is
 * the link's bytes.
 */
export const LINK_BYTES_PER_COUNTED_BYTE = 1.07;

export const MIN_BURST_BYTES = 256 * 1024;
const BURST_SECONDS = 30;

export class DataCap {
  private bytesPerMs = 0;
  private burst = 0;
  private tokens = 0;
  private at: number;
  private readonly now: () => number;
  private readonly fixedBurst: number | undefined;

  constructor(o: DataCapOptions) {
    this.now = o.now ?? (() => performance.now());
    this.fixedBurst = o.burstBytes;
    this.at = this.now();
    this.set(o.mbPerHour);
  }

  /** Null when there is no cap. */
  get mbPerHour(): number | null {
    return this.bytesPerMs > 0 ? (this.bytesPerMs * 3_600_000) / 1e6 : null;
  }

  /** A new cap (or none) from now on; a debt is kept, a full bucket stays full. */
  set(mbPerHour: number | null): void {
    if (mbPerHour !== null && !(mbPerHour > 0 && Number.isFinite(mbPerHour))) throw new RangeError(`a data cap is a positive number of MB per hour, got ${mbPerHour}`);
    this.refill();
    const wasFull = this.tokens >= this.burst;
    this.bytesPerMs = mbPerHour === null ? 0 : (mbPerHour * 1e6) / 3_600_000;
    this.burst = mbPerHour === null ? 0 : (this.fixedBurst ?? Math.max(MIN_BURST_BYTES, this.bytesPerMs * BURST_SECONDS * 1000));
    if (wasFull || this.tokens > this.burst) this.tokens = this.burst;
  }

  /** Bytes that have passed (the meter's every count). */
  spend(bytes: number): void {
    if (!this.bytesPerMs) return;
    this.refill();
    this.tokens -= bytes;
  }

  /** How long the engine must hold before its next batch: 0 when the bucket is not in debt. */
  holdMs(): number {
    if (!this.bytesPerMs) return 0;
    this.refill();
    return this.tokens >= 0 ? 0 : -this.tokens / this.bytesPerMs;
  }

  private refill(): void {
    const t = this.now();
    if (this.bytesPerMs) this.tokens = Math.min(this.burst, this.tokens + (t - this.at) * this.bytesPerMs);
    this.at = t;
  }
}
