/**
 * How far behind the event loop is running, measured on the injected clock: a timer due
 * every `periodMs` notes how late it fired. A push that reaches its handler while the
 * loop runs late waited about that long behind other sockets' bytes (the queue in front
 * of the parameter server is there, not in the server: docs/reliability.md, "Overload").
 * One timer per process; reading the delay costs one clock read and allocates nothing.
 */
import type { Clock, Timer } from '../clock.js';

export class LoopDelay {
  /** When the pending tick is due. */
  private due: number;
  /** How late the last tick fired. */
  private lastLateMs = 0;
  private readonly timer: Timer;

  constructor(
    private readonly clock: Clock,
    private readonly periodMs = 20,
  ) {
    this.due = clock.now() + periodMs;
    this.timer = clock.setInterval(() => {
      const now = clock.now();
      this.lastLateMs = Math.max(0, now - this.due);
      this.due = now + periodMs;
    }, periodMs);
  }

  /**
   * The last tick's lateness, or the pending tick's when it is already later: a loop
   * turn that has been handling sockets for long is seen before its timer can fire.
   */
  get ms(): number {
    return Math.max(this.lastLateMs, this.clock.now() - this.due);
  }

  close(): void {
    this.clock.clear(this.timer);
  }
}
