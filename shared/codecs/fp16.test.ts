import { describe, expect, it } from 'vitest';
import { seededRandom } from '../seeded-random.js';
import { encodeTensors, decodeTensors } from '../codec.js';
import { fp16 } from './fp16.js';
import { HALF_MAX, halfTable, toHalfBits } from './half.js';

const roundTrip = (values: Float32Array) =>
  decodeTensors(encodeTensors([{ name: 't', shape: [values.length], values }], fp16), [{ name: 't', shape: [values.length] }])[0]!;


describe('fp16 codec', () => {
  it('keeps relative error ≤ 2^-11 over the normal half range', () => {
    const r = seededRandom(42);
    const values = Float32Array.from({ length: 100_000 }, () => (r() < 0.5 ? -1 : 1) * 2 ** (-14 + r() * 29.99));
    const back = roundTrip(values);
    let worst = 0;
    for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs(back[i]! - values[i]!) / Math.abs(values[i]!));
    expect(worst).toBeLessThanOrEqual(2 ** -11);
    expect(worst).toBeGreaterThan(2 ** -13); // it does round: the bound is tight, not vacuous
  });

  it('round-trips every half exactly and rounds ties to even', () => {
    const t = halfTable();
    const wrong: number[] = [];
    for (let h = 0; h < 0x7c00; h++) {
      if (toHalfBits(t[h]!) !== h || toHalfBits(-t[h]!) !== (h | 0x8000)) wrong.push(h);
    }
    expect(wrong).toEqual([]);
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to the even mantissa (1).
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00);
    // 1 + 3·2^-11 is halfway between 1 + 2^-10 (odd) and 1 + 2^-9 (even): goes up.
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    // Subnormals: 2^-25 is halfway between 0 and the smallest subnormal: ties to 0.
    expect(toHalfBits(2 ** -25)).toBe(0);
    expect(toHalfBits(2 ** -25 * 1.0001)).toBe(1);
    expect(toHalfBits(3 * 2 ** -25)).toBe(2);
  });

  it('clamps finite values beyond ±65504 instead of producing Infinity, but keeps NaN and ±Infinity', () => {
    const back = roundTrip(Float32Array.from([65519, 65520, 1e9, -3.4e38, NaN, Infinity, -Infinity, 0, -0]));
    expect([...back.slice(0, 4)]).toEqual([HALF_MAX, HALF_MAX, HALF_MAX, -HALF_MAX]);
    expect(back[4]).toBeNaN();
    expect(back[5]).toBe(Infinity);
    expect(back[6]).toBe(-Infinity);
    expect(Object.is(back[7], 0)).toBe(true);
    expect(Object.is(back[8], -0)).toBe(true);
  });

  it('uses 2 bytes per value, padded to 4', () => {
    expect(fp16.byteLength(0)).toBe(0);
    expect(fp16.byteLength(1)).toBe(4);
    expect(fp16.byteLength(2)).toBe(4);
    expect(fp16.byteLength(1001)).toBe(2004);
  });
});
