/**
 * How a worker honours BUSY (server/params/push-admission.ts): it sends the same push
 * again after a jittered exponential back-off ("full jitter": a uniform wait in
 * [0, ceiling), the ceiling doubling per BUSY in a row from baseMs up to capMs, and
 * never below the server's retryAfterMs hint). The gradient is kept whole, not folded
 * into the next one: a BUSY push changed nothing and its lease's batches still wait for
 * it. Randomness and sleeping are injected, so the policy is tested without waiting.
 */
import { ErrorCode } from './errors.js';
import type { Result } from './result.js';

export interface BusyBackoffOptions {
  /** The first ceiling. Default 250 ms. */
  baseMs?: number;
  /** The largest ceiling. Default 30,000 ms. */
  capMs?: number;
  /** Uniform in [0, 1). Default Math.random. */
  random?: () => number;
}

export class BusyBackoff {
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly random: () => number;
  private inARow = 0;

  constructor(o: BusyBackoffOptions = {}) {
    this.baseMs = o.baseMs ?? 250;
    this.capMs = o.capMs ?? 30_000;
    this.random = o.random ?? Math.random;
  }

  /** BUSY answers in a row so far. */
  get busyInARow(): number {
    return this.inARow;
  }

  /** The wait before sending again after one more BUSY, given the server's hint. */
  next(retryAfterMs = 0): number {
    const doubled = this.baseMs * 2 ** Math.min(this.inARow, 30);
    this.inARow += 1;
    const ceiling = Math.min(this.capMs, Math.max(doubled, retryAfterMs));
    return this.random() * ceiling;
  }

  /**
   * The wait after a BUSY whose hint is a time the server set aside for this worker (a
   * refused push slot's place in the server's retry queue, server/params/push-slots.ts):
   * the hint plus up to a fifth of it, so workers told the same time do not come back
   * in one burst, and not doubled per BUSY in a row: the server already spaced its
   * refused askers at the rate it frees slots, and a worker that drew a short wait by
   * chance would only ask again into a full window. Without a hint (0 or none): next().
   */
  at(retryAfterMs = 0): number {
    if (!(retryAfterMs > 0)) return this.next();
    this.inARow += 1;
    return Math.min(this.capMs, retryAfterMs * (1 + 0.2 * this.random()));
  }

  /** An answer other than BUSY: the next BUSY starts from baseMs again. */
  reset(): void {
    this.inARow = 0;
  }
}

/**
 * Sends with `send` until the answer is not BUSY, sleeping `backoff`'s wait between
 * tries; `onBusy` is told of each BUSY (counters, status). A thrown error (a lost
 * socket) ends the tries as it would a single send.
 */
export async function sendHonouringBusy<T extends object>(
  send: () => Promise<Result<T>>,
  backoff: BusyBackoff,
  sleep: (ms: number) => Promise<unknown>,
  onBusy: (waitMs: number) => void = () => {},
): Promise<Result<T>> {
  for (;;) {
    const r = await send();
    if (r.ok || r.code !== ErrorCode.BUSY) {
      backoff.reset();
      return r;
    }
    const wait = backoff.next(r.retryAfterMs);
    onBusy(wait);
    await sleep(wait);
  }
}
