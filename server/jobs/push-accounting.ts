/**
 * Pushes tied to leases: the coordinator counts what it gave each worker, not what the
 * worker claims. A lease is granted within the job's per-worker limit; each push names
 * its lease and must claim exactly the batches that lease has next (the job's nPush,
 * localSteps in local mode, or what is left), which the ledger then takes from the
 * lease's cursor and credits, when the push is accepted, with the examples those batches
 * hold. A refused push's batches go back to the queue for another worker.
 *
 * Each worker's standing is kept here too: the rate it reports (which sets its lease
 * deadlines, server/jobs/lease-terms.ts) and its run of faulty pushes. A worker whose
 * pushes are refused for faults, or that misses its lease deadline, MAX_FAULTS_IN_A_ROW
 * times in a row loses its leases and may not lease for one lease period. Refusals that honest workers meet in normal life
 * (STALE, LATE, ALREADY_PUSHED, JOB_NOT_RUNNING, LEASE_LOST) neither count nor reset it.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { JobSpec } from '../../shared/job-spec.js';
import type { LeaseAnswer, ShardLeaseGrant } from '../../shared/protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import type { Completion, Lease, ShardLedger, TakenBatches } from '../data/shard-ledger.js';
import { createLogger } from '../logger.js';
import { LeaseTerms } from './lease-terms.js';

const log = createLogger('leases');

/** Faulty pushes in a row after which a worker loses its leases and is barred from leasing for a lease period. */
export const MAX_FAULTS_IN_A_ROW = 3;

/** Refusals that say the push itself is bad, not that it came at a bad time. */
const FAULTS: ReadonlySet<string> = new Set<ErrorCode>([
  ErrorCode.UNKNOWN_LEASE,
  ErrorCode.BATCH_CLAIM,
  ErrorCode.LOSS_OUT_OF_RANGE,
  ErrorCode.FUTURE_VERSION,
  ErrorCode.UNKNOWN_CODEC,
  ErrorCode.TENSOR_MISMATCH,
  ErrorCode.SHAPE_MISMATCH,
  ErrorCode.DTYPE_MISMATCH,
  ErrorCode.BYTE_LENGTH_MISMATCH,
  ErrorCode.BAD_ENCODING,
  ErrorCode.PAYLOAD_TOO_LARGE,
  ErrorCode.NON_FINITE,
  ErrorCode.NORM_OUTLIER,
  ErrorCode.BAD_RECEIPT,
  ErrorCode.STEP_OUT_OF_ORDER,
]);

export interface PushAccountingOptions {
  ledger: ShardLedger;
  terms: LeaseTerms;
  /** Batches one push carries (the job's nPush; localSteps in local mode). */
  perPush: number;
  maxLeasesPerWorker: number;
  /** Where shard `index` is downloaded (its content-addressed URL). */
  shardUrl: (index: number) => string;
  now: () => number;
  /** A worker was barred (its faults in a row): with stages, its replica goes and it waits out the bar (server/jobs/job.ts). */
  onBarred?: (workerId: string) => void;
  /**
   * Which deadline `workerId`'s leases run (default 'own'): a split job's stage 0 runs only
   * the lease period's end ('period': no one keeps a piece longer, as no data-parallel
   * worker does), its replica's own deadlines standing for the progress deadline
   * (server/jobs/replica-steps.ts), which would charge stage 0 alone for a replica that did
   * not step, whichever stage held it up; and none while a part of it waits for its
   * replica's other stages ('none': the step's deadline knows whose part is missing).
   */
  leaseDeadline?: (workerId: string) => 'own' | 'period' | 'none';
  /** A worker's lease was taken back at its deadline (its fault counted, unless its replica judges it: a split job's stage 0; server/jobs/job.ts). */
  onMissed?: (workerId: string) => void;
}

interface Standing {
  /** Examples per second of the worker's latest report (0: none, or paused). */
  claimedRate: number;
  faultsInARow: number;
  barredUntil: number;
}

/** A job's accounting, from its spec: the lease period, the batches a push carries (nPush; localSteps in local mode), the lease limit. */
export function pushAccountingFor(
  spec: JobSpec,
  ledger: ShardLedger,
  shardUrl: (index: number) => string,
  now: () => number,
  on: Pick<PushAccountingOptions, 'onBarred' | 'leaseDeadline' | 'onMissed'> = {},
): PushAccounting {
  return new PushAccounting({
    ledger,
    terms: new LeaseTerms({ leaseMs: spec.leaseSeconds * 1000 }),
    perPush: spec.mode === 'local' ? spec.localSteps : spec.nPush,
    maxLeasesPerWorker: spec.maxLeasesPerWorker,
    shardUrl,
    now,
    ...on,
  });
}

export class PushAccounting {
  private readonly standing = new Map<string, Standing>();
  private readonly ledger: ShardLedger;

