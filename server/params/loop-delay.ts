/**
 * How far behind the event loop is running, measured on the injected clock: a timer due
 * every `periodMs` notes how late it fired. A push that reaches its handler while the
 * loop runs late waited about that long behind other sockets' bytes (the queue in front
 * of the parameter server is there, not in the server: docs/reliability.md, "Overload").
 * The delay is the lesser of the last two ticks' lateness: a loop that is late turn
 * after turn has a queue, one long turn (a collection, a job being built) does not.
 * One timer per process; reading the delay allocates nothing.
 */
import type { Clock, Timer } from '../clock.js';

export class LoopDelay {
  /** When the pending tick is due. */
  private due: number;
  /** How late the last tick and the one before fired. */
  private lastLateMs = 0;
  private previousLateMs = 0;
  private readonly timer: Timer;

  /** `onSample` is told the delay after each tick, and the time since the tick before. */
  constructor(
    private readonly clock: Clock,
    periodMs = 20,
    onSample: (delayMs: number, sinceMs: number) => void = () => {},
  ) {
    this.due = clock.now() + periodMs;
    this.timer = clock.setInterval(() => {
      const now = clock.now();
      const since = now - (this.due - periodMs);
      this.previousLateMs = this.lastLateMs;
      this.lastLateMs = Math.max(0, now - this.due);
      this.due = now + periodMs;
      onSample(this.ms, since);
    }, periodMs);
  }

  /** How late the loop runs now: the lesser lateness of the last two ticks. */
  get ms(): number {
    return Math.min(this.lastLateMs, this.previousLateMs);
  }

  close(): void {
    this.clock.clear(this.timer);
  }
}
