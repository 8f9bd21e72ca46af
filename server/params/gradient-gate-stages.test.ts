/**
 * The gradient gate on a replica step's joined gradient (`stages`): each stage's part is
 * judged against the bound of its own tensors, with the PS's norms of those tensors as
 * its reference; a clip scales that part alone, a refusal names its stage.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { encodeTensors, getCodec } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { optimizerSpecSchema } from '../../shared/job-spec.js';
import type { TensorSpec } from '../../shared/tensors.js';
import { GradientGate } from './gradient-gate.js';
import { WARM_PUSHES } from './norm-bound.js';
import { createOptimizer } from './optimizers.js';
import { ParameterStore } from './parameter-store.js';
import { ReferenceNorms } from './reference-norms.js';

const MODEL: TensorSpec[] = [
  { name: 'a/kernel', shape: [4] },
  { name: 'b/kernel', shape: [4] },
  { name: 'c/kernel', shape: [4] },
];
/** Stage 0 holds a, stage 1 holds b and c. */
const STAGES = [
  { worker: 's0', tensors: 1 },
  { worker: 's1', tensors: 2 },
];
/** The PS's own norm per batch: 1 for each tensor, so √2 for stage 1's two. */
const REFERENCE = new ReferenceNorms([[1, 1, 1]]);

const stores: ParameterStore[] = [];
afterAll(() => stores.forEach((s) => s.dispose()));

function gate(): GradientGate {
  const store = new ParameterStore(MODEL, MODEL.map(() => new Float32Array(4)), createOptimizer(optimizerSpecSchema.parse({ type: 'sgd' })), { apply: { kernels: 'js', threads: 1, parallelFromParams: 0 } });
  stores.push(store);
  return new GradientGate(store, getCodec('fp32')!, 10, REFERENCE);
}

/** A push whose tensor k has norm `norms[k]` (every entry the same), as two stages' joined parts. */
function push(norms: number[], stages = STAGES) {
  return { ...encodeTensors(MODEL.map((t, k) => ({ ...t, values: new Float32Array(4).fill(norms[k]! / 2) }))), batches: 1, stages };
}

describe('the gate on a replica step', () => {
  it("clips the part over its own stage's bound and leaves the others as pushed", () => {
    const g = gate();
    for (let i = 0; i < WARM_PUSHES; i++) expect(g.check(push([1, 1, 1]), 'r1')).toMatchObject({ clipped: null, stageClips: [null, null] });
    // Stage 1's part at 100 per tensor: its norm 141 against 10 × √2; stage 0's within its own bound of 10.
    const d = g.check(push([5, 100, 100]), 'r1');
    if ('ok' in d) throw new Error(d.message);
    const scale = (10 * Math.SQRT2) / (100 * Math.SQRT2);
    expect(d.stageClips![0]).toBeNull();
    expect(d.stageClips![1]).toBeCloseTo(scale, 9);
    expect(d.clipped).toBeCloseTo(scale, 9);
    expect([...d.views[0]!]).toEqual([2.5, 2.5, 2.5, 2.5]);
    expect(d.views[1]![0]).toBeCloseTo(50 * scale, 5);
    expect(d.norm).toBeCloseTo(Math.hypot(5, 10 * Math.SQRT2), 4);
  });

  it('refuses a cold stage over its bound with its index, and a non-finite part likewise', () => {
    const g = gate();
    // Within the whole model's bound (10 × √3 = 17.3 against a norm of 15), over stage 0's own (10 × 1).
    expect(g.check(push([15, 0.1, 0.1]), 'r1')).toMatchObject({ ok: false, code: ErrorCode.NORM_OUTLIER, stage: 0 });
    expect(g.check(push([1, 100, 1]), 'r1')).toMatchObject({ ok: false, code: ErrorCode.NORM_OUTLIER, stage: 1 });
    expect(g.check(push([1, Number.NaN, 1]), 'r1')).toMatchObject({ ok: false, code: ErrorCode.NON_FINITE, stage: 1 });
    // The same gradient from a data-parallel worker is judged whole: within the bound, no stage.
    expect(g.check({ ...push([15, 0.1, 0.1]), stages: undefined }, 'w1')).toMatchObject({ clipped: null, stageClips: null });
  });
});
