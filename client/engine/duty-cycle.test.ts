import { describe, expect, it } from 'vitest';
import { BatchPacer } from './batch-pacer.js';
import { LINK_BYTES_PER_COUNTED_BYTE, MIN_BURST_BYTES } from './data-cap.js';
import { DutyCycle } from './duty-cycle.js';
import { TrafficMeter } from './traffic-meter.js';

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms), sleep: async (ms: number) => void (t += ms) };
}

/** Resolves after `ms` of the test's clock (the request's answer). */
function answerAfter(c: ReturnType<typeof clock>, ms: number) {
  let answer!: () => void;
  const p = new Promise<void>((r) => (answer = r));
  return { p, arrive: () => (c.advance(ms), answer()) };
}

describe('DutyCycle', () => {
  it('remembers what a batch cost at 100 %, waits included, and rests on it when throttled', () => {
    const d = new DutyCycle(1);
    // At full speed each batch took 200 ms, most of it waiting for a busy coordinator.
    for (let i = 0; i < 20; i++) expect(d.restAfter(200)).toBe(0);
    d.set(0.5);
    // Throttled, the answers arrive during the rest: the batch's own work is 60 ms.
    expect(d.restAfter(60)).toBeCloseTo(340, 6);
    d.forgetFullSpeed();
    expect(d.restAfter(60)).toBe(60);
  });

  it('at 100 % never rests', () => {
    expect(new DutyCycle(1).restAfter(50)).toBe(0);
  });

  it('a compute-bound batch rests work · (1/d − 1)', () => {
    const d = new DutyCycle(0.25);
    expect(d.restAfter(30)).toBe(90);
    d.set(0.5);
    expect(d.restAfter(30)).toBe(30);
  });

  it('a network-bound batch counts the round trip it would wait for at full speed', async () => {
    const c = clock();
    const d = new DutyCycle(0.5, c.now);
    // A push and a pull sent together, answered after 40 ms: one round of 40 ms.
    const push = answerAfter(c, 30);
    const pull = answerAfter(c, 10);
    const sent = [d.timed(() => push.p), d.timed(() => pull.p)];
    push.arrive();
    pull.arrive();
    await Promise.all(sent);
    expect(d.roundTripMs).toBe(40);
    // A 10 ms batch at full speed would take 40 ms (it waits for that round): at 50 %, 80 ms.
    expect(10 + d.restAfter(10)).toBe(80);
  });

  it('smooths round trips, and a refused request still ends its round', async () => {
    const c = clock();
    const d = new DutyCycle(0.5, c.now);
    for (const ms of [40, 40, 80]) {
      const r = answerAfter(c, ms);
      const p = d.timed(() => r.p.then(() => Promise.reject(new Error('refused'))));
      r.arrive();
      await p.catch(() => {});
    }
    expect(d.roundTripMs).toBe(50); // 40, 40, then 40 + 0.25 · (80 − 40)
  });

  it('refuses a duty outside (0, 1]', () => {
    for (const bad of [0, -0.5, 1.5, Number.NaN]) expect(() => new DutyCycle(bad)).toThrow(RangeError);
  });
});

describe('BatchPacer', () => {
  it('busy / (busy + rest) is the duty, counting everything since the last rest', async () => {
    const c = clock();
    const pacer = new BatchPacer({ duty: 0.25, meter: new TrafficMeter({ now: c.now }), now: c.now, sleep: c.sleep });
    let busy = 0;
    const start = c.now();
    for (let i = 0; i < 10; i++) {
      await pacer.beforeBatch();
      c.advance(3); // between batches: a lease answer, a shard decode
      c.advance(12); // the batch
      busy += 15;
      await pacer.afterBatch();
    }
    expect(busy / (c.now() - start)).toBeCloseTo(0.25, 10);
  });

  it('a pause is not work: the batch after it rests for its own work only', async () => {
    const c = clock();
    const pacer = new BatchPacer({ duty: 0.5, meter: new TrafficMeter({ now: c.now }), now: c.now, sleep: c.sleep });
    c.advance(60_000); // paused a minute
    pacer.idle();
    c.advance(10);
    expect(await pacer.afterBatch()).toBe(10);
  });

  it('holds the next batch while the cap is in debt, and says so', async () => {
    const c = clock();
    const meter = new TrafficMeter({ now: c.now });
    const holds: boolean[] = [];
    // 3.6 MB/h = 1 byte per ms.
    const pacer = new BatchPacer({ dataCapMbPerHour: 3.6, meter, now: c.now, sleep: c.sleep, onHold: (h) => holds.push(h) });
    // Counted bytes cost LINK_BYTES_PER_COUNTED_BYTE on the link: a shard that takes the whole bucket, and 1,000 link bytes more.
    meter.count('received', (MIN_BURST_BYTES + 500) / LINK_BYTES_PER_COUNTED_BYTE);
    meter.count('sent', 500 / LINK_BYTES_PER_COUNTED_BYTE);
    const before = c.now();
    await pacer.beforeBatch();
    expect(c.now() - before).toBeCloseTo(1000, 6);
    expect(holds).toEqual([true, false]);
    await pacer.beforeBatch();
    expect(c.now() - before).toBeCloseTo(1000, 6);
  });

  it('lifting the cap ends a hold at once, however long the debt', async () => {
    const c = clock();
    const meter = new TrafficMeter({ now: c.now });
    let wakeUp: () => void = () => {};
    // A sleep that only this test ends: the hold would last 10⁶ s at 3.6 MB/h.
    const pacer = new BatchPacer({ dataCapMbPerHour: 3.6, meter, now: c.now, sleep: () => new Promise((r) => (wakeUp = r)) });
    meter.count('received', 1e9);
    let done = false;
    const held = pacer.beforeBatch().then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    pacer.setDataCap(null);
    await held;
    expect(done).toBe(true);
    wakeUp();
  });
});
