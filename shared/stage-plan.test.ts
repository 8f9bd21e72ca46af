/**
 * Layer costs and stage plans worked out by hand, then the planner against brute force
 * (every order of the workers × every set of cuts) on small random models.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from './errors.js';
import { seededRandom } from './seeded-random.js';
import { layerCost, layerCosts, MAX_STAGES, planStages, stagesNeeded, type LayerCost, type LayerTrace, type PlannedStage } from './stage-plan.js';

const trace = (className: string, inputs: (number | null)[][], outputs: (number | null)[][], parameters: number, channelsFirst = false): LayerTrace => ({
  name: className.toLowerCase(),
  className,
  inputs,
  outputs,
  parameters,
  channelsFirst,
});
/** Layers of given FLOPs and parameter bytes. */
const costs = (flops: number[], bytes: number[] = flops.map(() => 0)): LayerCost[] => flops.map((f, i) => ({ name: `l${i}`, flops: f, paramBytes: bytes[i]!, inputShape: [i + 1], outputValues: 10 + i }));
const cuts = (stages: PlannedStage[]) => stages.map((s) => [s.worker, s.from, s.to]);
const planned = (r: ReturnType<typeof planStages>) => {
  if (!r.ok) throw new Error(r.message);
  return r;
};

describe('layerCost', () => {
  it('a Dense layer: 6 × weights, fp32 bytes, its units cross a cut', () => {
    // mlp's dense1 on MNIST: 784 × 128 + 128 weights, applied once per example.
    expect(layerCost(trace('Dense', [[784]], [[128]], 100_480))).toEqual({ name: 'dense', flops: 602_880, paramBytes: 401_920, inputShape: [784], outputValues: 128 });
    // On [T, f] inputs the kernel is applied at each of the T places.
    expect(layerCost(trace('Dense', [[5, 4]], [[5, 3]], 15)).flops).toBe(6 * 15 * 5);
  });

  it('a convolution is applied at every output pixel, channels last or first', () => {
    // cnn's conv1: 5×5×1×8 + 8 weights over 24 × 24 outputs.
    expect(layerCost(trace('Conv2D', [[28, 28, 1]], [[24, 24, 8]], 208)).flops).toBe(6 * 208 * 576);
    expect(layerCost(trace('Conv2D', [[3, 16, 16]], [[4, 14, 14]], 112, true)).flops).toBe(6 * 112 * 196);
  });

  it('an RNN applies its weights once per time step', () => {
    // LSTM(4) on 5 steps of 3 features: 4 × (3·4 + 4·4 + 4) weights.
    expect(layerCost(trace('LSTM', [[5, 3]], [[4]], 128)).flops).toBe(6 * 128 * 5);
  });

  it('layers that do not multiply weights into their input cost a read and a write each way', () => {
    // pool1 of the cnn: 24·24·8 in, 12·12·8 out.
    expect(layerCost(trace('MaxPooling2D', [[24, 24, 8]], [[12, 12, 8]], 0))).toEqual({ name: 'maxpooling2d', flops: 2 * (4608 + 1152), paramBytes: 0, inputShape: [24, 24, 8], outputValues: 1152 });
    // An Embedding's table is looked up, not multiplied: its bytes count, its size does not make it slow.
    expect(layerCost(trace('Embedding', [[12]], [[12, 8]], 400))).toMatchObject({ flops: 2 * (12 + 96), paramBytes: 1600 });
  });

  it('layerCosts skips the InputLayer and checks the dataset\'s example shape', () => {
    const layers = [trace('InputLayer', [], [[4]], 0), trace('Dense', [[4]], [[3]], 15)];
    const r = layerCosts(layers, [4]);
    expect(r.ok && r.costs.map((c) => c.name)).toEqual(['dense']);
    expect(layerCosts(layers, [28, 28, 1])).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST, message: "The model's input is [4], the dataset's examples are [28,28,1]" });
    expect(layerCosts([], [4])).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
  });
});

