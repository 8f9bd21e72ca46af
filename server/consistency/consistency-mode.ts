/**
 * A job's consistency mode: how a validated gradient becomes an update. One small
 * interface, one implementation per file, chosen per job by registry.ts. What every
 * mode shares happens before: the Job refuses pushes to a job that is not running, and
 * the GradientGate (server/params/gradient-gate.ts) decodes each gradient and checks
 * its layout, finiteness and norm bound, between the mode's admit() and accept(),
 * whose argument is the gate's answer.
 */
import type { PushAccepted } from '../../shared/protocol.js';
import type { Failure, Result } from '../../shared/result.js';
import type { Clock } from '../clock.js';
import type { DecodedGradient } from '../params/gradient.js';
import type { ParameterStore } from '../params/parameter-store.js';

/** An admitted push: its staleness and the learning-rate multiplier the mode gives it. */
export interface Admission {
  staleness: number;
  lrScale: number;
}

export interface ConsistencyMode {
  /**
   * First look at a push, before anything is decoded: may this worker's gradient,
   * computed on `baseVersion`, be used now? A refusal leaves every state untouched.
   */
  admit(workerId: string, baseVersion: number): Admission | Failure;
  /**
   * `gradient` passed every check: apply it (async modes) or copy it into the open
   * round (sync modes); it is not valid after this call returns. Sync modes answer
   * when the round closes, so the worker's next gradient is computed on the round's
   * version.
   */
  accept(workerId: string, admission: Admission, gradient: DecodedGradient): Result<PushAccepted> | Promise<Result<PushAccepted>>;
  /**
   * A worker left the job, or its gradient for the open round was refused: a sync round
   * stops waiting for it (a gradient it already gave stays in the round).
   */
  leave(workerId: string): void;
  /** The job stopped running: a sync round is dropped and its held acks refused. */
  halt(reason: Failure): void;
  /** Counters for the API and the dashboard: rounds closed, and of them those closed by their deadline. */
  readonly rounds: number;
  readonly timedOut: number;
}

export interface ModeContext {
  store: ParameterStore;
  /** Runs a sync round's deadline. */
  clock: Clock;
  /** The job's assigned workers right now (a sync round's quorum is taken from them when it opens). */
  activeWorkers: () => ReadonlySet<string>;
}
