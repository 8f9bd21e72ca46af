import { describe, expect, it } from 'vitest';
import { batchCount, exampleOrder, examplesIn, shardOrderSeed } from './batch-plan.js';

describe('batch plan', () => {
  it('cuts a shard into batches whose examples add up to the shard, only the last one short', () => {
    expect(batchCount(1000, 64)).toBe(16);
    expect(batchCount(1024, 64)).toBe(16);
    expect(batchCount(1, 64)).toBe(1);
    const sizes = Array.from({ length: 16 }, (_, k) => examplesIn(1000, 64, { from: k, to: k + 1 }));
    expect(sizes.slice(0, 15).every((n) => n === 64)).toBe(true);
    expect(sizes[15]).toBe(1000 - 15 * 64);
    expect(examplesIn(1000, 64, { from: 0, to: 16 })).toBe(1000);
    expect(examplesIn(1000, 64, { from: 3, to: 9 }) + examplesIn(1000, 64, { from: 9, to: 16 })).toBe(1000 - 3 * 64);
    expect(examplesIn(1000, 64, { from: 16, to: 20 })).toBe(0);
  });

  it('orders a shard by a permutation that its seed alone decides', () => {
    const a = exampleOrder(1000, 12345);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(exampleOrder(1000, 12345)).toEqual(a);
    expect(exampleOrder(1000, 12346)).not.toEqual(a);
    expect([...a.subarray(0, 20)]).not.toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('seeds a different order for every epoch and shard of a job', () => {
    const seeds = new Set<number>();
    for (let e = 0; e < 20; e++) for (let s = 0; s < 60; s++) seeds.add(shardOrderSeed(1, e, s));
    expect(seeds.size).toBe(20 * 60);
    expect(shardOrderSeed(2, 0, 0)).not.toBe(shardOrderSeed(1, 0, 0));
  });
});
