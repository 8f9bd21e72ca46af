import { describe, expect, it } from 'vitest';
import { DataCap, MIN_BURST_BYTES } from './data-cap.js';

/** A clock the test steps. */
function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('DataCap', () => {
  it('lets a full bucket pass, then holds until the rate has paid the debt', () => {
    const c = clock();
    // 36 MB/h = 10 kB/s = 10 bytes per ms; the bucket holds 100 kB.
    const cap = new DataCap({ mbPerHour: 36, now: c.now, burstBytes: 100_000 });
    cap.spend(100_000);
    expect(cap.holdMs()).toBe(0);
    cap.spend(50_000);
    expect(cap.holdMs()).toBe(5000);
    c.advance(4000);
    expect(cap.holdMs()).toBe(1000);
    c.advance(1000);
    expect(cap.holdMs()).toBe(0);
  });

  it('never saves more than the bucket: a quiet hour does not buy a burst above it', () => {
    const c = clock();
    const cap = new DataCap({ mbPerHour: 36, now: c.now, burstBytes: 100_000 });
    c.advance(3_600_000);
    cap.spend(150_000);
    expect(cap.holdMs()).toBe(5000);
  });

  it('keeps a long run under the cap plus the bucket and one batch', () => {
    const c = clock();
    const cap = new DataCap({ mbPerHour: 36, now: c.now });
    let moved = 0;
    // A worker that would move 40 kB per 100 ms batch (400 kB/s) if nothing held it.
    for (;;) {
      c.advance(Math.max(cap.holdMs(), 1));
      if (c.now() > 3_600_000) break;
      if (cap.holdMs() > 0) continue;
      cap.spend(40_000);
      moved += 40_000;
      c.advance(100);
    }
    const burst = Math.max(MIN_BURST_BYTES, 10 * 30_000);
    expect(moved).toBeLessThanOrEqual(36e6 + burst + 40_000);
    expect(moved).toBeGreaterThan(36e6 * 0.99);
  });

  it('no cap holds nothing; a cap set later starts with a full bucket; removing it releases at once', () => {
    const c = clock();
    const cap = new DataCap({ mbPerHour: null, now: c.now });
    cap.spend(1e9);
    expect(cap.holdMs()).toBe(0);
    expect(cap.mbPerHour).toBeNull();
    cap.set(3.6);
    expect(cap.mbPerHour).toBeCloseTo(3.6);
    cap.spend(MIN_BURST_BYTES + 1000);
    expect(cap.holdMs()).toBe(1000);
    cap.set(null);
    expect(cap.holdMs()).toBe(0);
  });

  it('refuses a cap that is not a positive number', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => new DataCap({ mbPerHour: bad })).toThrow(RangeError);
  });
});
