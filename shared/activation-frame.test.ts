import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, type ActivationFrame, type FrameFields } from './activation-frame.js';
import { ErrorCode } from './errors.js';
import type { Failure } from './result.js';

const want = { shape: [4], codec: 'fp32' as const, maxExamples: 64, numClasses: 10 };
const forward: FrameFields = {
  kind: 'forward',
  step: 7,
  closesPush: true,
  micro: 1,
  micros: 4,
  examples: 2,
  miniBatch: 8,
  shape: [4],
  values: Float32Array.of(0.5, -1.25, 3, 0, 1e-3, 2, -7, 100),
  labels: Uint8Array.of(3, 9),
};
const decoded = (r: ActivationFrame | Failure): ActivationFrame => {
  if ('ok' in r) throw new Error(r.message);
  return r;
};

describe('activation frames', () => {
  it('round-trips a forward frame in fp32 exactly, labels included', () => {
    const bytes = encodeFrame(forward, 'fp32');
    expect(String.fromCharCode(...bytes.subarray(0, 4))).toBe('DPA1');
    expect(bytes.byteLength).toBe(28 + 4 + 8 * 4 + 2);
    const f = decoded(decodeFrame(bytes, want));
    expect(f).toMatchObject({ kind: 'forward', codec: 'fp32', step: 7, closesPush: true, micro: 1, micros: 4, examples: 2, miniBatch: 8, shape: [4] });
    expect([...f.values]).toEqual([...forward.values]);
    expect([...f.labels]).toEqual([3, 9]);
  });

  it('fp16 scales by the largest |value|, so gradients far below half precision keep their relative precision', () => {
    // Gradients of 1e-6: unscaled, fp16 keeps them only as subnormals (about 3 significant bits).
    const tiny = Float32Array.from({ length: 8 }, (_, i) => (i - 3.5) * 1e-6);
    const bytes = encodeFrame({ ...forward, kind: 'backward', values: tiny }, 'fp16');
    expect(bytes.byteLength).toBe(28 + 4 + 8 * 2);
    const f = decoded(decodeFrame(bytes, { ...want, codec: 'fp16' }));
    expect(f.labels.length).toBe(0);
    f.values.forEach((v, i) => expect(Math.abs(v - tiny[i]!)).toBeLessThan(Math.abs(tiny[i]!) * 1e-3));
    const big = decoded(decodeFrame(encodeFrame({ ...forward, values: Float32Array.of(1e6, -2e5, 3, 0, 0, 0, 0, 1) }, 'fp16'), { ...want, codec: 'fp16' }));
    expect(big.values[0]).toBe(1e6);
    expect(Math.abs(big.values[1]! + 2e5)).toBeLessThan(2e5 * 1e-3);
  });

  it('an abort carries only its header', () => {
    const f = decoded(decodeFrame(encodeFrame({ ...forward, kind: 'abort', examples: 0, shape: [], values: new Float32Array(0) }, 'fp32'), want));
    expect(f).toMatchObject({ kind: 'abort', step: 7, values: new Float32Array(0) });
  });

  it('refuses, with codes, whatever a broken or hostile neighbour could send', () => {
    const good = encodeFrame(forward, 'fp32');
    const edit = (fn: (b: Uint8Array, v: DataView) => void) => {
      const b = good.slice();
      fn(b, new DataView(b.buffer));
      return decodeFrame(b, want);
    };
    expect(decodeFrame(good.subarray(0, 10), want)).toMatchObject({ ok: false, code: ErrorCode.BYTE_LENGTH_MISMATCH });
    expect(edit((b) => (b[0] = 0x58))).toMatchObject({ ok: false, code: ErrorCode.BAD_ENCODING });
    expect(edit((b) => (b[4] = 9))).toMatchObject({ ok: false, code: ErrorCode.BAD_ENCODING });
    expect(edit((b) => (b[7] = 2))).toMatchObject({ ok: false, code: ErrorCode.BAD_ENCODING });
    expect(decodeFrame(good, { ...want, codec: 'fp16' })).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_CODEC });
    expect(decodeFrame(good, { ...want, shape: [5] })).toMatchObject({ ok: false, code: ErrorCode.SHAPE_MISMATCH });
    expect(edit((_, v) => v.setUint32(16, 3, true))).toMatchObject({ ok: false, code: ErrorCode.BYTE_LENGTH_MISMATCH });
    expect(edit((_, v) => v.setUint16(12, 4, true))).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
    expect(edit((_, v) => v.setUint32(20, 65, true))).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
    expect(edit((_, v) => v.setFloat32(32, NaN, true))).toMatchObject({ ok: false, code: ErrorCode.NON_FINITE });
    expect(edit((b) => (b[b.length - 1] = 10))).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST, message: expect.stringMatching(/label 10/) });
    expect(decodeFrame(good.slice(0, good.length - 1), want)).toMatchObject({ ok: false, code: ErrorCode.BYTE_LENGTH_MISMATCH });
  });

  it('decodes a frame at any byte offset (as a Buffer slice arrives from socket.io)', () => {
    const bytes = encodeFrame(forward, 'fp32');
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    expect([...decoded(decodeFrame(padded.subarray(3), want)).values]).toEqual([...forward.values]);
  });
});
