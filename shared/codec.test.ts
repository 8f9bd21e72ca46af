import { describe, expect, it } from 'vitest';
import { asBytes, CODEC_IDS, createCodec, decodeTensors, encodeTensors, getCodec } from './codec.js';

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
    expect(getCodec('fp16')?.byteLength(10)).toBe(20);
    expect(getCodec('int8')?.byteLength(10)).toBe(16);
    expect(getCodec('topk')?.byteLength(1000)).toBe(80); // default ratio 0.01: k = 10
    expect(getCodec('fp64')).toBeUndefined();
    expect(getCodec('__proto__')).toBeUndefined();
  });
});

describe('every codec', () => {
  const big = { name: 'w', shape: [33, 31], values: Float32Array.from({ length: 33 * 31 }, (_, i) => Math.sin(i * 1.7) * (i % 7)) };
  const odd = { name: 'b', shape: [3], values: Float32Array.from([0.5, -0.25, 2]) };
  const specs2 = [big, odd].map(({ name, shape }) => ({ name, shape }));

  for (const id of CODEC_IDS) {
    const codec = createCodec(id, { topkRatio: 0.1 });
    it(`${id}: contiguous 4-aligned layout from the shapes alone, decodes from an unaligned Buffer`, () => {
      const payload = encodeTensors([big, odd], codec);
      const [a, b] = payload.manifest.tensors;
      expect(payload.manifest.codec).toBe(id);
      expect(a).toMatchObject({ offset: 0, byteLength: codec.byteLength(33 * 31) });
      expect(b).toMatchObject({ offset: a!.byteLength, byteLength: codec.byteLength(3) });
      expect(a!.byteLength % 4).toBe(0);
      expect(b!.byteLength % 4).toBe(0);
      const bytes = asBytes(payload.data);
      expect(bytes.byteLength).toBe(a!.byteLength + b!.byteLength);
      const aligned = decodeTensors(payload, specs2, codec);
      const shifted = new Uint8Array(bytes.length + 1);
      shifted.set(bytes, 1);
      const unaligned = decodeTensors({ manifest: payload.manifest, data: shifted.subarray(1) }, specs2, codec);
      expect(unaligned.map((v) => [...v])).toEqual(aligned.map((v) => [...v]));
    });
  }

  it('refuses to decode a payload with another codec than the one given', () => {
    const payload = encodeTensors([odd], 'fp16');
    expect(() => decodeTensors(payload, [{ name: 'b', shape: [3] }], getCodec('fp32'))).toThrow(/fp16/);
  });
});
