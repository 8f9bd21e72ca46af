/**
 * How long a worker may keep a lease without progress. A worker's leases are served in
 * the order they were granted: only the oldest runs a deadline (the engine prefetches
 * its next shard, which waits its turn). From the moment the oldest lease last
 * progressed (granted or became the oldest, or a push on it was answered) the next push
 * must come within
 *
 *     min(leaseMs, max(graceMs, slack × examples of that push / the worker's claimed rate))
 *
 * where the claimed rate is the examples per second of the worker's own latest
 * `worker:report` (none, or 0 when paused: leaseMs). A worker that claims to be fast
 * and pushes slowly (a hoarder) loses the lease after the grace; an honest worker's
 * pushes arrive at about the rate it reports, with `slack` to spare. And whatever the
 * rate, a lease is taken back `leaseMs` after it became the oldest: no worker sits on a
 * piece longer than one lease period, and a slow worker loses only the lease's untrained
 * tail. While a push is in flight (a sync round holds its ack) no deadline runs: the
 * worker is waiting for the coordinator, not the other way round. A worker that misses
 * the deadline loses every lease it holds, the prefetched one too (server/jobs/push-accounting.ts).
 */
import type { Lease } from '../data/shard-ledger.js';

/** Time allowed beyond what the claimed rate needs: a round trip, a pull, a garbage-collection pause, a busy machine. */
export const LEASE_GRACE_MS = 10_000;
/** How many times longer than its claimed rate needs a worker may take for a push. */
export const LEASE_SLACK = 3;

export interface LeaseTermsOptions {
  /** The longest a worker keeps its oldest lease, and the deadline between pushes of a worker that claims no rate. */
  leaseMs: number;
  /** Default LEASE_GRACE_MS. */
  graceMs?: number;
  /** Default LEASE_SLACK. */
  slack?: number;
}

export class LeaseTerms {
  readonly leaseMs: number;
  private readonly graceMs: number;
  private readonly slack: number;

  constructor(o: LeaseTermsOptions) {
    this.leaseMs = o.leaseMs;
    this.graceMs = o.graceMs ?? LEASE_GRACE_MS;
    this.slack = o.slack ?? LEASE_SLACK;
  }

  /**
   * Sets the deadlines of one worker's leases (oldest first) after anything changed
   * them: the oldest runs one, the others wait. `nextExamples(lease)`: examples the next
   * push on it carries; `claimedRate`: the worker's reported examples per second.
   */
  arrange(leases: readonly Lease[], now: number, nextExamples: (lease: Lease) => number, claimedRate: number): void {
    leases.forEach((lease, i) => {
      if (i > 0) {
        lease.headSince = null;
        lease.deadline = Infinity;
        return;
      }
      if (lease.headSince === null) {
        lease.headSince = now;
        lease.lastProgress = now;
      }
      const expected = claimedRate > 0 ? (this.slack * nextExamples(lease) * 1000) / claimedRate : this.leaseMs;
      const allowance = Math.min(this.leaseMs, Math.max(this.graceMs, expected));
      lease.deadline = Math.min(lease.headSince + this.leaseMs, lease.lastProgress + allowance);
    });
  }

  /** Whether the lease missed its deadline (never while a push on it is in flight); its worker then loses all its leases. */
  late(lease: Lease, now: number): boolean {
    return lease.inFlight === 0 && lease.deadline <= now;
  }

  /** Whether the lease is past the longest any worker keeps its oldest lease, progress or not (never while a push on it is in flight). */
  overHeld(lease: Lease, now: number): boolean {
    return lease.inFlight === 0 && lease.headSince !== null && lease.headSince + this.leaseMs <= now;
  }
}
