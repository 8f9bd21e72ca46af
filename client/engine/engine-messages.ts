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

export type PageToEngine =
  /** First message: where the coordinator is and what the page remembers. */
  | { type: 'init'; origin: string; forcedBackend: BackendName | null; backendCache: Record<string, BackendName>; duty: DutyCycle }
  | { type: 'start' }
  | { type: 'pause' }
  | { type: 'set-duty'; duty: DutyCycle };

export type EngineToPage =
  | { type: 'status'; status: EngineStatus }
  /** The measured backend choice for a model; the page stores it in localStorage. */
  | { type: 'remember-backend'; key: string; backend: BackendName }
  /** Something the engine could not recover from (the page shows it and fails tests). */
  | { type: 'fatal'; message: string };
