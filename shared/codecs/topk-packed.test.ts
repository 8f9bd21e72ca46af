import { describe, expect, it } from 'vitest';
import { seededRandom } from '../seeded-random.js';
import { createTopk, topkCount } from './topk.js';
import { createTopkPacked, indexBits } from './topk-packed.js';
import type { TensorEntry } from './types.js';

const entry = (size: number, byteLength: number): TensorEntry => ({ name: 't', shape: [size], dtype: 'float32', offset: 0, byteLength });

function roundTrip(values: Float32Array, ratio: number): Float32Array {
  const codec = createTopkPacked(ratio);
  const bytes = new Uint8Array(codec.byteLength(values.length));
  codec.write(values, bytes, 0);
  const out = new Float32Array(values.length).fill(123); // readInto must clear what was there
  const bad = codec.readInto(entry(values.length, bytes.length), bytes, out);
  if (bad) throw new Error(bad);
  return out;
}

describe('topk-packed codec', () => {
  it('uses 4 bytes per entry and ⌈log2 size⌉ index bits', () => {
    expect(indexBits(1)).toBe(1);
    expect(indexBits(2)).toBe(1);
    expect(indexBits(3)).toBe(2);
    expect(indexBits(100_352)).toBe(17);
    expect(indexBits(2 ** 22)).toBe(22);
    const codec = createTopkPacked(0.008);
    // The mlp (784·128 + 128 + 128·10 + 10 parameters): ≥ 100× fewer bytes than fp32.
    const sizes = [100_352, 128, 1280, 10];
    const bytes = sizes.reduce((n, s) => n + codec.byteLength(s), 0);
    expect(bytes).toBe(sizes.reduce((n, s) => n + topkCount(s, 0.008), 0) * 4);
    expect((101_770 * 4) / bytes).toBeGreaterThan(100);
  });

  it('sends the same entries as topk, each within half a unit of its kept mantissa bits', () => {
    const r = seededRandom(11);
    for (const [size, ratio] of [[100_352, 0.01], [1000, 0.1], [37, 0.2], [256, 1], [1, 0.5], [2, 1]] as const) {
      const values = Float32Array.from({ length: size }, () => (r() - 0.5) * 2 ** (r() * 40 - 20));
      const out = roundTrip(values, ratio);
      const exact = createTopk(ratio);
      const exactBytes = new Uint8Array(exact.byteLength(size));
      exact.write(values, exactBytes, 0);
      const want = new Float32Array(size);
      exact.readInto(entry(size, exactBytes.length), exactBytes, want);
      const mantissaBits = 32 - indexBits(size) - 9;
      for (let i = 0; i < size; i++) {
        if (want[i] === 0) expect(out[i]).toBe(0);
        else expect(Math.abs(out[i]! - want[i]!)).toBeLessThanOrEqual(Math.abs(want[i]!) * 2 ** -(mantissaBits + 1));
      }
      expect(out.filter((x) => x !== 0).length).toBe(topkCount(size, ratio));
    }
  });

  it('keeps NaN and ±Infinity as they are, so the server still refuses them', () => {
    const values = new Float32Array(1000).fill(1);
    values[3] = NaN;
    values[500] = -Infinity;
    values[999] = Infinity;
    const out = roundTrip(values, 0.003);
    expect(out[3]).toBeNaN();
    expect(out[500]).toBe(-Infinity);
    expect(out[999]).toBe(Infinity);
  });

  it('never rounds a finite value up to ±Infinity', () => {
    const max = 3.4028234663852886e38; // FLT_MAX
    const values = Float32Array.from([max, -max, 1, 2]);
    const out = roundTrip(values, 0.5);
    expect(Number.isFinite(out[0]!) && out[0]! > 3.3e38).toBe(true);
    expect(Number.isFinite(out[1]!) && out[1]! < -3.3e38).toBe(true);
  });

  it('refuses an out-of-range, repeated or descending index', () => {
    const codec = createTopkPacked(0.25); // 8 values: k = 2, 3 index bits
    const out = new Float32Array(8);
    const forge = (i: number, j: number) => {
      const bytes = new Uint8Array(8);
      const view = new DataView(bytes.buffer);
      view.setUint32(0, (i << 29) >>> 0, true);
      view.setUint32(4, (j << 29) >>> 0, true);
      return codec.readInto(entry(8, 8), bytes, out);
    };
    expect(forge(1, 7)).toBeNull();
    expect(forge(3, 3)).toMatch(/ascending/);
    expect(forge(4, 2)).toMatch(/ascending/);
    // 5 values need 3 index bits, which can name 5, 6 and 7: out of range.
    const five = new Uint8Array(4);
    new DataView(five.buffer).setUint32(0, (6 << 29) >>> 0, true);
    expect(createTopkPacked(0.2).readInto(entry(5, 4), five, new Float32Array(5))).toMatch(/out of range/);
  });

  it('falls back to the exact 8-byte layout above 2^22 entries', () => {
    const size = 2 ** 22 + 1;
    const codec = createTopkPacked(1e-6);
    expect(codec.byteLength(size)).toBe(createTopk(1e-6).byteLength(size));
    const values = new Float32Array(size);
    values[size - 1] = 0.1;
    values[7] = -3e-9;
    const out = roundTrip(values, 1e-6);
    expect(out[size - 1]).toBe(values[size - 1]);
    expect(out[7]).toBe(values[7]);
  });
});
