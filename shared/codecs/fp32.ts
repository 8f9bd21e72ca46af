/** fp32: little-endian IEEE single floats, 4 bytes per value; lossless. */
import type { TensorCodec } from './types.js';

export const fp32: TensorCodec = {
  id: 'fp32',
  lossy: false,
  sparse: false,
  errorBound: (values) => ({ reference: Float32Array.from(values), tolerance: new Float64Array(values.length) }),
  byteLength: (size) => size * 4,
  write(values, out, offset) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), offset);
  },
  readInto(entry, bytes, out) {
    const at = bytes.byteOffset + entry.offset;
    if (at % 4 === 0) {
      out.set(new Float32Array(bytes.buffer, at, out.length));
    } else {
      // Node may hand us a pooled Buffer at an odd offset: copy bytes, not floats.
      new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes.subarray(entry.offset, entry.offset + entry.byteLength));
    }
    return null;
  },
};
