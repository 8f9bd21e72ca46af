import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../shared/seeded-random.js';
import { createCodec, decodeTensors, getCodec } from '../../shared/codec.js';
import { sizeOf } from '../../shared/tensors.js';
import { GradientAccumulator } from './gradient-accumulator.js';

const specs = [
  { name: 'kernel', shape: [50, 40] },
  { name: 'bias', shape: [40] },
];


function randomGrads(r: () => number): Float32Array[] {
  return specs.map((s) => Float32Array.from({ length: sizeOf(s.shape) }, () => (r() - 0.5) * 2 ** (r() * 8 - 6)));
}

describe('GradientAccumulator error feedback', () => {
  for (const [id, ratio] of [['topk', 0.05], ['topk-packed', 0.05], ['int8', 0], ['fp16', 0]] as const) {
    it(`${id}: everything pushed plus the residual equals the sum of every gradient`, () => {
      const codec = createCodec(id, { topkRatio: ratio });
      const acc = new GradientAccumulator(specs, codec);
      const r = seededRandom(3);
      const gradTotal = specs.map((s) => new Float64Array(sizeOf(s.shape)));
      const sentTotal = specs.map((s) => new Float64Array(sizeOf(s.shape)));
      let absTotal = 0;
      for (let push = 0; push < 30; push++) {
        for (let b = 0; b < 3; b++) {
          const g = randomGrads(r);
          g.forEach((t, k) => t.forEach((v, i) => ((gradTotal[k]![i] += v), (absTotal += Math.abs(v)))));
          acc.add(g, 1, 64);
        }
        const payload = acc.take();
        expect(payload.manifest.codec).toBe(id);
        decodeTensors(payload, specs, codec).forEach((t, k) => t.forEach((v, i) => (sentTotal[k]![i] += v)));
        const residual = acc.residual();
        const tol = 1e-6 * (absTotal / 2040); // float32 rounding of running sums, relative to the mean |g| summed
        let worst = 0;
        specs.forEach((_, k) =>
          gradTotal[k]!.forEach((want, i) => (worst = Math.max(worst, Math.abs(sentTotal[k]![i]! + residual[k]![i]! - want)))),
        );
        expect(worst).toBeLessThanOrEqual(tol);
      }
    });
  }

  it('topk: the residual is exactly the entries not sent, and a small steady gradient is eventually sent', () => {
    const codec = createCodec('topk', { topkRatio: 0.01 });
    const acc = new GradientAccumulator([{ name: 'w', shape: [100] }], codec);
    const g = Float32Array.from({ length: 100 }, (_, i) => (i === 0 ? 1 : 0.01));
    acc.add([g], 1, 1);
    const first = decodeTensors(acc.take(), [{ name: 'w', shape: [100] }], codec)[0]!;
    expect(first[0]).toBe(1);
    expect(acc.residual()[0]![0]).toBe(0);
    expect([...acc.residual()[0]!.subarray(1)]).toEqual(new Array(99).fill(Math.fround(0.01)));
    // Entry 0 keeps winning until the others' residuals (0.01 per push) outgrow it.
    const sentAt = new Array<number>(100).fill(-1);
    for (let push = 1; push < 400 && sentAt.includes(-1); push++) {
      acc.add([g], 1, 1);
      const out = decodeTensors(acc.take(), [{ name: 'w', shape: [100] }], codec)[0]!;
      out.forEach((v, i) => v !== 0 && sentAt[i] === -1 && (sentAt[i] = push));
    }
    expect(sentAt.slice(1).every((p) => p > 0)).toBe(true);
  });

  it('fp32: lossless, nothing is kept between pushes', () => {
    const acc = new GradientAccumulator(specs, getCodec('fp32')!);
    const g = randomGrads(seededRandom(9));
    acc.add(g, 1, 1);
    const back = decodeTensors(acc.take(), specs);
    expect(back.map((t) => [...t])).toEqual(g.map((t) => [...t]));
    expect(acc.residual().every((t) => t.every((v) => v === 0))).toBe(true);
  });

  it('drops a non-finite residual instead of poisoning every later push', () => {
    const codec = createCodec('int8');
    const acc = new GradientAccumulator([{ name: 'w', shape: [4] }], codec);
    acc.add([Float32Array.from([1, NaN, 2, 3])], 1, 1);
    acc.take();
    expect([...acc.residual()[0]!]).toEqual([0, 0, 0, 0]);
    acc.add([Float32Array.from([1, 2, 3, 4])], 1, 1);
    const back = decodeTensors(acc.take(), [{ name: 'w', shape: [4] }], codec)[0]!;
    expect(back.every(Number.isFinite)).toBe(true);
  });
});
