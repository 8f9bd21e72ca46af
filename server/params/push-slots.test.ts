/** The process's push slots: the window, grants' expiry, and when slots are required (each on a stepped clock). */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { ManualClock } from '../../test-support/manual-clock.js';
import { PushSlots } from './push-slots.js';

const BIG = 400_000;

describe('PushSlots', () => {
  it('grants up to window slots, refuses BUSY with its hint beyond, and a push arriving with its grant frees the slot', () => {
    const clock = new ManualClock();
    const s = new PushSlots(clock, { window: 2, retryAfterMs: 300, lateMs: Infinity });
    const a = s.grant('sa', 'j', BIG);
    const b = s.grant('sb', 'j', BIG);
    expect(s.grant('sc', 'j', BIG)).toMatchObject({ ok: false, code: ErrorCode.BUSY, retryAfterMs: 300 });
    expect(s.admit('sa', 'j', BIG, (a as { slot: string }).slot, true)).toBe('granted');
    expect(s.grant('sc', 'j', BIG)).toMatchObject({ slot: expect.any(String) });
    // A grant is used once.
    expect(s.admit('sa', 'j', BIG, (a as { slot: string }).slot, true)).toBe('refused');
    expect(s.admit('sb', 'other-job', BIG, (b as { slot: string }).slot, true)).toBe('refused');
    expect(s.counts()).toMatchObject({ outstanding: 2, granted: 3, refused: 1, ungranted: 2 });
    s.close();
  });

  it('requires slots from a refused slot until holdMs passed without pressure, and never for small pushes', () => {
    const clock = new ManualClock();
    const s = new PushSlots(clock, { window: 1, holdMs: 1000, minBytes: 1000, lateMs: Infinity });
    expect(s.required(BIG)).toBe(false);
    s.grant('sa', 'j', BIG);
    expect(s.required(BIG)).toBe(false);
    s.grant('sb', 'j', BIG);
    expect(s.required(BIG)).toBe(true);
    expect(s.required(999)).toBe(false);
    expect(s.admit('sc', 'j', 999, undefined, true)).toBe('free');
    clock.advance(999);
    expect(s.required(BIG)).toBe(true);
    clock.advance(1);
    expect(s.required(BIG)).toBe(false);
    s.close();
  });

  it("lasts grantMs plus the payload's upload time, then frees its slot", () => {
    const clock = new ManualClock();
    const s = new PushSlots(clock, { window: 1, grantMs: 500, uploadBytesPerSecond: 100_000, lateMs: Infinity });
    const g = s.grant('sa', 'j', 200_000);
    expect(g).toMatchObject({ ttlMs: 2500 });
    clock.advance(2499);
    expect(s.grant('sb', 'j', BIG)).toMatchObject({ code: ErrorCode.BUSY });
    clock.advance(1);
    expect(s.counts()).toMatchObject({ outstanding: 0, expired: 1 });
    expect(s.admit('sa', 'j', 200_000, (g as { slot: string }).slot, true)).toBe('refused');
    s.close();
  });

  it('requires slots while the event loop runs late turn after turn as payloads arrive, and when the in-flight bounds refused a push', () => {
    const clock = new ManualClock();
    let admissionBusy = 0;
    const s = new PushSlots(clock, { lateMs: 100, sampleMs: 20, holdMs: 1000 }, () => admissionBusy);
    const lateTwice = () => {
      for (let i = 0; i < 2; i++) {
        clock.stall(300);
        clock.advance(0);
      }
    };
    // Late with no pushes arriving (start-up, a job being built): no queue of pushes.
    lateTwice();
    expect(s.required(BIG)).toBe(false);
    clock.advance(20);
    expect(s.admit('sa', 'j', BIG, undefined, false)).toBe('free');
    clock.stall(300);
    clock.advance(0); // one long turn: no queue
    clock.advance(20);
    expect(s.required(BIG)).toBe(false);
    lateTwice();
    expect(s.required(BIG)).toBe(true);
    clock.advance(1000);
    expect(s.required(BIG)).toBe(false);
    admissionBusy = 1;
    expect(s.required(BIG)).toBe(true);
    s.close();
  });

  it('frees a departed socket\'s grants', () => {
    const s = new PushSlots(new ManualClock(), { window: 1, lateMs: Infinity });
    s.grant('sa', 'j', BIG);
    s.release('sa');
    expect(s.grant('sb', 'j', BIG)).toMatchObject({ slot: expect.any(String) });
    s.close();
  });
});
