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

  /** `turns` loop turns of `ms` each: the sampling timer (every 20 ms) runs ms − 20 late at each. */
  const slowTurns = (clock: ManualClock, turns: number, ms: number) => {
    for (let i = 0; i < turns; i++) {
      clock.stall(ms);
      clock.advance(0);
    }
  };

  it('answers BUSY while the event loop runs later than maxLoopDelayMs turn after turn, not after one long turn, and admits again once its timer is on time', () => {
    const clock = new ManualClock();
    const a = new PushAdmission(clock, { maxLoopDelayMs: 100, sampleMs: 20, retryAfterMs: 1000, random: () => 0 });
    clock.advance(60);
    slowTurns(clock, 1, 250); // one turn of 250 ms: the sampling timer runs 230 ms late once
    expect(a.enter(1)).toBeNull();
    a.leave(1);
    slowTurns(clock, 1, 250); // late twice in a row: the loop has a queue
    expect(a.enter(1)).toMatchObject({ code: ErrorCode.BUSY, message: expect.stringContaining('runs 230 ms late'), retryAfterMs: expect.any(Number) });
    clock.advance(20); // on time once: no longer late turn after turn
    expect(a.enter(1)).toBeNull();
    expect(a.counts()).toEqual({ inFlight: 1, inFlightBytes: 1, busy: 1 });
    a.close();
    expect(clock.pending).toBe(0);
  });

  it('refuses a share of pushes growing with the delay past the bound, at most one half', () => {
    const clock = new ManualClock();
    let draw = 0;
    const a = new PushAdmission(clock, { maxLoopDelayMs: 100, sampleMs: 20, random: () => draw });
    const refused = (draws: number[]) =>
      draws.map((d) => {
        draw = d;
        const r = a.enter(1);
        if (!r) a.leave(1);
        return r !== null;
      });
    clock.advance(20);
    slowTurns(clock, 2, 165); // 145 ms late: 45 % past the bound
    expect(refused([0.1, 0.44, 0.46, 0.9])).toEqual([true, true, false, false]);
    slowTurns(clock, 2, 520); // 500 ms late: 400 % past, but never more than half refused
    expect(refused([0.1, 0.49, 0.51, 0.9])).toEqual([true, true, false, false]);
    a.close();
  });

  it('the hint doubles for every second the loop stays late, up to 30 s, and halves every half second once it is on time', () => {
    const clock = new ManualClock();
    const a = new PushAdmission(clock, { maxLoopDelayMs: 100, sampleMs: 20, retryAfterMs: 1000, random: () => 0 });
    clock.advance(20);
    slowTurns(clock, 5, 250); // turns of 250 ms: the first one is no queue yet, then four, one second of a late loop
    expect(a.loopRetryAfterMs).toBe(2000);
    expect(a.enter(1)).toMatchObject({ code: ErrorCode.BUSY, retryAfterMs: 2000 });
    slowTurns(clock, 30, 250);
    expect(a.loopRetryAfterMs).toBe(30_000);
    clock.advance(500); // 25 ticks on time
    expect(a.loopRetryAfterMs).toBe(15_000);
    clock.advance(10_000);
    expect(a.loopRetryAfterMs).toBe(1000);
    a.close();
  });

  it('refuses a bound that is not a number ≥ 0, naming it', () => {
    expect(() => new PushAdmission(new ManualClock(), { maxLoopDelayMs: -1 })).toThrow(/maxLoopDelayMs/);
    expect(() => new PushAdmission(new ManualClock(), { maxInFlight: Number.NaN })).toThrow(/maxInFlight/);
  });
});
