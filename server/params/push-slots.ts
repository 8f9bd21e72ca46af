/**
 * Push slots: refusal before the bytes arrive (flow control, as TCP's window or HTTP/2's).
 * A push refused BUSY after its payload was received has already cost most of what it
 * costs (receiving ~400 kB outweighs applying it several times over:
 * docs/reliability.md, "Overload"), so under load the coordinator asks workers to
 * request a slot first: `grads:slot` (a few dozen bytes) gets a grant or BUSY with a hint,
 * and only a granted worker sends its payload. One PushSlots per process.
 *
 * - The window: at most so many grants whose payload has not arrived yet (nor expired).
 *   That bounds the bytes on their way in, and so how long a granted push waits behind
 *   others: a push's answer comes within about window ÷ capacity of its send. It is
 *   sized from the measured service rate (payloads taken in per second over the last
 *   second) × (the pipe + `queueMs`), between `window` and `maxWindow`. The pipe is the
 *   least time any grant took from its grant to its payload's arrival (the grant's way
 *   back, the worker's send, the upload on an empty loop: TCP Vegas's base RTT, kept
 *   as the least ever seen, so a queue never passes for pipe). Rate × pipe grants keep
 *   the loop busy; rate × queueMs more are the queue, each granted upload sharing the
 *   loop with them for about queueMs. While the loop has room the rate, and so the
 *   window, grows; once it is the bottleneck the window settles at capacity × (pipe +
 *   queueMs). A fixed window either leaves the loop idle (too small for the pipe) or
 *   lets answers come late (too large), and the capacity is what the machine gives the
 *   process now.
 * - A refused slot's hint (`retryAfterMs`) is a place in a queue, not a guess: refused
 *   askers are told to come back one service interval (1 ÷ rate) apart, after those
 *   told before them, so they return about as fast as slots free and not all at once.
 * - Slots are required only under load: from the first sign of pressure (a slot
 *   refused because the window was full, a push refused by the in-flight bounds, or the
 *   event loop late turn after turn while payloads arrive, which is the queue in front
 *   of the handlers seen from inside) until `holdMs` passed without one. Light load costs no round trip.
 * - Every answer to a large push says whether the next one needs a slot (`slots: true`).
 *   A push sent without a grant by a socket that was told so is refused BUSY and counts
 *   as a strike (socket-guard.ts); one sent before its socket was told is taken as usual:
 *   its bytes are already paid for, and refusing it would waste them.
 * - A grant is bound to its socket and job, is used once, and lasts `grantMs` plus the
 *   time its payload takes at `uploadBytesPerSecond` (a slow uplink's large push is not
 *   refused after its upload). An expired grant frees its slot; a disconnect frees its
 *   socket's grants.
 *
 * Time is the injected clock's; expiry is looked at when the window is, so no timer runs
 * for it. Why each default is what it is: docs/reliability.md, "Overload".
 */
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';
import { SLOT_MIN_BYTES } from '../../shared/slot-pusher.js';
import type { Clock } from '../clock.js';
import { LoopDelay } from './loop-delay.js';
import { ServiceRate } from './service-rate.js';

export interface PushSlotOptions {
  /** The least window: grants whose payload has not arrived yet, whatever the rate. Default 8 (the window grows from there with the rate it lets through). */
  window?: number;
  /** The largest window, however fast payloads are taken in. Default 512. Equal to `window`: a fixed window. */
  maxWindow?: number;
  /**
   * How long a granted payload may wait behind the others: the window is the service rate
   * × (the pipe + this). Default 150 ms: at 300 a few answers in 10,000 at 2× capacity came
   * after 1 s (the slowest 1.10 s, 2026-12-02, idle), when the loop slowed for a moment
   * under a full window; at 150, two idle runs answered every push within 0.6 s and still
   * accepted 112–120 % of capacity (docs/reliability.md, "Overload").
   */
  queueMs?: number;
  /** How long a grant lasts before its payload's own upload time. Default 2000 ms. */
  grantMs?: number;
  /** The slowest upload a grant waits for: its payload's bytes at this rate are added to grantMs. Default 125,000 B/s (1 Mbit/s). */
  uploadBytesPerSecond?: number;
  /** Slots are required while the event loop runs later than this turn after turn. Default 100 ms; Infinity: never for that reason (no timer). */
  lateMs?: number;
  /** Slots stay required until this long passed without pressure. Default 5000 ms. */
  holdMs?: number;
  /** Pushes with fewer payload bytes never need a slot (receiving them costs little: a ps job's notice to its chief). Default 16,384. */
  minBytes?: number;
  /** The hint of a slot refused BUSY while no payload arrived in the last second (no service rate to spread retries by). Default 500 ms. */
  retryAfterMs?: number;
  /** The longest hint of a refused slot: the retry queue is no longer than this. Default 1000 ms (10 s sent workers away while slots stood free: docs/reliability.md). */
  maxRetryAfterMs?: number;
  /** How often the loop's lateness is sampled. Default 20 ms. */
  sampleMs?: number;
}

