/**
 * Overload is answered, not queued. One PushAdmission per process (the coordinator, a ps
 * task) stands in front of every job's push path: a push it cannot take at once is
 * refused BUSY before it touches a lease or a parameter, with a hint of when to come
 * back, and the worker backs off (shared/busy-backoff.ts). Two bounds, either refuses:
 *
 * - what the process admitted and has not answered yet (pushes and their bytes): the
 *   answers a sync round holds until it closes, and anything a parameter service
 *   answers later;
 * - how late the event loop runs (loop-delay.ts): an async push is applied and answered
 *   in the handler, so its queue is in front of the handler, in the sockets' buffers
 *   and the loop's backlog; a late loop is that queue seen from inside. A push that
 *   reached the handler has already cost most of what it costs (receiving ~400 kB
 *   outweighs applying it several times over), so refusing it saves little: BUSY here
 *   is a signal to slow down. Past the bound a share of pushes is refused, growing
 *   with the delay up to one half (refusing them all would leave the loop receiving
 *   and accepting nothing), and the hint doubles for every second the loop stays late
 *   (halving every half second once it is on time, down to retryAfterMs), so that few
 *   refusals send workers away for long rather than many for a moment.
 *
 * Why each default is what it is, and what was measured: docs/reliability.md, "Overload".
 */
import { ErrorCode } from '../../shared/errors.js';
import type { Failure } from '../../shared/result.js';
import type { Clock } from '../clock.js';
import { LoopDelay } from './loop-delay.js';

/** The largest share of pushes a late loop refuses. */
const MAX_SHED = 0.5;
/** The longest hint a late loop gives (the workers' back-off cap, shared/busy-backoff.ts). */
const MAX_LOOP_HINT_MS = 30_000;

export interface PushAdmissionOptions {
  /**
   * Pushes admitted and not yet answered, across the process's jobs. Default 4096:
   * above any sync round's worker count (a round holds one answer per worker, and a
   * round this bound cut short would end on its deadline every time).
   */
  maxInFlight?: number;
  /** Bytes of those pushes' payloads. Default 1 GiB (a held push keeps its payload until answered). */
  maxInFlightBytes?: number;
  /**
   * Refuse while the event loop runs later than this, turn after turn. Default off
   * (Infinity): on an idle 2-core machine with 1,000 simulated workers at 400 pushes/s it
   * halved what was accepted (78.8/s against 186/s without it; docs/reliability.md,
   * "Overload"), since a late loop there is the machine's CPU, not a queue BUSY can drain.
   */
  maxLoopDelayMs?: number;
  /** The hint a BUSY refusal carries (wait at least about this long); a late loop's grows from it while the loop stays late, up to 30 s. Default 1000 ms. */
  retryAfterMs?: number;
  /** How often the loop's delay is sampled. Default 20 ms. */
  sampleMs?: number;
  /** Uniform in [0, 1): which pushes a late loop refuses. Default Math.random. */
  random?: () => number;
}

export interface AdmissionCounts {
  inFlight: number;
  inFlightBytes: number;
  /** BUSY refusals since the process began. */
  busy: number;
}

export class PushAdmission {
  private readonly maxInFlight: number;
  private readonly maxInFlightBytes: number;
  private readonly maxLoopDelayMs: number;
  private readonly retryAfterMs: number;
  /** Samples the loop's lateness; null when the bound is off (Infinity): no timer at all then. */
  private readonly loop: LoopDelay | null;
  private readonly random: () => number;
  /** The hint a late loop's refusals carry now. */
  private loopHintMs: number;
  private inFlight = 0;
  private inFlightBytes = 0;
  private busy = 0;

  constructor(clock: Clock, o: PushAdmissionOptions = {}) {
    this.maxInFlight = o.maxInFlight ?? 4096;
    this.maxInFlightBytes = o.maxInFlightBytes ?? 1024 * 1024 * 1024;
    this.maxLoopDelayMs = o.maxLoopDelayMs ?? Number.POSITIVE_INFINITY;
    this.retryAfterMs = o.retryAfterMs ?? 1000;
    this.random = o.random ?? Math.random;
    for (const [name, v] of Object.entries({ maxInFlight: this.maxInFlight, maxInFlightBytes: this.maxInFlightBytes, maxLoopDelayMs: this.maxLoopDelayMs, retryAfterMs: this.retryAfterMs })) {
      if (!(v >= 0)) throw new RangeError(`PushAdmission: ${name} must be a number ≥ 0, got ${v}`);
    }
    this.loopHintMs = this.retryAfterMs;
    // By the time between samples, not their count: a late loop samples seldom.
    this.loop = Number.isFinite(this.maxLoopDelayMs)
      ? new LoopDelay(clock, o.sampleMs ?? 20, (late, since) => {
          this.loopHintMs =
            late > this.maxLoopDelayMs ? Math.min(MAX_LOOP_HINT_MS, this.loopHintMs * 2 ** (since / 1000)) : Math.max(this.retryAfterMs, this.loopHintMs * 2 ** (-since / 500));
        })
      : null;
  }

  /** The hint a late loop's refusals carry now (ms). */
  get loopRetryAfterMs(): number {
    return Math.round(this.loopHintMs);
  }

  /**
   * Admits a push of `bytes` (then call leave(bytes) once it is answered, whatever the
   * answer) or refuses it BUSY; a refused push was never admitted.
   */
  enter(bytes: number): Failure | null {
    if (this.inFlight + 1 > this.maxInFlight) return this.refuse(`${this.inFlight} pushes are in flight`, this.retryAfterMs);
    if (this.inFlightBytes + bytes > this.maxInFlightBytes) return this.refuse(`${this.inFlightBytes} bytes of pushes are in flight`, this.retryAfterMs);
    const late = this.loop?.ms ?? 0;
    if (late > this.maxLoopDelayMs) {
      // Past the bound by a share x of it, a share x of pushes is refused (at most MAX_SHED).
      const past = (late - this.maxLoopDelayMs) / Math.max(1, this.maxLoopDelayMs);
      if (this.random() < Math.min(MAX_SHED, past)) return this.refuse(`the event loop runs ${Math.round(late)} ms late`, this.loopRetryAfterMs);
    }
    this.inFlight += 1;
    this.inFlightBytes += bytes;
    return null;
  }

  private refuse(why: string, retryAfterMs: number): Failure {
    this.busy += 1;
    return { ok: false, code: ErrorCode.BUSY, message: `The parameter server is busy (${why}): send the same push again later`, retryAfterMs };
  }

  leave(bytes: number): void {
    this.inFlight -= 1;
    this.inFlightBytes -= bytes;
  }

  counts(): AdmissionCounts {
    return { inFlight: this.inFlight, inFlightBytes: this.inFlightBytes, busy: this.busy };
  }

  close(): void {
    this.loop?.close();
  }
}
