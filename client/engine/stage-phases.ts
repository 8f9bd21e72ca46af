/**
 * Where a stage's wall time goes, phase by phase (docs/model-parallelism.md, "Where stage
 * 0's idle time went"): the busy fraction says how much of it the stage computed, not
 * what it waited for in between. Stage 0's run loop is sequential, so its phases
 * (waiting for a push's answer, for a pull, for a mini-batch to come back; decoding a
 * pull, reading and encoding a gradient; computing forwards) add up to its wall time;
 * frames it handles meanwhile (backwards) run beside the loop and are timed as their
 * own phase (the phases: shared/replica-protocol.ts, STAGE_PHASES). Cumulative totals in
 * milliseconds, sent in the stage's replica:report.
 *
 * The phases that are the stage's own work on its own thread (OWN_WORK: computing, and
 * encoding, decoding, reading its gradient out of the backend, loading a pull) are also
 * told to `work`, the stage's busy meter: they are no bubble, since no neighbour and no
 * server is waited for in them. The waits are not.
 */
import type { PhaseTotals, StagePhase } from '../../shared/replica-protocol.js';

export type { PhaseTotals, StagePhase };

/** The stage's own work on its own thread: busy time, not bubble. */
export const OWN_WORK: ReadonlySet<StagePhase> = new Set(['apply-pull', 'forward', 'send-frame', 'read-gradient', 'encode-push', 'decode-frame', 'backward']);

/** Told when the stage's own work begins and ends (StageMeter), and how long each piece took. */
export interface WorkMeter {
  begin(): void;
  end(ms: number): void;
}

export class StagePhases {
  private readonly totals: PhaseTotals = {};

  constructor(
    private readonly work: WorkMeter | null = null,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async time<T>(phase: StagePhase, task: () => Promise<T> | T): Promise<T> {
    const started = this.begin(phase);
    try {
      return await task();
    } finally {
      this.finish(phase, started);
    }
  }

  /** The same for synchronous work (encoding or decoding a frame). */
  timeSync<T>(phase: StagePhase, task: () => T): T {
    const started = this.begin(phase);
    try {
      return task();
    } finally {
      this.finish(phase, started);
    }
  }

  private begin(phase: StagePhase): number {
    if (OWN_WORK.has(phase)) this.work?.begin();
    return this.now();
  }

  private finish(phase: StagePhase, started: number): void {
    const ms = this.now() - started;
    this.totals[phase] = (this.totals[phase] ?? 0) + ms;
    if (OWN_WORK.has(phase)) this.work?.end(ms);
  }

  /** A copy of the totals so far. */
  read(): PhaseTotals {
    return { ...this.totals };
  }
}
