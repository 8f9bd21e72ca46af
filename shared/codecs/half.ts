/**
 * IEEE 754 binary16 conversions in plain JS (no Float16Array in our browsers or
 * Node 20). Encoding rounds to nearest, ties to even.
 */

// One float's bits, reinterpreted through a shared 4-byte buffer (allocated once).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Largest finite half: 65504. */
export const HALF_MAX = 65504;
const HALF_MAX_BITS = 0x7bff;

/**
 * float32 → half bits. Finite values beyond ±65504 are clamped to ±65504 instead of
 * becoming ±Infinity: a large but finite gradient must not turn non-finite (and be
 * refused as NON_FINITE) just because of its encoding. NaN and ±Infinity stay NaN and
 * ±Infinity, so a worker that really produced them is still refused by the server.
 */
export function toHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | (mant ? 0x7e00 : 0x7c00);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | HALF_MAX_BITS;
  if (e <= 0) {
    // Half subnormal (units of 2^-24) or zero; below 2^-25 everything rounds to ±0.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (h & 1) === 1)) h += 1; // may carry into the smallest normal: still right
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h += 1;
  if (h > HALF_MAX_BITS) h = HALF_MAX_BITS; // rounding carried into the infinity exponent
  return sign | h;
}

let table: Float32Array | null = null;

/** half bits → float32, through a 65,536-entry table built on first use (256 KiB). */
export function halfTable(): Float32Array {
  if (table) return table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else if (exp === 31) t[h] = mant ? NaN : sign * Infinity;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  table = t;
  return t;
}
