import { describe, expect, it } from 'vitest';
import { MANUAL_CLOCK_START, ManualClock } from './manual-clock.js';

describe('ManualClock', () => {
  it('fires nothing before a timer is due, and fires it exactly at its time', () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(clock.now()), 300);
    clock.advance(299);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([MANUAL_CLOCK_START + 300]);
    expect(clock.pending).toBe(0);
  });

  it('fires due timers in time order, equal times in the order they were scheduled', () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('c@30'), 30);
    clock.setTimeout(() => fired.push('a@10'), 10);
    clock.setTimeout(() => fired.push('b@30'), 30);
    clock.setTimeout(() => fired.push('later@100'), 100);
    clock.advance(50);
    expect(fired).toEqual(['a@10', 'c@30', 'b@30']);
    expect(clock.now()).toBe(50);
  });

  it('fires timers scheduled while advancing when they fall due within the step', () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    clock.setTimeout(() => {
      fired.push(`outer@${clock.now()}`);
      clock.setTimeout(() => fired.push(`inner@${clock.now()}`), 15);
      clock.setTimeout(() => fired.push(`beyond@${clock.now()}`), 100);
    }, 10);
    clock.setTimeout(() => fired.push(`other@${clock.now()}`), 20);
    clock.advance(40);
    expect(fired).toEqual(['outer@10', 'other@20', 'inner@25']);
    clock.advance(70);
    expect(fired.at(-1)).toBe('beyond@110');
  });

  it('repeats an interval at each period until it is cleared, also from its own callback', () => {
    const clock = new ManualClock(0);
    const ticks: number[] = [];
    const timer = clock.setInterval(() => {
      ticks.push(clock.now());
      if (ticks.length === 3) clock.clear(timer);
    }, 1000);
    clock.advance(2500);
    expect(ticks).toEqual([1000, 2000]);
    clock.advance(10_000);
    expect(ticks).toEqual([1000, 2000, 3000]);
    expect(clock.pending).toBe(0);
  });

  it('never fires a cleared timer; clearing twice does nothing', () => {
    const clock = new ManualClock(0);
    let fired = false;
    const t = clock.setTimeout(() => (fired = true), 5);
    clock.clear(t);
    clock.clear(t);
    clock.advance(10);
    expect(fired).toBe(false);
  });

  it('treats a delay below 1 ms as 1 ms, as Node does, and refuses to go back', () => {
    const clock = new ManualClock(0);
    let count = 0;
    clock.setInterval(() => (count += 1), 0);
    clock.advance(0);
    expect(count).toBe(0);
    clock.advance(3);
    expect(count).toBe(3);
    expect(() => clock.advance(-1)).toThrow(RangeError);
  });

  it('stall: time passes and nothing fires; the next advance fires overdue timers late, and an interval goes on from then', () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    clock.setInterval(() => fired.push(`tick@${clock.now()}`), 20);
    clock.setTimeout(() => fired.push(`once@${clock.now()}`), 30);
    clock.stall(100);
    expect(fired).toEqual([]);
    expect(clock.now()).toBe(100);
    clock.advance(25);
    expect(fired).toEqual(['tick@100', 'once@100', 'tick@120']);
    expect(clock.now()).toBe(125);
  });
});
