/**
 * int8: blocks of 256 values, each block = its scale as a little-endian float32
 * (max|x| of the block / 127) followed by one signed byte per value,
 * q = round(x / scale) ∈ [−127, 127]; decoded x ≈ q · scale. The last block may be
 * shorter; the tensor's bytes are padded with zeros to a multiple of 4. Absolute
 * error ≤ half a step, scale/2 ≈ blockMax/254 (plus the float32 rounding of q · scale,
 * ≤ 127 · scale · 2⁻²⁴). An all-zero block has scale 0. A block with a NaN or
 * ±Infinity gets a NaN scale, so the server refuses it as NON_FINITE.
 */
import { entryView, pad4, type TensorCodec } from './types.js';

export const INT8_BLOCK = 256;

const blocks = (size: number) => Math.ceil(size / INT8_BLOCK);

const f32 = new Float32Array(1);
const bits = new Uint32Array(f32.buffer);

/**
 * max / 127 as a float32, one step lower where 127 · scale would round past FLT_MAX
 * (a block whose max is near ±FLT_MAX): a finite gradient must decode finite, or the
 * server refuses it as NON_FINITE. The step costs ~127 ulp(scale), far inside scale/2.
 */
function storedScale(max: number): number {
  f32[0] = max / 127;
  if (Math.fround(127 * f32[0]) === Infinity) bits[0]! -= 1;
  return f32[0];
}

export const int8: TensorCodec = {
  id: 'int8',
  lossy: true,
  sparse: false,
  errorBound(values) {
    const tolerance = new Float64Array(values.length);
    for (let start = 0; start < values.length; start += INT8_BLOCK) {
      const end = Math.min(start + INT8_BLOCK, values.length);
      let max = 0;
      for (let i = start; i < end; i++) max = Math.max(max, Math.abs(values[i]!));
      const scale = Math.fround(max / 127); // as stored
      tolerance.fill(scale / 2 + 127 * scale * 2 ** -24, start, end);
    }
    return { reference: Float32Array.from(values), tolerance };
  },
  byteLength: (size) => pad4(blocks(size) * 4 + size),
  write(values, out, offset) {
    const size = values.length;
    const view = new DataView(out.buffer, out.byteOffset + offset, pad4(blocks(size) * 4 + size));
    let at = 0;
    for (let start = 0; start < size; start += INT8_BLOCK) {
      const end = Math.min(start + INT8_BLOCK, size);
      let max = 0;
      let poison = 0; // x·0 is NaN exactly when x is NaN or ±Infinity
      for (let i = start; i < end; i++) {
        const x = values[i]!;
        const a = x < 0 ? -x : x;
        if (a > max) max = a;
        poison += x * 0;
      }
      // Quantise against the scale as stored (float32), so the error bound holds for what is decoded.
      const scale = poison === 0 ? storedScale(max) : NaN;
      view.setFloat32(at, scale, true);
      at += 4;
      const inv = scale > 0 ? 1 / scale : 0;
      for (let i = start; i < end; i++) {
        let q = Math.round(values[i]! * inv);
        if (q > 127) q = 127;
        else if (q < -127) q = -127;
        view.setInt8(at++, q);
      }
    }
  },
  readInto(entry, bytes, out) {
    const view = entryView(entry, bytes);
    const size = out.length;
    let at = 0;
    for (let start = 0; start < size; start += INT8_BLOCK) {
      const end = Math.min(start + INT8_BLOCK, size);
      const scale = view.getFloat32(at, true);
      at += 4;
      for (let i = start; i < end; i++) out[i] = view.getInt8(at++) * scale;
    }
    return null;
  },
};
