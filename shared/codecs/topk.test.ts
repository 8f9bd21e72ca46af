import { describe, expect, it } from 'vitest';
import { seededRandom } from '../seeded-random.js';
import type { TensorEntry } from './types.js';
import { createTopk, topkCount } from './topk.js';

const entry = (size: number, byteLength: number): TensorEntry => ({ name: 't', shape: [size], dtype: 'float32', offset: 0, byteLength });

function encode(values: Float32Array, ratio: number) {
  const codec = createTopk(ratio);
  const bytes = new Uint8Array(codec.byteLength(values.length));
  codec.write(values, bytes, 0);
  return { codec, bytes };
}


describe('topk codec', () => {
  it('derives k = ceil(ratio·size), at least 1, at most size', () => {
    expect(topkCount(1000, 0.01)).toBe(10);
    expect(topkCount(1001, 0.01)).toBe(11);
    expect(topkCount(5, 0.01)).toBe(1);
    expect(topkCount(0, 0.5)).toBe(0);
    expect(topkCount(7, 1)).toBe(7);
    expect(createTopk(0.01).byteLength(101_770)).toBe(1018 * 8);
    expect(() => createTopk(0)).toThrow();
    expect(() => createTopk(1.5)).toThrow();
  });

  it('keeps exactly the k largest magnitudes, exact values, zero elsewhere', () => {
    const r = seededRandom(7);
    for (const [size, ratio] of [[100_000, 0.01], [1000, 0.1], [37, 0.2], [256, 1], [1, 0.01]] as const) {
      const values = Float32Array.from({ length: size }, () => (r() - 0.5) * 2 ** (r() * 20 - 10));
      const { codec, bytes } = encode(values, ratio);
      const out = new Float32Array(size).fill(123); // readInto must clear what was there
      expect(codec.readInto(entry(size, bytes.length), bytes, out)).toBeNull();
      const k = topkCount(size, ratio);
      const want = [...values.keys()].sort((a, b) => Math.abs(values[b]!) - Math.abs(values[a]!)).slice(0, k);
      const kept = [...out.keys()].filter((i) => out[i] !== 0);
      expect(kept.sort((a, b) => a - b)).toEqual(want.sort((a, b) => a - b));
      for (const i of kept) expect(out[i]).toBe(values[i]);
    }
  });

  it('with ties at the threshold still sends exactly k, lowest indices first', () => {
    const values = Float32Array.from([1, -3, 2, 2, -2, 2, 0, 0, 0, 0]);
    const { codec, bytes } = encode(values, 0.3); // k = 3: -3 and the first two 2s
    const out = new Float32Array(10);
    expect(codec.readInto(entry(10, bytes.length), bytes, out)).toBeNull();
    expect([...out]).toEqual([0, -3, 2, 2, 0, 0, 0, 0, 0, 0]);
  });

  it('writes ascending u32 indices, then the f32 values', () => {
    const { bytes } = encode(Float32Array.from([0, 5, 0, -7, 0.5, 0, 0, 0]), 0.25);
    const view = new DataView(bytes.buffer);
    expect(bytes.length).toBe(16);
    expect([view.getUint32(0, true), view.getUint32(4, true)]).toEqual([1, 3]);
    expect([view.getFloat32(8, true), view.getFloat32(12, true)]).toEqual([5, -7]);
  });

  it('refuses an out-of-range, repeated or descending index', () => {
    const codec = createTopk(0.25);
    const out = new Float32Array(8);
    const forge = (i: number, j: number) => {
      const bytes = new Uint8Array(16);
      const view = new DataView(bytes.buffer);
      view.setUint32(0, i, true);
      view.setUint32(4, j, true);
      return codec.readInto(entry(8, 16), bytes, out);
    };
    expect(forge(1, 7)).toBeNull();
    expect(forge(1, 8)).toMatch(/out of range/);
    expect(forge(0xffffffff, 1)).toMatch(/out of range/);
    expect(forge(3, 3)).toMatch(/ascending/);
    expect(forge(4, 2)).toMatch(/ascending/);
  });

  it('sends a NaN rather than hiding it, so the server refuses the push', () => {
    const values = new Float32Array(100).fill(1);
    values[50] = NaN;
    const { codec, bytes } = encode(values, 0.01);
    const out = new Float32Array(100);
    codec.readInto(entry(100, bytes.length), bytes, out);
    expect(out[50]).toBeNaN();
  });
});
