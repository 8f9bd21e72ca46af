/**
 * topk-packed: the same k = ceil(ratio · size) entries as `topk`, in half the bytes.
 * Each entry is one little-endian uint32: the index in the high b = ⌈log2 size⌉ bits,
 * the value in the low 32 − b bits as the top bits of its float32 pattern (sign,
 * the full 8-bit exponent, and what is left of the mantissa), rounded to nearest.
 * Entries are in strictly ascending index order: 4·k bytes.
 *
 * The value keeps 32 − b − 9 mantissa bits: 6 for a 100k-entry tensor (relative error
 * ≤ 2⁻⁷), 15 for a bias of 8. The worker's error feedback carries the rounding into
 * the next push, so nothing is lost, only delayed. A tensor above 2²² entries would
 * keep no mantissa bit: it is sent in `topk`'s exact 8-byte layout instead, which both
 * sides derive from its size.
 */
import { checkSparseIndex, createTopk, selectTopk, sparseBound, topkCount } from './topk.js';
import { entryView, type TensorCodec } from './types.js';

/** Index bits for a tensor of `size` entries (≥ 1). */
export function indexBits(size: number): number {
  return Math.max(1, 32 - Math.clz32(size - 1));
}

/** Above this many entries a tensor uses the exact topk layout. */
const MAX_PACKED_SIZE = 2 ** 22;
const EXPONENT_MASK = 0x7f800000;

/**
 * The largest error of `value` kept in 32 − b bits: half a unit of the last bit kept,
 * a whole unit in the top binade (where rounding up would reach ±∞, it truncates).
 */
function packedTolerance(value: number, b: number): number {
  const exponent = (new Uint32Array(Float32Array.of(value).buffer)[0]! >>> 23) & 0xff; // 0: subnormal
  const unit = 2 ** (Math.max(exponent, 1) - 150 + b); // float32's last place, times the b bits dropped
  return exponent === 254 ? unit : unit / 2;
}

export function createTopkPacked(ratio: number): TensorCodec {
  const exact = createTopk(ratio);
  const scratch = { mags: new Float32Array(0) };
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  return {
    id: 'topk-packed',
    lossy: true,
    sparse: true,
    errorBound(values) {
      const size = values.length;
      if (size > MAX_PACKED_SIZE) return exact.errorBound(values);
      return sparseBound(values, topkCount(size, ratio), (v) => packedTolerance(v, indexBits(size)));
    },
    byteLength: (size) => (size > MAX_PACKED_SIZE ? exact.byteLength(size) : topkCount(size, ratio) * 4),
    write(values, out, offset) {
      const size = values.length;
      if (size > MAX_PACKED_SIZE) return exact.write(values, out, offset);
      const b = indexBits(size);
      const valueBits = 32 - b;
      const half = 1 << (b - 1);
      const k = topkCount(size, ratio);
      const view = new DataView(out.buffer, out.byteOffset + offset, k * 4);
      selectTopk(values, k, scratch, (index, value, n) => {
        f32[0] = value;
        let bits = u32[0]!;
        // Round to nearest, except NaN and ±∞, whose patterns must survive as they are,
        // and a value so near ±FLT_MAX that rounding up would make it ±∞ (it truncates).
        if ((bits & EXPONENT_MASK) !== EXPONENT_MASK) {
          const rounded = (bits + half) >>> 0;
          if ((rounded & EXPONENT_MASK) !== EXPONENT_MASK) bits = rounded;
        }
        view.setUint32(n * 4, ((index << valueBits) | (bits >>> b)) >>> 0, true);
      });
    },
    readInto(entry, bytes, out) {
      const size = out.length;
      if (size > MAX_PACKED_SIZE) return exact.readInto(entry, bytes, out);
      const b = indexBits(size);
      const valueBits = 32 - b;
      const k = topkCount(size, ratio);
      const view = entryView(entry, bytes);
      out.fill(0);
      let prev = -1;
      for (let n = 0; n < k; n++) {
        const word = view.getUint32(n * 4, true);
        const index = word >>> valueBits;
        const bad = checkSparseIndex(index, prev, size);
        if (bad) return bad;
        u32[0] = (word << b) >>> 0;
        out[index] = f32[0]!;
        prev = index;
      }
      return null;
    },
  };
}