describe('stagesNeeded', () => {
  it('fills each stage as far as the budget goes', () => {
    expect(stagesNeeded(costs([1, 1, 1, 1], [4, 4, 4, 4]), 8)).toEqual({ ok: true, stages: 2 });
    expect(stagesNeeded(costs([1, 1, 1], [4, 5, 4]), 8)).toEqual({ ok: true, stages: 3 });
    expect(stagesNeeded(costs([1, 1, 1], [4, 5, 4]), 100)).toEqual({ ok: true, stages: 1 });
  });

  it('refuses a layer that alone is over the budget, by name, and a budget that is not positive', () => {
    expect(stagesNeeded(costs([1, 1], [4, 10]), 8)).toEqual({ ok: false, code: ErrorCode.MODEL_TOO_LARGE, message: 'layer "l1" alone holds 10 parameter bytes; a worker may hold 8' });
    expect(stagesNeeded(costs([1], [4]), 0)).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
    expect(stagesNeeded(costs([1], [Number.NaN]), 8)).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST, message: expect.stringMatching(/layer "l0"/) });
  });
});

describe('planStages', () => {
  it('equal workers split equal layers in half', () => {
    const r = planned(planStages(costs([1, 1, 1, 1]), [1, 1]));
    expect(cuts(r.stages)).toEqual([[0, 0, 2], [1, 2, 4]]);
    expect(r.bottleneck).toBe(0.5);
    expect(r.stages.map((s) => s.sendsValues)).toEqual([11, 0]);
    expect(r.stages.map((s) => s.inputShape)).toEqual([[1], [3]]);
  });

  it('a heavy first layer gets a stage of its own', () => {
    const r = planned(planStages(costs([4, 1, 1, 1, 1]), [1, 1]));
    expect(cuts(r.stages)).toEqual([[0, 0, 1], [1, 1, 5]]);
    expect(r.bottleneck).toBe(0.5);
  });

  it('a worker twice as fast takes twice the work', () => {
    const r = planned(planStages(costs([1, 1, 1, 1, 1, 1]), [1, 2]));
    expect(r.stages.map((s) => [s.worker, s.to - s.from]).sort()).toEqual([[0, 2], [1, 4]]);
    expect(r.bottleneck).toBeCloseTo(1 / 3, 12);
    expect(r.stages.map((s) => s.secondsPerExample)).toEqual([r.bottleneck, r.bottleneck]);
  });

  it('chooses the workers\' order: the fast one first, where the heavy layer is', () => {
    // Slow first would have to take layer 0 (3 of 6 FLOPs) alone: 0.5 s. Fast first takes 3 layers: 5 / (3 × 6).
    const r = planned(planStages(costs([3, 1, 1, 1]), [1, 3]));
    expect(cuts(r.stages)).toEqual([[1, 0, 3], [0, 3, 4]]);
    expect(r.bottleneck).toBeCloseTo(5 / 18, 12);
  });

  it('keeps every stage within maxWorkerParamBytes, at the cost of balance', () => {
    // Unbounded, [3] | [1, 1, 1] is best (0.5), but its second stage holds 8 bytes.
    expect(cuts(planned(planStages(costs([3, 1, 1, 1], [1, 1, 6, 1]), [1, 1])).stages)).toEqual([[0, 0, 1], [1, 1, 4]]);
    const r = planned(planStages(costs([3, 1, 1, 1], [1, 1, 6, 1]), [1, 1], { maxWorkerParamBytes: 7 }));
    expect(cuts(r.stages)).toEqual([[0, 0, 2], [1, 2, 4]]);
    expect(r.stages.map((s) => s.paramBytes)).toEqual([2, 7]);
    expect(r.bottleneck).toBeCloseTo(4 / 6, 12);
  });

  it('refuses with a reason: over the budget, more stages than layers, bad rates', () => {
    expect(planStages(costs([1, 1, 1, 3], [1, 1, 6, 6]), [1, 1], { maxWorkerParamBytes: 7 })).toEqual({
      ok: false,
      code: ErrorCode.MODEL_TOO_LARGE,
      message: 'No split of 4 layers into 2 stages keeps every stage within 7 parameter bytes: it needs at least 3',
    });
    expect(planStages(costs([1, 1], [1, 9]), [1, 1], { maxWorkerParamBytes: 7 })).toMatchObject({ ok: false, message: expect.stringMatching(/layer "l1" alone holds 9/) });
    expect(planStages(costs([1, 1]), [1, 1, 1])).toEqual({ ok: false, code: ErrorCode.BAD_REQUEST, message: '3 stages asked for, but the model has 2 layers: a stage needs at least one' });
    expect(planStages(costs(Array(20).fill(1)), Array(MAX_STAGES + 1).fill(1))).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
    expect(planStages(costs([1, 1]), [1, 0])).toMatchObject({ ok: false, message: expect.stringMatching(/worker 1's rate/) });
    expect(planStages(costs([1, 1]), [])).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
    expect(planStages(costs([1, -1]), [1])).toMatchObject({ ok: false, message: expect.stringMatching(/layer "l1"/) });
  });

  it('one worker takes the whole model', () => {
    const r = planned(planStages(costs([2, 2]), [4]));
    expect(cuts(r.stages)).toEqual([[0, 0, 2]]);
    expect(r.bottleneck).toBe(0.25);
  });
});

/** Every order of the workers and every set of cuts: the least slowest stage. */
function bruteForce(c: LayerCost[], rates: number[], maxBytes: number): number {
  const total = c.reduce((n, l) => n + l.flops, 0) || 1;
  let best = Infinity;
  const orders = (rest: number[]): number[][] => (rest.length ? rest.flatMap((w) => orders(rest.filter((x) => x !== w)).map((o) => [w, ...o])) : [[]]);
  const splits = (from: number, parts: number): number[][] => {
    if (parts === 1) return [[c.length]];
    const out: number[][] = [];
    for (let to = from + 1; to <= c.length - parts + 1; to++) for (const s of splits(to, parts - 1)) out.push([to, ...s]);
    return out;
  };
  for (const order of orders(rates.map((_, i) => i))) {
    for (const ends of splits(0, rates.length)) {
      let from = 0;
      let worst = 0;
      ends.forEach((to, k) => {
        const part = c.slice(from, to);
        const bytes = part.reduce((n, l) => n + l.paramBytes, 0);
        const t = bytes > maxBytes ? Infinity : part.reduce((n, l) => n + l.flops, 0) / (rates[order[k]!]! * total);
        worst = Math.max(worst, t);
        from = to;
      });
      best = Math.min(best, worst);
    }
  }
  return best;
}

describe('planStages against brute force', () => {
  it('finds the least slowest stage on 300 random models', () => {
    const rand = seededRandom(16);
    for (let trial = 0; trial < 300; trial++) {
      const layers = 1 + Math.floor(rand() * 7);
      const workers = 1 + Math.floor(rand() * Math.min(layers, 4));
      const c = costs(
        Array.from({ length: layers }, () => Math.floor(rand() * 100)),
        Array.from({ length: layers }, () => Math.floor(rand() * 10)),
      );
      const rates = Array.from({ length: workers }, () => 0.5 + rand() * 4);
      const maxBytes = rand() < 0.5 ? Infinity : 5 + Math.floor(rand() * 20);
      const expected = bruteForce(c, rates, maxBytes);
      const r = planStages(c, rates, { maxWorkerParamBytes: maxBytes });
      if (expected === Infinity) {
        expect(r.ok, `trial ${trial}`).toBe(false);
        continue;
      }
      const plan = planned(r);
      expect(plan.bottleneck, `trial ${trial}`).toBeCloseTo(expected, 12);
      // The plan is what it says: contiguous, covering, each worker once, within the budget.
      expect(plan.stages.map((s) => s.from)).toEqual([0, ...plan.stages.slice(0, -1).map((s) => s.to)]);
      expect(plan.stages.at(-1)!.to).toBe(layers);
      expect(new Set(plan.stages.map((s) => s.worker)).size).toBe(workers);
      expect(Math.max(...plan.stages.map((s) => s.secondsPerExample))).toBe(plan.bottleneck);
      for (const s of plan.stages) expect(s.paramBytes).toBeLessThanOrEqual(maxBytes);
    }
  });
});
