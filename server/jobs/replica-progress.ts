/**
 * Whether each replica of a split job is getting anywhere (server/jobs/replica-steps.ts):
 * when it last had an accepted step, or a moment without work, and how many of its
 * committed steps still wait for their answers (a sync round holds them). A replica that
 * goes a lease period without either, while it has work, is overdue: its stages stalled it.
 */
import type { Replica } from './replica-board.js';

/** More time a new replica has for its first step than the lease period: its tabs try WebRTC first (client/page/peer-transport.ts gives up after 10 s). */
const FORMATION_GRACE_MS = 30_000;

export class ReplicaProgress {
  /** Per replica, when it last had an accepted step or no work. */
  private readonly lastStep = new Map<string, number>();
  /** Per replica, its steps committed and not yet answered: no deadline runs meanwhile, as for a lease with a push in flight. */
  private readonly answering = new Map<string, number>();

  constructor(
    /** The lease period: an accepted step at least this often. */
    private readonly periodMs: number,
    private readonly now: () => number,
  ) {}

  /** A step of the replica was committed; its answer is to come. */
  committed(replicaId: string): void {
    this.answering.set(replicaId, (this.answering.get(replicaId) ?? 0) + 1);
  }

  /** A step of the replica was answered: its period starts again if `accepted` (a refused step is no progress: a stage could have every step refused, STALE or LEASE_LOST, at no fault of its own). */
  answered(replicaId: string, accepted: boolean): void {
    const left = this.answering.get(replicaId);
    if (left === undefined) return; // dissolved meanwhile
    if (left > 1) this.answering.set(replicaId, left - 1);
    else this.answering.delete(replicaId);
    if (accepted) this.lastStep.set(replicaId, this.now());
  }

  /** The replica has no work now (no lease, none free): nothing is owed until it has. */
  idle(replicaId: string): void {
    this.lastStep.set(replicaId, this.now());
  }

  /** Whether an answer of the replica's is still to come (the round's deadline runs, not this one's). */
  awaiting(replicaId: string): boolean {
    return this.answering.has(replicaId);
  }

  /** Whether the replica went a lease period (a new one: FORMATION_GRACE_MS more) without an accepted step or a moment without work. */
  overdue(replica: Replica): boolean {
    return this.now() - (this.lastStep.get(replica.id) ?? replica.formedAt + FORMATION_GRACE_MS) >= this.periodMs;
  }

  /** The replica is gone. */
  forget(replicaId: string): void {
    this.lastStep.delete(replicaId);
    this.answering.delete(replicaId);
  }
}
