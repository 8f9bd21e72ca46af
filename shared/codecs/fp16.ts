/**
 * fp16: each value as a little-endian IEEE half (2 bytes, round to nearest even,
 * finite values clamped to ±65504; see half.ts). A tensor of `size` values takes
 * 2·size bytes, padded with zeros to a multiple of 4. Relative error ≤ 2⁻¹¹ for
 * values in the normal half range (|x| ≥ 2⁻¹⁴); smaller values lose precision
 * gradually (absolute error ≤ 2⁻²⁵).
 */
import { HALF_MAX, halfTable, toHalfBits } from './half.js';
import { entryView, pad4, type TensorCodec } from './types.js';

export const fp16: TensorCodec = {
  id: 'fp16',
  lossy: true,
  sparse: false,
  errorBound(values) {
    const tolerance = new Float64Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const a = Math.abs(values[i]!);
      // Half-precision rounding: 2⁻¹¹ relative in the normal range, 2⁻²⁵ below it; beyond ±65504, the clamp.
      tolerance[i] = Math.max(a * 2 ** -11, 2 ** -25, a - HALF_MAX);
    }
    return { reference: Float32Array.from(values), tolerance };
  },
  byteLength: (size) => pad4(size * 2),
  write(values, out, offset) {
    const view = new DataView(out.buffer, out.byteOffset + offset, pad4(values.length * 2));
    for (let i = 0; i < values.length; i++) view.setUint16(i * 2, toHalfBits(values[i]!), true);
  },
  readInto(entry, bytes, out) {
    const view = entryView(entry, bytes);
    const t = halfTable();
    for (let i = 0; i < out.length; i++) out[i] = t[view.getUint16(i * 2, true)]!;
    return null;
  },
};
