/**
 * The throttle: at duty d the engine does what it would at full speed, d times as
 * often, so its CPU share (and its throughput) is d times what it is at 100 %.
 *
 * At full speed a batch takes its own work — the gradient, encoding the push,
 * loading pulled parameters, the lease and shard calls between batches: everything
 * from the end of the last rest to the end of the batch — or, when longer, the round
 * trip of the exchange it waits for, since the pipeline (async-exchange.ts) hides a
 * round trip behind the next batch only up to that batch's own time. So a batch's cost
 * is max(work, round trip), and resting cost/d − work after it makes each batch take
 * cost/d of wall time.
 *
 * Counting only the tfjs step, as the engine once did, missed both: the rest overlapped
 * the round trip the full-speed engine sat through, so a network-bound worker at 50 %
 * trained at 89–102 % of its full rate. Round trips are timed from send to answer (the
 * engine's transport), smoothed, and measured while the engine rests, so they are not
 * inflated by its own computing.
 */

/** Weight of the newest round trip in the smoothed one. */
const SMOOTHING = 0.25;

export class DutyCycle {
  private roundTrip = 0;
  /** The smoothed work of a batch while at 100 % (0: not seen since the job began). */
  private fullSpeed = 0;
  private inflight = 0;
  private roundStarted = 0;

  constructor(
    private duty: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.set(duty);
  }

  get value(): number {
    return this.duty;
  }

  set(duty: number): void {
    if (!(duty > 0 && duty <= 1)) throw new RangeError(`duty cycle must be in (0, 1], got ${duty}`);
    this.duty = duty;
  }

  /** The smoothed round trip of the exchange's requests, ms (0 before the first). */
  get roundTripMs(): number {
    return this.roundTrip;
  }

  /**
   * Times an exchange request (a push or a pull). Requests sent together make one
   * round, from the first send to the last answer: what the next batch would wait for.
   */
  timed<T>(request: () => Promise<T>): Promise<T> {
    if (this.inflight++ === 0) this.roundStarted = this.now();
    const settle = () => {
      if (--this.inflight === 0) {
        const ms = this.now() - this.roundStarted;
        this.roundTrip = this.roundTrip ? this.roundTrip + SMOOTHING * (ms - this.roundTrip) : ms;
      }
    };
    let p: Promise<T>;
    try {
      p = request();
    } catch (err) {
      settle();
      throw err;
    }
    p.then(settle, settle);
    return p;
  }

  /**
   * Milliseconds to rest after a batch whose work (since the last rest ended) took
   * `workMs`. At 100 % that work is the batch's whole period, waits for the
   * coordinator included, and is remembered: a coordinator that the full-speed engine
   * itself keeps busy answers slower than it does a resting one, so the round trip seen
   * while throttled understates what a batch cost at full speed.
   */
  restAfter(workMs: number): number {
    if (this.duty >= 1) {
      this.fullSpeed = this.fullSpeed ? this.fullSpeed + SMOOTHING * (workMs - this.fullSpeed) : workMs;
      return 0;
    }
    const cost = Math.max(workMs, this.roundTrip, this.fullSpeed);
    return Math.max(0, cost / this.duty - workMs);
  }

  /** A new job (another model, another coordinator load): what full speed cost is unknown again. */
  forgetFullSpeed(): void {
    this.fullSpeed = 0;
    this.roundTrip = 0;
  }
}
