import { describe, expect, it } from 'vitest';
import { decodeShard, encodeShard, FeatureEncoding, SHARD_HEADER_BYTES } from './shard-format.js';

const header = { count: 2, featureLength: 3, numClasses: 10, encoding: FeatureEncoding.UINT8_UNIT };

describe('shard format', () => {
  it('round-trips byte features scaled to [0, 1] and labels', () => {
    const bytes = encodeShard(header, Uint8Array.from([0, 255, 51, 102, 0, 255]), Uint8Array.from([7, 3]));
    expect(bytes.length).toBe(SHARD_HEADER_BYTES + 6 + 2);
    const s = decodeShard(bytes);
    expect(s.count).toBe(2);
    expect([...s.features]).toEqual([0, 1, 0.2, 0.4, 0, 1].map((v) => Math.fround(v)));
    expect([...s.labels]).toEqual([7, 3]);
  });

  it('round-trips float32 features', () => {
    const f = Float32Array.from([0.5, -1, 2, 3, 4, 5]);
    const s = decodeShard(encodeShard({ ...header, encoding: FeatureEncoding.FLOAT32 }, f, Uint8Array.from([0, 9])));
    expect([...s.features]).toEqual([...f]);
  });

  it('rejects a wrong magic, a truncated file and an out-of-range label', () => {
    const good = encodeShard(header, new Uint8Array(6), Uint8Array.from([1, 2]));
    const badMagic = good.slice();
    badMagic[0] = 0x58;
    expect(() => decodeShard(badMagic)).toThrow(/magic/);
    expect(() => decodeShard(good.subarray(0, good.length - 1))).toThrow(/header says/);
    const badLabel = good.slice();
    badLabel[badLabel.length - 1] = 10;
    expect(() => decodeShard(badLabel)).toThrow(/Label 10/);
  });
});
