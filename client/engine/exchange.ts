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

/** What the exchange tells the worker's status as answers arrive. */
export interface ExchangeEvents {
  pushed(result: Result<PushAccepted>, examples: number): void;
  pulled(version: number): void;
}

export interface Exchange {
  /** Loads the current parameters before the first batch. */
  start(): Promise<void>;
  /** Trains on one mini-batch and exchanges what is due. */
  train(batch: Batch): Promise<void>;
  /** Pushes whatever is pending and waits for every answer (end of a shard). */
  flush(): Promise<void>;
  dispose(): void;
}