export interface SlotCounts {
  /** Grants outstanding now. */
  outstanding: number;
  /** The window now (grants allowed outstanding). */
  window: number;
  /** Payloads of at least minBytes taken in per second, over the last second. */
  servicePerSecond: number;
  /** The least time a grant took to its payload's arrival (null: none arrived yet). */
  pipeMs: number | null;
  granted: number;
  /** Slot requests refused BUSY. */
  refused: number;
  /** Pushes refused BUSY for coming without a grant their socket was told to ask for. */
  ungranted: number;
  /** Grants that expired unused. */
  expired: number;
  required: boolean;
}

interface Grant {
  socketId: string;
  jobId: string;
  grantedAt: number;
  expiresAt: number;
}

/** What a push's grant (or its absence) means for it. */
export type SlotVerdict = 'granted' | 'free' | 'refused';

export class PushSlots {
  private readonly minWindow: number;
  private readonly maxWindow: number;
  private readonly queueMs: number;
  /** The least time a grant took to its payload's arrival; Infinity: none arrived yet. */
  private pipeMs = Number.POSITIVE_INFINITY;
  private readonly maxRetryAfterMs: number;
  private readonly rate: ServiceRate;
  /** When the last refused asker was told to come back; -Infinity: none waiting. */
  private retryAt = Number.NEGATIVE_INFINITY;
  private readonly grantMs: number;
  private readonly uploadBytesPerMs: number;
  private readonly lateMs: number;
  private readonly holdMs: number;
  readonly minBytes: number;
  private readonly retryAfterMs: number;
  private readonly loop: LoopDelay | null;
  private readonly grants = new Map<string, Grant>();
  private nextId = 1;
  /** When pressure was last seen; -Infinity: never. */
  private pressureAt = Number.NEGATIVE_INFINITY;
  /** When a payload that a slot would cover last arrived; -Infinity: never. */
  private payloadAt = Number.NEGATIVE_INFINITY;
  private readonly counts_ = { granted: 0, refused: 0, ungranted: 0, expired: 0 };
  /** The admission's BUSY count when last looked at. */
  private busySeen: number;

  constructor(
    private readonly clock: Clock,
    o: PushSlotOptions = {},
    /** BUSY refusals of the in-flight bounds so far (PushAdmission's count): a rise is pressure. */
    private readonly admissionBusy: () => number = () => 0,
  ) {
    this.minWindow = o.window ?? 8;
    this.maxWindow = o.maxWindow ?? Math.max(512, this.minWindow);
    this.queueMs = o.queueMs ?? 150;
    this.maxRetryAfterMs = o.maxRetryAfterMs ?? 1000;
    this.rate = new ServiceRate(clock);
    this.grantMs = o.grantMs ?? 2000;
    this.uploadBytesPerMs = (o.uploadBytesPerSecond ?? 125_000) / 1000;
    this.lateMs = o.lateMs ?? 100;
    this.holdMs = o.holdMs ?? 5000;
    this.minBytes = o.minBytes ?? SLOT_MIN_BYTES;
    this.retryAfterMs = o.retryAfterMs ?? 500;
    for (const [name, v] of Object.entries({ queueMs: this.queueMs, maxRetryAfterMs: this.maxRetryAfterMs, grantMs: this.grantMs, uploadBytesPerMs: this.uploadBytesPerMs, lateMs: this.lateMs, holdMs: this.holdMs, minBytes: this.minBytes, retryAfterMs: this.retryAfterMs })) {
      if (!(v >= 0)) throw new RangeError(`PushSlots: ${name} must be a number ≥ 0, got ${v}`);
    }
    if (!Number.isInteger(this.minWindow) || this.minWindow < 1) throw new RangeError(`PushSlots: window must be an integer ≥ 1, got ${this.minWindow}`);
    if (!Number.isInteger(this.maxWindow) || this.maxWindow < this.minWindow) throw new RangeError(`PushSlots: maxWindow must be an integer ≥ window (${this.minWindow}), got ${this.maxWindow}`);
    this.busySeen = admissionBusy();
    // A late loop is a queue of pushes only while pushes arrive: start-up, a job being
    // built or an evaluation make it late too, and slots would only refuse clients then.
    this.loop = Number.isFinite(this.lateMs) ? new LoopDelay(clock, o.sampleMs ?? 20, (late) => late > this.lateMs && this.receiving() && this.pressed()) : null;
  }

