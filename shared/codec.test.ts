import { describe, expect, it } from 'vitest';
import { asBytes, decodeTensors, encodeTensors, getCodec } from './codec.js';

const tensors = [
  { name: 'dense1/kernel', shape: [3, 2], values: Float32Array.from([1, -2, 3.5, 0, 1e-8, -7]) },
  { name: 'dense1/bias', shape: [2], values: Float32Array.from([0.25, -0.5]) },
];
const specs = tensors.map(({ name, shape }) => ({ name, shape }));

describe('fp32 tensor codec', () => {
  it('round-trips names, shapes and values exactly', () => {
    const payload = encodeTensors(tensors);
    expect(payload.manifest.codec).toBe('fp32');
    expect(payload.manifest.tensors).toEqual([
      { name: 'dense1/kernel', shape: [3, 2], dtype: 'float32', offset: 0, byteLength: 24 },
      { name: 'dense1/bias', shape: [2], dtype: 'float32', offset: 24, byteLength: 8 },
    ]);
    expect(asBytes(payload.data).byteLength).toBe(32);
    const back = decodeTensors(payload, specs);
    expect(back.map((v) => [...v])).toEqual(tensors.map((t) => [...t.values]));
  });

  it('decodes from a buffer at an unaligned offset (a pooled Node Buffer)', () => {
    const payload = encodeTensors(tensors);
    const bytes = asBytes(payload.data);
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const back = decodeTensors({ manifest: payload.manifest, data: shifted.subarray(3) }, specs);
    expect([...back[0]!]).toEqual([...tensors[0]!.values]);
    expect([...back[1]!]).toEqual([...tensors[1]!.values]);
  });

  it('refuses values that do not fit the shape, naming the tensor', () => {
    expect(() => encodeTensors([{ name: 'w', shape: [2, 2], values: new Float32Array(3) }])).toThrow(/w has 3 values.*needs 4/);
  });

  it('looks codecs up by id and knows no others', () => {
    expect(getCodec('fp32')?.byteLength(10)).toBe(40);
    expect(getCodec('fp16')).toBeUndefined();
    expect(getCodec('__proto__')).toBeUndefined();
  });
});
