import { describe, expect, it } from 'vitest';
import { decodeTensors, encodeTensors } from '../codec.js';
import { INT8_BLOCK, int8 } from './int8.js';

const roundTrip = (values: Float32Array) =>
  decodeTensors(encodeTensors([{ name: 't', shape: [values.length], values }], int8), [{ name: 't', shape: [values.length] }])[0]!;

describe('int8 codec', () => {
  it('keeps absolute error ≤ blockMax/254 in every block, blocks of very different scales', () => {
    const size = 10 * INT8_BLOCK + 77; // a short last block too
    const values = Float32Array.from({ length: size }, (_, i) => Math.sin(i * 0.37) * 10 ** ((Math.floor(i / INT8_BLOCK) % 7) - 4));
    const back = roundTrip(values);
    for (let start = 0; start < size; start += INT8_BLOCK) {
      const block = values.subarray(start, Math.min(size, start + INT8_BLOCK));
      const max = Math.max(...block.map(Math.abs));
      const bound = (max / 254) * (1 + 2 ** -20); // the scale itself is a float32
      let worst = 0;
      for (let i = 0; i < block.length; i++) worst = Math.max(worst, Math.abs(back[start + i]! - block[i]!));
      expect(worst).toBeLessThanOrEqual(bound);
    }
  });

  it('decodes each block\'s largest magnitude to itself (±127 steps) and zero blocks to zero', () => {
    const values = new Float32Array(2 * INT8_BLOCK);
    values[5] = -3.25;
    values[9] = 1;
    const back = roundTrip(values);
    expect(back[5]).toBeCloseTo(-3.25, 6);
    expect(back.subarray(INT8_BLOCK).every((v) => v === 0)).toBe(true);
  });

  it('lays out [float32 scale, int8 × 256] per block, padded to 4', () => {
    expect(int8.byteLength(0)).toBe(0);
    expect(int8.byteLength(1)).toBe(8);
    expect(int8.byteLength(256)).toBe(260);
    expect(int8.byteLength(257)).toBe(268); // 260 + 4 + 1 → 265, padded
    const values = Float32Array.from({ length: 257 }, (_, i) => (i === 0 ? 127 : i === 256 ? -2 : 1));
    const bytes = new Uint8Array(int8.byteLength(257));
    int8.write(values, bytes, 0);
    const view = new DataView(bytes.buffer);
    expect(view.getFloat32(0, true)).toBe(1);
    expect(view.getInt8(4)).toBe(127);
    expect(view.getInt8(5)).toBe(1);
    expect(view.getFloat32(260, true)).toBeCloseTo(2 / 127, 9);
    expect(view.getInt8(264)).toBe(-127);
  });

  it('turns a block holding NaN or Infinity into NaN, so the server refuses it', () => {
    const values = Float32Array.from({ length: 300 }, () => 0.5);
    values[3] = Infinity;
    const back = roundTrip(values);
    expect(back.subarray(0, INT8_BLOCK).every(Number.isNaN)).toBe(true);
    expect(back[299]).toBeCloseTo(0.5, 6);
  });
});
