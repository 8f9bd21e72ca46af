/**
 * Where a stage's wall time goes, phase by phase (docs/model-parallelism.md, "Where stage
 * 0's idle time went"): the busy fraction says how much of it the stage computed, not
 * what it waited for in between. Stage 0's run loop is sequential, so its phases
 * (waiting for a push's answer, for a pull, for a mini-batch to come back; decoding a
 * pull, reading and encoding a gradient; computing forwards) add up to its wall time;
 * frames it handles meanwhile (backwards) run beside the loop and are timed as their
 * own phase. Cumulative totals in milliseconds, read by the bench's stage workers.
 */
export type StagePhase =
  /** Leasing a shard, fetching it, completing it. */
  | 'lease'
  /** At a mini-batch's start, the answer of the push closed two mini-batches before (the staleness bound). */
  | 'wait-answer'
  /** At a mini-batch's start, the pull issued after that answer. */
  | 'wait-pull'
  /** Decoding a pull and loading it into the layers. */
  | 'apply-pull'
  /** Computing a micro-batch's forward (busy). */
  | 'forward'
  /** Encoding a frame and handing it to the transport. */
  | 'send-frame'
  /** Waiting for the oldest mini-batch's micro-batches to come back. */
  | 'wait-back'
  /** Reading the step's summed gradient out of the backend. */
  | 'read-gradient'
  /** Adding it to the accumulator and encoding the push. */
  | 'encode-push'
  /** Before sending a push, the previous push's answer. */
  | 'wait-previous'
  /** Handling a neighbour's frame: decoding it (beside the loop at stage 0). */
  | 'decode-frame'
  /** Computing a backward, or the last stage's loss and backward (busy; beside the loop at stage 0). */
  | 'backward';

export type PhaseTotals = Partial<Record<StagePhase, number>>;

export class StagePhases {
  private readonly totals: PhaseTotals = {};

  constructor(private readonly now: () => number = () => performance.now()) {}

  async time<T>(phase: StagePhase, work: () => Promise<T> | T): Promise<T> {
    const started = this.now();
    try {
      return await work();
    } finally {
      this.add(phase, this.now() - started);
    }
  }

  add(phase: StagePhase, ms: number): void {
    this.totals[phase] = (this.totals[phase] ?? 0) + ms;
  }

  /** A copy of the totals so far. */
  read(): PhaseTotals {
    return { ...this.totals };
  }
}
