/**
 * A Clock whose time moves only when a test says so. Inject it with
 * `createCoordinator({ clock })` (or startCoordinator's options), then `advance(ms)`
 * to reach a deadline exactly: nothing fires early, nothing waits on the wall clock.
 * Sockets, threads and I/O stay real; only the coordinator's time is stepped.
 */
import type { Clock, Timer } from '../server/clock.js';

interface Scheduled {
  due: number;
  /** Breaks ties between timers due at the same time: the earlier scheduled fires first. */
  order: number;
  /** Null for a timeout, the interval's period otherwise. */
  period: number | null;
  fn: () => void;
}

/** 2026-01-01T00:00:00Z: a fixed start, so that records' times are the same every run. */
export const MANUAL_CLOCK_START = Date.UTC(2026, 0, 1);

export class ManualClock implements Clock {
  private time: number;
  private nextOrder = 0;
  private readonly timers = new Set<Scheduled>();
  private advancing = false;

  constructor(start = MANUAL_CLOCK_START) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.schedule(fn, ms, false);
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.schedule(fn, ms, true);
  }

  clear(timer: Timer): void {
    this.timers.delete(timer as unknown as Scheduled);
  }

  /** Timers that have neither fired (timeouts) nor been cleared. */
  get pending(): number {
    return this.timers.size;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way in time
   * order (equal times in the order they were scheduled), with now() at each timer's
   * due time while it runs. Timers that callbacks schedule fire too if they fall due
   * within the step. Callbacks run synchronously: await what they start afterwards.
   */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`advance(${ms}): time only moves forward`);
    if (this.advancing) throw new Error('advance() called from a timer callback');
    const target = this.time + ms;
    this.advancing = true;
    try {
      for (let t = this.nextDue(target); t; t = this.nextDue(target)) {
        // A timer overdue after a stall runs late, at the time it gets to; an interval goes on from then, as Node's does.
        this.time = Math.max(this.time, t.due);
        if (t.period === null) this.timers.delete(t);
        else Object.assign(t, { due: this.time + t.period, order: this.nextOrder++ });
        t.fn();
      }
      this.time = target;
    } finally {
      this.advancing = false;
    }
  }

  /**
   * Moves time forward by `ms` firing nothing, as a blocked event loop lets time pass:
   * the timers that fell due meanwhile fire at the next advance, late, at its start.
   */
  stall(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`stall(${ms}): time only moves forward`);
    if (this.advancing) throw new Error('stall() called from a timer callback');
    this.time += ms;
  }

  private schedule(fn: () => void, ms: number, repeat: boolean): Timer {
    // As Node: a delay below 1 ms (or not a number) is 1 ms, so an interval cannot spin.
    const delay = ms >= 1 ? ms : 1;
    const t: Scheduled = { due: this.time + delay, order: this.nextOrder++, period: repeat ? delay : null, fn };
    this.timers.add(t);
    return t as unknown as Timer;
  }

  private nextDue(limit: number): Scheduled | null {
    let first: Scheduled | null = null;
    for (const t of this.timers) {
      if (t.due > limit) continue;
      if (!first || t.due < first.due || (t.due === first.due && t.order < first.order)) first = t;
    }
    return first;
  }
}
