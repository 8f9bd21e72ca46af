import { expect, it } from 'vitest';
import { Throughput } from './throughput.js';

it('measures examples per second over the window and falls to 0 when batches stop', () => {
  const t = new Throughput(5000);
  for (let at = 0; at <= 4000; at += 1000) t.add(100, at);
  expect(t.perSecond(4000)).toBe(100);
  expect(t.perSecond(9000)).toBe(100); // the last batch is one window old: still the rate
  // An idle worker (no job, no shard) must not keep reporting its last rate.
  expect(t.perSecond(9001)).toBe(0);
  t.add(100, 10_000);
  expect(t.perSecond(10_000)).toBeGreaterThan(0);
});