  constructor(private readonly o: PushAccountingOptions) {
    this.ledger = o.ledger;
  }

  /**
   * A lease for `workerId`, null when no piece is free now, or a refusal (LEASE_LIMIT,
   * WORKER_BARRED). The caller sweeps late leases first (JobTraining.lease: a sweep can
   * dissolve the asker's replica, which it must know before it asks here).
   */
  lease(workerId: string): Result<LeaseAnswer> {
    const s = this.standingOf(workerId);
    const now = this.o.now();
    if (s.barredUntil > now) {
      return fail(ErrorCode.WORKER_BARRED, `This worker's pushes were refused, or its lease deadlines missed, or its replicas stalled, ${MAX_FAULTS_IN_A_ROW} times in a row: no leases for ${Math.ceil((s.barredUntil - now) / 1000)} s`);
    }
    const held = this.ledger.leasesOf(workerId).length;
    if (held >= this.o.maxLeasesPerWorker) return fail(ErrorCode.LEASE_LIMIT, `This worker holds ${held} leases, the job's limit: complete one first`);
    const lease = this.ledger.lease(workerId);
    if (!lease) return ok({ lease: null });
    this.arrange(workerId);
    return ok({ lease: this.grant(lease) });
  }

  /** What the worker is told of its lease: which examples, in which order, for how long at most. */
  private grant(l: Lease): ShardLeaseGrant {
    const batches = { from: l.from, to: l.to };
    return {
      leaseId: l.leaseId,
      epoch: l.epoch,
      shardIndex: l.shardIndex,
      url: this.o.shardUrl(l.shardIndex),
      order: l.order,
      batches,
      examples: this.ledger.examplesIn(l.shardIndex, batches),
      ttlMs: this.o.terms.leaseMs,
    };
  }

  /**
   * Checks a push's lease and batch claim, then takes those batches from the lease. A
   * refusal here takes nothing; after it, the push's outcome must be given to settle().
   */
  take(workerId: string, leaseId: string, claimed: number): TakenBatches | Failure {
    const lease = this.held(workerId, leaseId);
    if ('ok' in lease) return this.refused(workerId, lease);
    const expected = Math.min(this.o.perPush, lease.to - lease.cursor);
    if (claimed !== expected) {
      const why = expected === 0 ? 'has no batches left: complete it' : `has ${expected} batches next for this push`;
      return this.refused(workerId, fail(ErrorCode.BATCH_CLAIM, `The push claims ${claimed} mini-batches; lease ${leaseId} ${why}`));
    }
    return this.ledger.take(lease, expected);
  }

  /** Whether the worker may not lease now (its faults in a row); a replica does not take it either. */
  barred(workerId: string): boolean {
    return (this.standing.get(workerId)?.barredUntil ?? 0) > this.o.now();
  }

  /**
   * A taken push was answered: the ledger credits or requeues its batches, and the
   * worker's standing and deadline follow. `culprit`: another worker whose part of the
   * push was refused (a later stage of its replica): the fault is that worker's, and the
   * lease holder's run is left as it was.
   */
  settle(workerId: string, taken: TakenBatches, result: Result<object>, culprit: string | null = null): Completion {
    const completion = this.ledger.settle(taken, result.ok, workerId);
    const lease = this.ledger.get(taken.leaseId);
    if (lease) lease.lastProgress = this.o.now();
    if (result.ok) this.standingOf(workerId).faultsInARow = 0;
    else this.refused(culprit ?? workerId, result);
    this.arrange(workerId);
    return completion;
  }

  /** The worker reports its lease finished; refused when the lease is not its own or was taken back. */
  complete(workerId: string, leaseId: string): Completion | Failure {
    const lease = this.held(workerId, leaseId);
    if ('ok' in lease) return lease;
    const completion = this.ledger.complete(lease);
    this.arrange(workerId);
    return completion;
  }

  /** The worker's own claim of its speed (worker:report): its lease deadlines follow it at once. */
  reported(workerId: string, examplesPerSecond: number): void {
    this.standingOf(workerId).claimedRate = examplesPerSecond;
    this.arrange(workerId);
  }

  /** The worker left: its leases go back to the queue and its standing is forgotten. */
  release(workerId: string): void {
    this.ledger.release(workerId);
    this.standing.delete(workerId);
  }

  /** The worker's leases go back to the queue (its replica dissolved); its standing is kept, since it is still here. */
  requeue(workerId: string): void {
    this.ledger.release(workerId);
  }

  /** Takes back the leases of every worker past a deadline; returns how many workers lost theirs (run on the job's clock, and before each lease). */
  sweep(): number {
    const now = this.o.now();
    const late = [...this.ledger.all()].filter((l) => this.late(l, now));
    for (const l of late) this.missed(l);
    return late.length;
  }

