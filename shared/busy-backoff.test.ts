import { describe, expect, it } from 'vitest';
import { BusyBackoff, sendHonouringBusy } from './busy-backoff.js';
import { ErrorCode } from './errors.js';
import { fail, ok, type Result } from './result.js';

const busy = (retryAfterMs?: number): Result<{ version: number }> => ({ ...fail(ErrorCode.BUSY, 'busy'), ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });

describe('BusyBackoff', () => {
  it('full jitter: a uniform wait under a ceiling that doubles from baseMs up to capMs', () => {
    const b = new BusyBackoff({ baseMs: 100, capMs: 1000, random: () => 0.999 });
    const ceilings = Array.from({ length: 6 }, () => Math.round(b.next()));
    expect(ceilings).toEqual([100, 200, 400, 799, 999, 999]);
    expect(b.busyInARow).toBe(6);
  });

  it('scales the random draw: 0 waits nothing, one half waits half the ceiling', () => {
    const draws = [0, 0.5];
    const b = new BusyBackoff({ baseMs: 100, capMs: 1000, random: () => draws.shift()! });
    expect(b.next()).toBe(0);
    expect(b.next()).toBe(100);
  });

  it("never waits under a ceiling below the server's hint, nor above capMs for it", () => {
    const b = new BusyBackoff({ baseMs: 100, capMs: 1000, random: () => 0.5 });
    expect(b.next(600)).toBe(300);
    expect(b.next(60_000)).toBe(500);
  });

  it('waits a hint that is a time set aside (at) plus up to a fifth of it, not doubled, and never past capMs; without a hint, as next()', () => {
    const b = new BusyBackoff({ baseMs: 100, capMs: 1000, random: () => 0.5 });
    expect([b.at(300), b.at(300), b.at(300)]).toEqual([330, 330, 330]);
    expect(b.busyInARow).toBe(3);
    expect(b.at(5000)).toBe(1000);
    expect(b.at(0)).toBe(500); // next(): the ceiling doubled four times from 100 for the BUSYs above (1600), capped at 1000; half of it
  });

  it('starts again from baseMs after an answer other than BUSY', () => {
    const b = new BusyBackoff({ baseMs: 100, capMs: 10_000, random: () => 0.5 });
    b.next();
    b.next();
    expect(b.next()).toBe(200);
    b.reset();
    expect(b.next()).toBe(50);
  });
});

describe('sendHonouringBusy', () => {
  it('sends the same push again after each BUSY, sleeping the back-off on the injected clock, and returns the first other answer', async () => {
    const answers = [busy(400), busy(), ok({ version: 7 }), busy()];
    let sends = 0;
    const slept: number[] = [];
    const told: number[] = [];
    const b = new BusyBackoff({ baseMs: 100, capMs: 1000, random: () => 0.5 });
    const r = await sendHonouringBusy(
      async () => {
        sends += 1;
        return answers.shift()!;
      },
      b,
      async (ms) => void slept.push(ms),
      (ms) => told.push(ms),
    );
    expect(r).toEqual({ ok: true, version: 7 });
    expect(sends).toBe(3);
    // 1st BUSY: ceiling max(100, hint 400) = 400; 2nd: 200 (no hint); jitter 0.5.
    expect(slept).toEqual([200, 100]);
    expect(told).toEqual(slept);
    expect(b.busyInARow).toBe(0);
  });

  it('returns a refusal other than BUSY at once, without sleeping', async () => {
    const slept: number[] = [];
    const r = await sendHonouringBusy(async () => fail(ErrorCode.STALE, 'stale'), new BusyBackoff(), async (ms) => void slept.push(ms));
    expect(r).toMatchObject({ ok: false, code: ErrorCode.STALE });
    expect(slept).toEqual([]);
  });
});
