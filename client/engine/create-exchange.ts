/** Picks the worker's exchange for the job's consistency mode. */
import type { JobAssignment } from '../../shared/protocol.js';
import { LocalExchange } from './local-exchange.js';
import type { ModelTrainer } from './model-trainer.js';
import { ParameterExchange, type Exchange, type ExchangeEvents, type ExchangeTransport } from './parameter-exchange.js';

export function createExchange(job: JobAssignment, trainer: ModelTrainer, transport: ExchangeTransport, events: ExchangeEvents): Exchange {
  const mode = job.mode;
  if (mode.name === 'local') return new LocalExchange(job, mode, trainer, transport, events);
  return new ParameterExchange(job, trainer, transport, events);
}
