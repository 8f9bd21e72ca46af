import { describe, expect, it } from 'vitest';
import { decodeTensors, encodeTensors } from './codec.js';
import { joinTensors, selectTensors } from './tensor-parts.js';

const tensors = [
  { name: 'a/kernel', shape: [2, 2], values: Float32Array.of(1, 2, 3, 4) },
  { name: 'a/bias', shape: [2], values: Float32Array.of(5, 6) },
  { name: 'b/kernel', shape: [2, 1], values: Float32Array.of(7, 8) },
];

describe('tensor parts', () => {
  it('selects entries by name with their bytes packed, and joins parts back into the whole', () => {
    for (const codec of ['fp32', 'fp16'] as const) {
      const whole = encodeTensors(tensors, codec);
      const first = selectTensors(whole, new Set(['a/kernel', 'a/bias']));
      const second = selectTensors(whole, new Set(['b/kernel']));
      expect(first.manifest.tensors.map((t) => [t.name, t.offset])).toEqual([['a/kernel', 0], ['a/bias', first.manifest.tensors[0]!.byteLength]]);
      expect(second.manifest.tensors[0]!.offset).toBe(0);
      expect(decodeTensors(second, [{ name: 'b/kernel', shape: [2, 1] }]).map((v) => [...v])).toEqual([[7, 8]]);
      const joined = joinTensors([first, second]);
      expect(joined.manifest).toEqual(whole.manifest);
      expect([...joined.data]).toEqual([...new Uint8Array(whole.data as ArrayBuffer)]);
    }
  });
});
