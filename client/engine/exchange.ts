/**
 * What the worker's training loop drives, whatever the job's consistency mode, and
 * what an exchange needs from its surroundings. One implementation per mode family
 * (async-exchange.ts, sync-exchange.ts, local-exchange.ts), picked by createExchange.
 */
import type { GradientPush, ParamsSnapshot, PullRequest, PushAccepted } from '../../shared/protocol.js';
import type { Result } from '../../shared/result.js';
import type { Batch } from './model-trainer.js';

/** The two requests an exchange makes of the coordinator (socket.io acks in the browser and in tests). */
export interface ExchangeTransport {
  push(push: GradientPush): Promise<Result<PushAccepted>>;
  pull(req: PullRequest): Promise<Result<ParamsSnapshot>>;
}

/** A push as its sender counts it: the lease its batches came from, and their examples. */
export interface SentPush {
  leaseId: string;
  examples: number;
}

/** What the exchange tells the worker's status (and its shard loop) as answers arrive. */
export interface ExchangeEvents {
  pushed(result: Result<PushAccepted>, sent: SentPush): void;
  pulled(version: number): void;
}

export interface Exchange {
  /** Loads the current parameters before the first batch. */
  start(): Promise<void>;
  /**
   * Trains on one mini-batch of lease `leaseId` and exchanges what is due. A push carries
   * the batches of one lease only: flush() before training another lease's batches.
   */
  train(batch: Batch, leaseId: string): Promise<void>;
  /** Pushes whatever is pending and waits for every answer (end of a lease). */
  flush(): Promise<void>;
  dispose(): void;
}

/**
 * The lease of the batches a pending push will carry, once a batch of `leaseId` joins
 * the `pending` batches already summed: a push never spans two leases, since the
 * coordinator credits each push's batches to one lease.
 */
export function leaseOfPush(current: string | null, pending: number, leaseId: string): string {
  if (pending > 0 && current !== leaseId) throw new Error(`A push cannot carry batches of leases ${current} and ${leaseId}: flush() between leases`);
  return leaseId;
}
