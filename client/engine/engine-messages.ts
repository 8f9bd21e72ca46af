/**
 * The page ↔ engine Web Worker protocol: one tagged union each way. The page owns
 * consent, preferences and localStorage; the worker owns tfjs, the socket and the
 * training loop. Every `switch` over these ends in `const check: never`.
 */
import type { BackendName } from '../../shared/protocol.js';
import type { EngineStatus } from './status.js';

/** Fraction of wall time spent computing: 0.25, 0.5 or 1. */
export const DUTY_CYCLES = [0.25, 0.5, 1] as const;
export type DutyCycle = (typeof DUTY_CYCLES)[number];

/**
 * The exchange the engine trains with. 'job': the job's consistency mode (createExchange),
 * what every volunteer runs. 'standalone': bench only (client/bench.ts), the tab trains
 * alone with a local optimizer (StandaloneExchange); the volunteer page never sends it.
 */
export const ENGINE_EXCHANGES = ['job', 'standalone'] as const;
export type EngineExchange = (typeof ENGINE_EXCHANGES)[number];

export type PageToEngine =
  /** First message: where the coordinator is and what the page remembers. `exchange` defaults to 'job'; `volunteerId` to none. */
  | {
      type: 'init';
      origin: string;
      forcedBackend: BackendName | null;
      backendCache: Record<string, BackendName>;
      duty: DutyCycle;
      exchange?: EngineExchange;
      volunteerId?: string | null;
    }
  | { type: 'start' }
  | { type: 'pause' }
  | { type: 'set-duty'; duty: DutyCycle };

export type EngineToPage =
  | { type: 'status'; status: EngineStatus }
  /** The measured backend choice for a model; the page stores it in localStorage. */
  | { type: 'remember-backend'; key: string; backend: BackendName }
  /** 'standalone' exchange only: the mean training loss of the last few local steps (the bench's check that it trains). */
  | { type: 'local-loss'; loss: number; steps: number }
  /** Something the engine could not recover from (the page shows it and fails tests). */
  | { type: 'fatal'; message: string };
