/** Picks the worker's exchange for the job's consistency mode (shared/modes.ts); a new mode does not compile until it has one. */
import type { JobAssignment } from '../../shared/protocol.js';
import { AsyncExchange } from './async-exchange.js';
import type { Exchange, ExchangeEvents, ExchangeTransport } from './exchange.js';
import { LocalExchange } from './local-exchange.js';
import type { ModelTrainer } from './model-trainer.js';
import { SyncExchange } from './sync-exchange.js';

export function createExchange(assigned: JobAssignment, trainer: ModelTrainer, transport: ExchangeTransport, events: ExchangeEvents): Exchange {
  // On ps tasks the transport encodes each task's slices in the job's codec with error feedback per slice
  // (slice-encoder.ts): the exchange hands it the gradient whole and lossless.
  const job: JobAssignment = assigned.ps ? { ...assigned, codec: 'fp32' } : assigned;
  const mode = job.mode;
  switch (mode.name) {
    case 'async':
    case 'staleness-aware':
      return new AsyncExchange(job, trainer, transport, events);
    case 'sync':
      return new SyncExchange(job, trainer, transport, events);
    case 'local':
      return new LocalExchange(job, mode, trainer, transport, events);
    default: {
      const check: never = mode;
      throw new Error(`No exchange for consistency mode ${JSON.stringify(check)}`);
    }
  }
}

/** How the engine builds an assignment's exchange: createExchange, or the overhead bench's StandaloneExchange (engine-worker.ts). */
export type ExchangeFactory = typeof createExchange;
