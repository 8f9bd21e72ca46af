/** The process's push admission: each bound refuses BUSY with a hint, and a refused push was never admitted. */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { ManualClock } from '../../test-support/manual-clock.js';
import { PushAdmission } from './push-admission.js';

describe('PushAdmission', () => {
  it('admits up to maxInFlight pushes not yet answered, then answers BUSY with its hint until one is answered', () => {
    const a = new PushAdmission(new ManualClock(), { maxInFlight: 2, retryAfterMs: 700 });
    expect(a.enter(10)).toBeNull();
    expect(a.enter(10)).toBeNull();
    expect(a.enter(10)).toMatchObject({ ok: false, code: ErrorCode.BUSY, retryAfterMs: 700, message: expect.stringContaining('2 pushes are in flight') });
    expect(a.counts()).toEqual({ inFlight: 2, inFlightBytes: 20, busy: 1 });
    a.leave(10);
    expect(a.enter(10)).toBeNull();
    a.close();
  });

  it('bounds the bytes in flight too', () => {
    const a = new PushAdmission(new ManualClock(), { maxInFlightBytes: 100 });
    expect(a.enter(60)).toBeNull();
    expect(a.enter(41)).toMatchObject({ code: ErrorCode.BUSY });
    expect(a.enter(40)).toBeNull();
    expect(a.counts()).toMatchObject({ inFlight: 2, inFlightBytes: 100 });
    a.close();
  });

  it('answers BUSY while the event loop runs later than maxLoopDelayMs turn after turn, not after one long turn, and admits again once its timer is on time', () => {
    const clock = new ManualClock();
    const a = new PushAdmission(clock, { maxLoopDelayMs: 100, sampleMs: 20, retryAfterMs: 1000, random: () => 0.999 });
    clock.advance(60);
    // One loop turn of 250 ms: the sampling timer runs 230 ms late once.
    clock.stall(250);
    clock.advance(10);
    expect(a.enter(1)).toBeNull();
    a.leave(1);
    // Another: late twice in a row, the loop has a queue, twice the bound and more: every push is refused.
    clock.stall(250);
    clock.advance(1);
    expect(a.enter(1)).toMatchObject({ code: ErrorCode.BUSY, message: expect.stringContaining('runs 230 ms late'), retryAfterMs: 2300 });
    clock.advance(20); // on time once: no longer late turn after turn
    expect(a.enter(1)).toBeNull();
    expect(a.counts()).toEqual({ inFlight: 1, inFlightBytes: 1, busy: 1 });
    a.close();
    expect(clock.pending).toBe(0);
  });

  it('refuses a share of pushes growing with the delay past the bound, and hints a longer wait the later the loop', () => {
    const clock = new ManualClock();
    let draw = 0;
    const a = new PushAdmission(clock, { maxLoopDelayMs: 100, sampleMs: 20, retryAfterMs: 1000, random: () => draw });
    clock.advance(20);
    for (const _ of [0, 1]) {
      clock.stall(165); // each tick 145 ms late: 45 % past the bound
      clock.advance(0);
    }
    const refused = [0.1, 0.3, 0.44, 0.46, 0.9].map((d) => {
      draw = d;
      const r = a.enter(1);
      if (!r) a.leave(1);
      return r ? r.retryAfterMs : null;
    });
    expect(refused).toEqual([1450, 1450, 1450, null, null]);
    a.close();
  });

  it('refuses a bound that is not a number ≥ 0, naming it', () => {
    expect(() => new PushAdmission(new ManualClock(), { maxLoopDelayMs: -1 })).toThrow(/maxLoopDelayMs/);
    expect(() => new PushAdmission(new ManualClock(), { maxInFlight: Number.NaN })).toThrow(/maxInFlight/);
  });
});