  /**
   * A worker that missed its oldest lease's deadline loses every lease it holds: the
   * one it prefetched too, which it is not getting to soon (a hoarder would otherwise
   * hold it for another deadline).
   */
  private missed(late: Lease): void {
    const held = this.ledger.leasesOf(late.workerId);
    log.debug('leases taken back: no progress by the deadline', { worker: late.workerId, lease: late.leaseId, shard: late.shardIndex, leases: held.length });
    for (const l of held) this.ledger.takeBack(l, l.workerId);
    // A missed deadline is a fault like a refused push: a hoarder that leases again at once
    // and misses again is barred, rather than cycling the epoch's last pieces among hoarders
    // while honest workers ask in vain. An accepted push clears the run, as for any fault.
    // A split job's stage 0 at its lease period's end is its replica's to judge (onMissed).
    if ((this.o.leaseDeadline?.(late.workerId) ?? 'own') === 'own') this.fault(late.workerId, 'LEASE_DEADLINE');
    this.o.onMissed?.(late.workerId);
  }

  /** The lease if `workerId` holds it and it is not late; otherwise UNKNOWN_LEASE or LEASE_LOST. */
  private held(workerId: string, leaseId: string): Lease | Failure {
    const lease = this.ledger.get(leaseId);
    if (lease?.workerId === workerId) {
      if (!this.late(lease, this.o.now())) return lease;
      // Late, and the sweep has not come round yet: taken back now, exactly at its deadline.
      this.missed(lease);
    }
    if (this.ledger.lostBy(leaseId) === workerId) return fail(ErrorCode.LEASE_LOST, `Lease ${leaseId} was taken back: drop its shard and lease again`);
    return fail(ErrorCode.UNKNOWN_LEASE, `Lease ${leaseId} is not held by this worker (completed, released or never granted)`);
  }

  /** A refusal of `workerId`'s that took no batches (a stage's step out of order): counted as a fault like a refused push's. */
  blame(workerId: string, failure: Failure): void {
    this.refused(workerId, failure);
  }


  /**
   * A stage kept its replica from stepping (server/jobs/replica-steps.ts): it did not push
   * its part of a step within the step's deadline while another stage did
   * (STEP_DEADLINE), or its replica made no step in a lease period while it had work,
   * where the coordinator cannot tell which stage held the others up (REPLICA_DEADLINE).
   * A fault, like a missed lease deadline.
   */
  stalled(workerId: string, what: 'STEP_DEADLINE' | 'REPLICA_DEADLINE'): void {
    this.fault(workerId, what);
  }

  /** An accepted step of `workerId`'s replica: its run of faults ends, as an accepted push ends the lease holder's. */
  stepped(workerId: string): void {
    const s = this.standing.get(workerId);
    if (s) s.faultsInARow = 0;
  }

  /** Whether the lease missed the deadline its worker runs (leaseDeadline). */
  private late(lease: Lease, now: number): boolean {
    const deadline = this.o.leaseDeadline?.(lease.workerId) ?? 'own';
    if (deadline === 'none') return false;
    return deadline === 'period' ? this.o.terms.overHeld(lease, now) : this.o.terms.late(lease, now);
  }

  /** Counts a fault toward the worker's run; at MAX_FAULTS_IN_A_ROW its leases are taken back and it is barred. */
  private refused(workerId: string, failure: Failure): Failure {
    if (FAULTS.has(failure.code)) this.fault(workerId, failure.code);
    return failure;
  }

  /** One more fault in the worker's run (a refused push, a missed deadline); at MAX_FAULTS_IN_A_ROW it loses its leases and is barred. */
  private fault(workerId: string, what: string): void {
    const s = this.standingOf(workerId);
    s.faultsInARow += 1;
    if (s.faultsInARow < MAX_FAULTS_IN_A_ROW) return;
    s.faultsInARow = 0;
    s.barredUntil = this.o.now() + this.o.terms.leaseMs;
    const taken = this.ledger.leasesOf(workerId);
    for (const l of taken) this.ledger.takeBack(l, workerId);
    log.info('worker barred: faults in a row', { worker: workerId, last: what, leasesTakenBack: taken.length });
    this.o.onBarred?.(workerId);
  }

  private arrange(workerId: string): void {
    const leases = this.ledger.leasesOf(workerId);
    if (!leases.length) return;
    const perPush = this.o.perPush;
    const next = (l: Lease) => this.ledger.examplesIn(l.shardIndex, { from: l.cursor, to: Math.min(l.to, l.cursor + perPush) });
    this.o.terms.arrange(leases, this.o.now(), next, this.standing.get(workerId)?.claimedRate ?? 0);
  }

  private standingOf(workerId: string): Standing {
    let s = this.standing.get(workerId);
    if (!s) this.standing.set(workerId, (s = { claimedRate: 0, faultsInARow: 0, barredUntil: 0 }));
    return s;
  }
}
