/**
 * The worker's side of push slots (server/params/push-slots.ts): while the coordinator's
 * last answer said `slots: true`, a push first asks `grads:slot` for a grant (a few
 * dozen bytes) and sends its payload only with one; a slot refused BUSY costs no upload
 * and is asked again after the full-jitter back-off (shared/busy-backoff.ts), as a push
 * refused BUSY is sent again. Otherwise a push goes straight out: under light load
 * there is no extra round trip. Used by the browser engine, the Node worker and the
 * load benchmark; sleeping is injected, so the protocol is tested without waiting.
 */
import { BusyBackoff } from './busy-backoff.js';
import { ErrorCode } from './errors.js';
import type { GradientPush, PushAccepted, SlotGrant, SlotRequest } from './protocol.js';
import type { Result } from './result.js';

/** How one push reaches the coordinator: its two requests. */
export interface SlotChannel {
  ask: (req: SlotRequest) => Promise<Result<SlotGrant>>;
  send: (push: GradientPush) => Promise<Result<PushAccepted>>;
}

export interface SlotPusherOptions {
  /** Waits after a BUSY answer (slot or push). Default: a BusyBackoff of its defaults. */
  backoff?: BusyBackoff;
  /** Default: setTimeout. */
  sleep?: (ms: number) => Promise<unknown>;
  /** Told of each BUSY answer and the wait it causes (counters, status). */
  onBusy?: (waitMs: number, what: 'slot' | 'push') => void;
}

export class SlotPusher {
  private readonly backoff: BusyBackoff;
  private readonly sleep: (ms: number) => Promise<unknown>;
  private readonly onBusy: (waitMs: number, what: 'slot' | 'push') => void;
  /** The coordinator's last word: ask for a slot before the next push. */
  private required = false;

  constructor(o: SlotPusherOptions = {}) {
    this.backoff = o.backoff ?? new BusyBackoff();
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.onBusy = o.onBusy ?? (() => {});
  }

  /** Whether the next push asks for a slot first. */
  get slotsRequired(): boolean {
    return this.required;
  }

  /**
   * Sends `push` (with a slot first when one is required) until the answer is not BUSY.
   * A slot refused otherwise than BUSY (the job is gone) is the push's answer. A thrown
   * error (a lost socket) ends the tries as it would a single send.
   */
  async push(push: GradientPush, channel: SlotChannel): Promise<Result<PushAccepted>> {
    for (;;) {
      let slot: string | undefined;
      if (this.required) {
        const g = await channel.ask({ jobId: push.jobId, bytes: push.data.byteLength });
        if (!g.ok) {
          if (g.code !== ErrorCode.BUSY) return this.done(g);
          await this.wait(g.retryAfterMs, 'slot');
          continue;
        }
        slot = g.slot;
      }
      const r = await channel.send(slot === undefined ? push : { ...push, slot });
      // Only answers that speak of load say whether slots are required: a refusal for another reason (STALE) says nothing.
      if (r.ok || r.code === ErrorCode.BUSY) this.required = r.slots === true;
      if (r.ok || r.code !== ErrorCode.BUSY) return this.done(r);
      await this.wait(r.retryAfterMs, 'push');
    }
  }

  private done<T extends object>(r: Result<T>): Result<T> {
    this.backoff.reset();
    return r;
  }

  private async wait(retryAfterMs: number | undefined, what: 'slot' | 'push'): Promise<void> {
    const ms = this.backoff.next(retryAfterMs);
    this.onBusy(ms, what);
    await this.sleep(ms);
  }
}
