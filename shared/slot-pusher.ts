/**
 * The worker's side of push slots (server/params/push-slots.ts): while the coordinator's
 * last answer said `slots: true`, a push first asks `grads:slot` for a grant (a few
 * dozen bytes) and sends its payload only with one; a slot refused BUSY costs no upload
 * and is asked again when the refusal's hint says (its place in the coordinator's retry
 * queue, lightly jittered: BusyBackoff.at), a push refused BUSY after the full-jitter
 * back-off (shared/busy-backoff.ts). Otherwise a push goes straight out: under light load
 * there is no extra round trip. Used by the browser engine, the Node worker and the
 * load benchmark, and per ps task by the ps transport (client/engine/ps-transport.ts); sleeping is injected, so the protocol is tested without waiting.
 */
import { BusyBackoff } from './busy-backoff.js';
import { ErrorCode } from './errors.js';
import type { GradientPush, PushAccepted, SlotGrant, SlotRequest } from './protocol.js';
import type { Result } from './result.js';

/** What a push must carry to be sent under slots: the coordinator's GradientPush, or a ps task's PsGradientPush. */
export interface SlottedPush {
  jobId: string;
  data: ArrayBuffer | Uint8Array;
  slot?: string;
}

/** How one push reaches the parameter server (the coordinator, or one ps task): its two requests. */
export interface SlotChannel<P extends SlottedPush = GradientPush, A extends PushAccepted = PushAccepted> {
  ask: (req: SlotRequest) => Promise<Result<SlotGrant>>;
  send: (push: P) => Promise<Result<A>>;
}

/** Payloads smaller than this never need a slot (PushSlotOptions.minBytes' default): receiving them costs little. */
export const SLOT_MIN_BYTES = 16_384;

export interface SlotPusherOptions {
  /** Waits after a BUSY answer (slot or push). Default: a BusyBackoff of its defaults. */
  backoff?: BusyBackoff;
  /** Default: setTimeout. */
  sleep?: (ms: number) => Promise<unknown>;
  /**
   * Ask for a slot before the first push of at least SLOT_MIN_BYTES, before any answer
   * said whether the server is under load. Default true: a crowd of workers starting
   * together would otherwise all send their first payloads at once, a burst the server
   * can only receive, never refuse; one small round trip per worker lets it answer BUSY.
   */
  askFirst?: boolean;
  /** Told of each BUSY answer and the wait it causes (counters, status). */
  onBusy?: (waitMs: number, what: 'slot' | 'push') => void;
}

export class SlotPusher {
  private readonly backoff: BusyBackoff;
  private readonly sleep: (ms: number) => Promise<unknown>;
  private readonly onBusy: (waitMs: number, what: 'slot' | 'push') => void;
  /** The server's last word: ask for a slot before the next push (before any word: askFirst). */
  private required: boolean;

  constructor(o: SlotPusherOptions = {}) {
    this.backoff = o.backoff ?? new BusyBackoff();
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.onBusy = o.onBusy ?? (() => {});
    this.required = o.askFirst ?? true;
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
  async push<P extends SlottedPush, A extends PushAccepted>(push: P, channel: SlotChannel<P, A>): Promise<Result<A>> {
    for (;;) {
      let slot: string | undefined;
      if (this.required && push.data.byteLength >= SLOT_MIN_BYTES) {
        const g = await channel.ask({ jobId: push.jobId, bytes: push.data.byteLength });
        if (!g.ok) {
          if (g.code !== ErrorCode.BUSY) return this.done(g);
          await this.wait(this.backoff.at(g.retryAfterMs), 'slot');
          continue;
        }
        slot = g.slot;
      }
      const r = await channel.send(slot === undefined ? push : { ...push, slot });
      // Only answers that speak of load say whether slots are required: a refusal for another reason (STALE) says nothing.
      if (r.ok || r.code === ErrorCode.BUSY) this.required = r.slots === true;
      if (r.ok || r.code !== ErrorCode.BUSY) return this.done(r);
      await this.wait(this.backoff.next(r.retryAfterMs), 'push');
    }
  }

  private done<T extends object>(r: Result<T>): Result<T> {
    this.backoff.reset();
    return r;
  }

  private async wait(ms: number, what: 'slot' | 'push'): Promise<void> {
    this.onBusy(ms, what);
    await this.sleep(ms);
  }
}
