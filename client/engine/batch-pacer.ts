/**
 * When the next mini-batch may start: after the throttle's rest (duty-cycle.ts) and
 * once the data cap is out of debt (data-cap.ts). The browser engine and the Node
 * worker (bench/node-worker.ts) pace their shard loops with it, so the cap proven on a
 * shaped link is the page's.
 */
import { DataCap, LINK_BYTES_PER_COUNTED_BYTE } from './data-cap.js';
import { DutyCycle } from './duty-cycle.js';
import type { TrafficMeter } from './traffic-meter.js';

export interface BatchPacerOptions {
  /** Fraction of full speed, in (0, 1]. Default: 1. */
  duty?: number;
  /** MB per hour, both ways; null: none. Default: null. */
  dataCapMbPerHour?: number | null;
  /** Every byte it counts is spent from the cap. */
  meter: TrafficMeter;
  /** Told when the cap starts and stops holding the engine back. Default: nobody. */
  onHold?(holding: boolean): void;
  /** Milliseconds, monotonic. Default: performance.now. */
  now?: () => number;
  /** Default: setTimeout. */
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class BatchPacer {
  readonly duty: DutyCycle;
  readonly cap: DataCap;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** When the engine last stopped being idle (a rest, a pause, a hold, a wait for a lease). */
  private since: number;
  /** Ends the current hold early (a new cap is in force). */
  private wake: (() => void) | null = null;

  constructor(private readonly o: BatchPacerOptions) {
    this.now = o.now ?? (() => performance.now());
    this.sleep = o.sleep ?? realSleep;
    this.duty = new DutyCycle(o.duty ?? 1, this.now);
    this.cap = new DataCap({ mbPerHour: o.dataCapMbPerHour ?? null, now: this.now });
    o.meter.onBytes((bytes) => this.cap.spend(bytes * LINK_BYTES_PER_COUNTED_BYTE));
    this.since = this.now();
  }

  /** A new cap (or none): a hold in progress is measured again against it at once. */
  setDataCap(mbPerHour: number | null): void {
    this.cap.set(mbPerHour);
    this.wake?.();
  }

  /** Before each batch: holds while the cap is in debt. */
  async beforeBatch(): Promise<void> {
    let held = false;
    for (let ms = this.cap.holdMs(); ms > 0; ms = this.cap.holdMs()) {
      if (!held) this.o.onHold?.(true);
      held = true;
      // A debt under a small cap can take minutes to pay: lifting or raising the cap must not wait for it.
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        void this.sleep(ms).then(resolve);
      });
      this.wake = null;
    }
    if (held) {
      this.o.onHold?.(false);
      this.idle();
    }
  }

  /** After each batch: rests as the throttle says. Returns the batch's work, ms. */
  async afterBatch(): Promise<number> {
    const work = this.now() - this.since;
    const rest = this.duty.restAfter(work);
    if (rest > 0) await this.sleep(rest);
    this.idle();
    return work;
  }

  /** The engine was idle until now (paused, held, no lease): that time is not the next batch's work. */
  idle(): void {
    this.since = this.now();
  }
}
