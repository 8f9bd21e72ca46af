import { describe, expect, it } from 'vitest';
import { encodeTensors, type TensorPayload } from './codec.js';
import { applyParamDelta, diffParams } from './param-delta.js';
import { seededRandom } from './seeded-random.js';

const SHAPES = [[300, 7], [7], [1], [50]];
const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

function model(seed: number): Float32Array[] {
  const r = seededRandom(seed);
  return SHAPES.map((s) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => r() - 0.5));
}

function encode(values: Float32Array[]): TensorPayload {
  return encodeTensors(values.map((v, i) => ({ name: `t${i}`, shape: SHAPES[i]!, values: v })));
}

/** Changes `count` random entries of a copy of `values`, including the awkward bit patterns. */
function update(values: Float32Array[], count: number, seed: number): Float32Array[] {
  const r = seededRandom(seed);
  const next = values.map((v) => v.slice());
  const awkward = [-0, 0, NaN, Infinity, -Infinity, 1e-45];
  for (let n = 0; n < count; n++) {
    const t = Math.floor(r() * next.length);
    const i = Math.floor(r() * next[t]!.length);
    next[t]![i] = n < awkward.length ? awkward[n]! : next[t]![i]! + (r() - 0.5) * 1e-3;
  }
  return next;
}

describe('parameter deltas', () => {
  it('reconstruct the new parameters bit for bit, in far fewer bytes when few entries changed', () => {
    const before = model(1);
    const after = update(before, 40, 2);
    const delta = diffParams(encode(before), after, 5, { indices: new Uint32Array(0) });
    if (!delta) throw new Error('expected a delta');
    expect(delta.manifest).toMatchObject({ codec: 'delta', since: 5 });
    expect(delta.data.byteLength).toBeLessThanOrEqual(40 * 8);
    const target = before.map((v) => v.slice());
    expect(applyParamDelta(delta.manifest, delta.data, target)).toBeNull();
    target.forEach((v, t) => expect(bitsOf(v)).toEqual(bitsOf(after[t]!)));
  });

  it('tell -0 from 0 (a float comparison would not)', () => {
    const before = model(7).map((v) => v.fill(0));
    const after = before.map((v) => v.slice());
    after[0]![0] = -0;
    const delta = diffParams(encode(before), after, 0, { indices: new Uint32Array(0) })!;
    expect(delta.manifest.tensors.map((e) => e.byteLength)).toEqual([8, 0, 0, 0]);
    const target = before.map((v) => v.slice());
    applyParamDelta(delta.manifest, delta.data, target);
    expect(Object.is(target[0]![0], -0)).toBe(true);
  });

  it('are empty when nothing changed', () => {
    const before = model(3);
    const delta = diffParams(encode(before), before, 9, { indices: new Uint32Array(0) })!;
    expect(delta.data.byteLength).toBe(0);
    expect(delta.manifest.tensors).toHaveLength(SHAPES.length);
  });

  it('are not offered when at least half the parameters changed (the full payload is smaller)', () => {
    const before = model(4);
    const total = before.reduce((n, v) => n + v.length, 0);
    const dense = before.map((v) => v.map((x) => x + 1));
    expect(diffParams(encode(before), dense, 0, { indices: new Uint32Array(0) })).toBeNull();
    // Just under half: still a delta, and smaller than the fp32 payload.
    const sparse = before.map((v) => v.slice());
    let left = Math.floor(total / 2) - 1;
    for (const v of sparse) for (let i = 0; i < v.length && left > 0; i++, left--) v[i]! += 1;
    const delta = diffParams(encode(before), sparse, 0, { indices: new Uint32Array(0) });
    expect(delta).not.toBeNull();
    expect(delta!.data.byteLength).toBeLessThan(total * 4);
  });

  it('refuse to apply a malformed delta', () => {
    const before = model(5);
    const delta = diffParams(encode(before), update(before, 10, 6), 0, { indices: new Uint32Array(0) })!;
    const fresh = () => before.map((v) => v.slice());
    const withEntry = (t: number, patch: object) => ({
      ...delta.manifest,
      tensors: delta.manifest.tensors.map((e, i) => (i === t ? { ...e, ...patch } : e)),
    });
    expect(applyParamDelta({ ...delta.manifest, tensors: delta.manifest.tensors.slice(1) }, delta.data, fresh())).toMatch(/tensors/);
    expect(applyParamDelta(withEntry(0, { byteLength: 12 }), delta.data, fresh())).toMatch(/does not fit/);
    expect(applyParamDelta(withEntry(0, { offset: delta.data.byteLength }), delta.data, fresh())).toMatch(/does not fit/);

    const outOfRange = new Uint8Array(8);
    new DataView(outOfRange.buffer).setUint32(0, 7, true); // tensor 1 has 7 entries: index 7 is past its end
    const one = { codec: 'delta' as const, since: 0, tensors: SHAPES.map((s, i) => ({ name: `t${i}`, shape: s, dtype: 'float32' as const, offset: 0, byteLength: i === 1 ? 8 : 0 })) };
    expect(applyParamDelta(one, outOfRange, fresh())).toMatch(/out of range or out of order/);

    const repeated = new Uint8Array(16);
    const v = new DataView(repeated.buffer);
    v.setUint32(0, 3, true);
    v.setUint32(4, 3, true);
    const two = { ...one, tensors: one.tensors.map((e, i) => ({ ...e, byteLength: i === 1 ? 16 : 0 })) };
    expect(applyParamDelta(two, repeated, fresh())).toMatch(/out of range or out of order/);
  });
});
