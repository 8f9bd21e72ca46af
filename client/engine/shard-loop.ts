/**
 * The worker's shard loop, the same in the browser engine (worker-engine.ts) and the
 * Node worker of the benchmarks (bench/node-worker.ts): lease a piece of a shard, fetch
 * the shard, train the lease's batches through the exchange, flush, report the lease
 * complete, and again, until the worker is no longer assigned to the job.
 *
 * A lease the coordinator took back (a push answered LEASE_LOST or UNKNOWN_LEASE) is
 * dropped at once: its remaining batches are not trained and it is not completed (the
 * coordinator has queued them for another worker). A lease refusal that only says "not
 * now" (LEASE_LIMIT, WORKER_BARRED) or no free piece waits and asks again.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { CompleteAnswer, JobAssignment, LeaseAnswer, PushAccepted, ShardLeaseGrant } from '../../shared/protocol.js';
import type { Failure, Result } from '../../shared/result.js';
import type { DecodedShard } from '../../shared/shard-format.js';
import type { Exchange, SentPush } from './exchange.js';
import type { Batch } from './model-trainer.js';
import { batchesOf, lastShardKept } from './shard-data.js';

/** Pushes answered with a refusal that means the lease is gone: the loop stops training it. */
export class LostLeases {
  private readonly lost = new Set<string>();

  /** Give it every push answer (ExchangeEvents.pushed). */
  pushed(result: Result<PushAccepted>, sent: SentPush): void {
    if (!result.ok && (result.code === ErrorCode.LEASE_LOST || result.code === ErrorCode.UNKNOWN_LEASE)) this.lost.add(sent.leaseId);
  }

  has(leaseId: string): boolean {
    return this.lost.has(leaseId);
  }

  forget(leaseId: string): void {
    this.lost.delete(leaseId);
  }
}

export interface ShardLoopOptions {
  job: JobAssignment;
  exchange: Exchange;
  /** Fed by the exchange's `pushed` events. */
  lost: LostLeases;
  lease(): Promise<Result<LeaseAnswer>>;
  complete(leaseId: string): Promise<Result<CompleteAnswer>>;
  /** Downloads a shard by its lease URL. */
  fetchShard(url: string): Promise<DecodedShard>;
  /** False once the worker is reassigned or disconnected: the loop returns. */
  stillAssigned(): boolean;
  /** Lease and download the next piece while this one trains (the browser engine). Default false. */
  prefetch?: boolean;
  /** How long to wait before asking again when no piece is free. */
  retryMs: number;
  /** Awaited before each batch (the volunteer's pause). */
  beforeBatch?(): Promise<void>;
  /** After each batch, with its start time (performance.now()): throttling and status. */
  afterBatch?(batch: Batch, startedAt: number): Promise<void> | void;
  /** A lease the loop finished: completed (the coordinator's answer) or dropped (taken back). */
  leaseEnded?(lease: ShardLeaseGrant, answer: Result<CompleteAnswer> | 'lost'): void;
  /** Told when the loop has no lease and asks again (for measuring idle time). */
  waiting?(waiting: boolean): void;
}

type Outcome = { lease: ShardLeaseGrant; shard: DecodedShard } | 'wait' | 'stop';

/** Thrown for a lease refusal the loop cannot wait out (the caller's session handles it). */
export class LeaseRefused extends Error {
  constructor(readonly failure: Failure) {
    super(`lease refused: ${failure.code}: ${failure.message}`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runShardLoop(o: ShardLoopOptions): Promise<void> {
  const fetchCached = lastShardKept((url) => o.fetchShard(url));
  const leaseNext = async (): Promise<Outcome> => {
    const r = await o.lease();
    if (!r.ok) {
      if (r.code === ErrorCode.JOB_NOT_RUNNING) return 'stop'; // job:assign follows
      if (r.code === ErrorCode.LEASE_LIMIT || r.code === ErrorCode.WORKER_BARRED) return 'wait';
      throw new LeaseRefused(r);
    }
    if (!r.lease) return 'wait';
    return { lease: r.lease, shard: await fetchCached(r.lease.url) };
  };
  const start = () => {
    const p = leaseNext();
    p.catch(() => {}); // handled where it is awaited; a lapsed prefetch must not surface as unhandled
    return p;
  };

  let next: Promise<Outcome> | null = null;
  while (o.stillAssigned()) {
    const got = await (next ?? start());
    next = null;
    if (got === 'stop') return;
    if (got === 'wait') {
      o.waiting?.(true);
      await sleep(o.retryMs);
      continue;
    }
    o.waiting?.(false);
    if (o.prefetch) next = start(); // download the next piece while this one trains
    if (!(await trainLease(o, got.lease, got.shard))) return;
  }
}

/** Trains one lease's batches; false when the worker stopped being assigned midway. */
async function trainLease(o: ShardLoopOptions, lease: ShardLeaseGrant, shard: DecodedShard): Promise<boolean> {
  const { leaseId } = lease;
  for (const batch of batchesOf(shard, o.job.batchSize, lease)) {
    await o.beforeBatch?.();
    if (!o.stillAssigned()) return false;
    if (o.lost.has(leaseId)) break;
    const started = performance.now();
    await o.exchange.train(batch, leaseId);
    await o.afterBatch?.(batch, started);
  }
  await o.exchange.flush(); // the lease's last batches are never left unpushed
  if (o.lost.has(leaseId)) {
    o.lost.forget(leaseId);
    o.leaseEnded?.(lease, 'lost');
    return true;
  }
  o.leaseEnded?.(lease, await o.complete(leaseId));
  return true;
}
