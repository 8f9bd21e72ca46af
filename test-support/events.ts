/** Waiting on events with a named timeout, never a fixed sleep. */

/** Resolves with the event's first argument, or fails with a named timeout. */
export function waitForEvent<T>(emitter: { once(...args: never[]): unknown }, event: string, ms = 5000): Promise<T> {
  const once = emitter.once as (this: unknown, event: string, fn: (arg: T) => void) => unknown;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for "${event}"`)), ms);
    once.call(emitter, event, (arg: T) => {
      clearTimeout(timer);
      resolve(arg);
    });
  });
}