  private pressed(): void {
    this.pressureAt = this.clock.now();
  }

  /** Whether payloads a slot would cover arrived within the last second. */
  private receiving(): boolean {
    return this.clock.now() - this.payloadAt < 1000;
  }

  /** Whether a push of `bytes` needs a grant now. */
  required(bytes: number): boolean {
    if (bytes < this.minBytes) return false;
    const busy = this.admissionBusy();
    if (busy !== this.busySeen) {
      this.busySeen = busy;
      this.pressed();
    }
    return this.clock.now() - this.pressureAt < this.holdMs;
  }

  /** Grants allowed outstanding now: the service rate × (the pipe + queueMs), within [window, maxWindow]. */
  window(): number {
    const pipe = Number.isFinite(this.pipeMs) ? this.pipeMs : 0;
    const sized = Math.ceil((this.rate.perSecond() * (pipe + this.queueMs)) / 1000);
    return Math.min(this.maxWindow, Math.max(this.minWindow, sized));
  }

  /**
   * When a refused asker should ask again: one service interval after the last one told,
   * so the refused come back spread at the rate slots free. Without a measured rate
   * (nothing arrived in the last second), the fixed hint.
   */
  private retryHint(): number {
    const perSecond = this.rate.perSecond();
    if (perSecond <= 0) return this.retryAfterMs;
    const now = this.clock.now();
    this.retryAt = Math.min(Math.max(this.retryAt, now) + 1000 / perSecond, now + this.maxRetryAfterMs);
    return Math.ceil(this.retryAt - now);
  }

  /** A slot for one push of `bytes` from `socketId` on `jobId`: its id, and how long it lasts; or BUSY with when to ask again. */
  grant(socketId: string, jobId: string, bytes: number): { slot: string; ttlMs: number } | Failure {
    this.expire();
    if (this.grants.size >= this.window()) {
      this.pressed();
      this.counts_.refused += 1;
      return { ...fail(ErrorCode.BUSY, `The parameter server is busy (${this.grants.size} pushes granted and on their way): ask for a slot again later`), retryAfterMs: this.retryHint() };
    }
    const ttlMs = Math.ceil(this.grantMs + bytes / Math.max(this.uploadBytesPerMs, 1e-9));
    const slot = `s${(this.nextId++).toString(36)}`;
    this.grants.set(slot, { socketId, jobId, grantedAt: this.clock.now(), expiresAt: this.clock.now() + ttlMs });
    this.counts_.granted += 1;
    return { slot, ttlMs };
  }

  /**
   * Judges a push as it arrives: its grant (bound to this socket and job, unexpired) is
   * used up and frees its slot ('granted'); without one it is 'free' unless slots are
   * required and its socket was told so ('refused': answer BUSY, count a strike).
   */
  admit(socketId: string, jobId: string, bytes: number, slot: string | undefined, told: boolean): SlotVerdict {
    this.expire();
    if (bytes >= this.minBytes) {
      this.payloadAt = this.clock.now();
      this.rate.record();
    }
    const g = slot === undefined ? undefined : this.grants.get(slot);
    if (g && g.socketId === socketId && g.jobId === jobId) {
      this.grants.delete(slot!);
      this.pipeMs = Math.min(this.pipeMs, this.clock.now() - g.grantedAt);
      return 'granted';
    }
    if (told && this.required(bytes)) {
      this.counts_.ungranted += 1;
      return 'refused';
    }
    return 'free';
  }

  /** The socket is gone: its grants' slots are free. */
  release(socketId: string): void {
    for (const [id, g] of this.grants) if (g.socketId === socketId) this.grants.delete(id);
  }

  private expire(): void {
    const now = this.clock.now();
    for (const [id, g] of this.grants) {
      if (g.expiresAt > now) continue;
      this.grants.delete(id);
      this.counts_.expired += 1;
    }
  }

  counts(): SlotCounts {
    this.expire();
    return { outstanding: this.grants.size, window: this.window(), servicePerSecond: this.rate.perSecond(), pipeMs: Number.isFinite(this.pipeMs) ? this.pipeMs : null, ...this.counts_, required: this.required(this.minBytes) };
  }

  close(): void {
    this.loop?.close();
  }
}
