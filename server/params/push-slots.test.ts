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

  it('sizes the window from the payloads taken in over the last second × queueMs while no grant measured the pipe, within [window, maxWindow]', () => {
    const clock = new ManualClock();
    const s = new PushSlots(clock, { window: 4, maxWindow: 50, queueMs: 500, lateMs: Infinity });
    expect(s.counts()).toMatchObject({ window: 4, servicePerSecond: 0 });
    // 60 payloads in 600 ms: 60/s over the last second, a window of 30.
    for (let i = 0; i < 60; i++) {
      expect(s.admit(`s${i}`, 'j', BIG, undefined, false)).toBe('free');
      clock.advance(10);
    }
    expect(s.counts()).toMatchObject({ window: 30, servicePerSecond: 60 });
    for (let i = 0; i < 30; i++) expect(s.grant(`g${i}`, 'j', BIG)).toMatchObject({ slot: expect.any(String) });
    expect(s.grant('g30', 'j', BIG)).toMatchObject({ code: ErrorCode.BUSY });
    // Small payloads are not what the window meters.
    for (let i = 0; i < 100; i++) s.admit('small', 'j', 100, undefined, false);
    expect(s.counts()).toMatchObject({ servicePerSecond: 60 });
    // 200 more in the same second: 260/s would be 130, the ceiling holds it at 50.
    for (let i = 0; i < 200; i++) s.admit(`t${i}`, 'j', BIG, undefined, false);
    expect(s.counts()).toMatchObject({ window: 50 });
    // A second without payloads: back to the least window.
    clock.advance(1000);
    expect(s.counts()).toMatchObject({ window: 4, servicePerSecond: 0 });
    s.close();
  });

  it("adds the pipe, the least time a grant ever took to its payload's arrival, to queueMs", () => {
    const clock = new ManualClock();
    const s = new PushSlots(clock, { window: 2, maxWindow: 1000, queueMs: 300, lateMs: Infinity });
    expect(s.counts()).toMatchObject({ pipeMs: null });
    const slots = ['sa', 'sb'].map((id) => (s.grant(id, 'j', BIG) as { slot: string }).slot);
    clock.advance(200);
    expect(s.admit('sa', 'j', BIG, slots[0], true)).toBe('granted');
    clock.advance(300);
    expect(s.admit('sb', 'j', BIG, slots[1], true)).toBe('granted'); // 500 ms: queue, not pipe
    // 98 more payloads in this second: 100/s × (200 + 300) ms.
    for (let i = 0; i < 98; i++) s.admit(`p${i}`, 'j', BIG, undefined, false);
    expect(s.counts()).toMatchObject({ pipeMs: 200, servicePerSecond: 100, window: 50 });
    s.close();
  });

  it('tells refused askers to come back one service interval apart, after those told before them, up to maxRetryAfterMs; with no rate, the fixed hint', () => {
    const clock = new ManualClock();
    const s = new PushSlots(clock, { window: 1, maxWindow: 1, retryAfterMs: 700, maxRetryAfterMs: 100, lateMs: Infinity });
    s.grant('sa', 'j', BIG);
    expect(s.grant('sb', 'j', BIG)).toMatchObject({ code: ErrorCode.BUSY, retryAfterMs: 700 });
    // 40 payloads in the last second: one slot frees every 25 ms.
    for (let i = 0; i < 40; i++) s.admit(`p${i}`, 'j', BIG, undefined, false);
    const hints = Array.from({ length: 5 }, (_, i) => (s.grant(`r${i}`, 'j', BIG) as { retryAfterMs: number }).retryAfterMs);
    expect(hints).toEqual([25, 50, 75, 100, 100]);
    // Time passing moves the queue's end closer; once it has passed, the next refused waits one interval.
    clock.advance(60);
    expect(s.grant('r5', 'j', BIG)).toMatchObject({ retryAfterMs: 65 });
    clock.advance(500);
    expect(s.grant('r6', 'j', BIG)).toMatchObject({ retryAfterMs: 25 });
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
