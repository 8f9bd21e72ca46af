/**
 * The coordinator's time: what reads it (records, lease expiries, rate limits) and what
 * schedules on it (sync round deadlines, evaluation and checkpoint intervals, the
 * dashboard tick). One clock is injected through CoordinatorOptions, as a Colyseus room
 * owns its Clock, so that tests step time (test-support's ManualClock) instead of
 * sleeping and racing. Parts that only read the time take `now: () => number`.
 */

declare const timerBrand: unique symbol;
/** A scheduled callback, to be cancelled with the clock that made it. */
export type Timer = { readonly [timerBrand]: true };

export interface Clock {
  /** Milliseconds since the Unix epoch, as Date.now. */
  now(): number;
  /** Calls `fn` once, `ms` from now. */
  setTimeout(fn: () => void, ms: number): Timer;
  /** Calls `fn` every `ms` until cleared. */
  setInterval(fn: () => void, ms: number): Timer;
  /** Cancels a timer of this clock; clearing one that already fired or was cleared does nothing. */
  clear(timer: Timer): void;
}

/** Wall-clock time and Node's timers, unref'd: a pending deadline never keeps the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    return setTimeout(fn, ms).unref() as unknown as Timer;
  },
  setInterval(fn, ms) {
    return setInterval(fn, ms).unref() as unknown as Timer;
  },
  clear(timer) {
    // clearTimeout and clearInterval are interchangeable in Node.
    clearTimeout(timer as unknown as NodeJS.Timeout);
  },
};
