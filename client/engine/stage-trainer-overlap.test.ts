/**
 * The StageTrainer across the flush (docs/model-parallelism.md, "Overlap across the
 * flush"): mini-batch n + 1's micro-batches go forward while n's come back, as a stage
 * runs them when the pipeline does not drain between mini-batches. The cnn preset split
 * in 2 stages (tfjs cpu, real MNIST): each step's gradient must be the unsplit model's
 * on that step's own batch and on the parameters its forward used, within 1e-5, even
 * when the stage took new parameters in between. A shared gradient sum, or a backward
 * recomputed on the newest parameters, fails these.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featuresAsFloat } from '../../server/data/dataset.js';
import { loadMnist } from '../../server/data/mnist.js';
import { MODEL_PRESETS, tensorSpecsOf } from '../../shared/models.js';
import type { TensorSpec } from '../../shared/tensors.js';
import { ModelTrainer, type Batch } from './model-trainer.js';
import { microbatches, StageTrainer } from './stage-trainer.js';

const FEATURES = [28, 28, 1];
const CLASSES = 10;
const TOLERANCE = 1e-5;
/** conv1 pool1 | conv2 pool2 flatten output */
const CUT = 2;
const M = 2;

let topology: object;
let specs: TensorSpec[];
/** Two parameter sets: the seeded start, and another seed's (far apart, so a backward on the wrong one shows). */
let paramsA: Float32Array[];
let paramsB: Float32Array[];
let batches: Batch[];

const valuesOf = (m: tf.LayersModel) => m.trainableWeights.map((w) => Float32Array.from(w.read().dataSync() as Float32Array));

beforeAll(async () => {
  await tf.setBackend('cpu');
  const a = MODEL_PRESETS.cnn.build(FEATURES, CLASSES, 7);
  const b = MODEL_PRESETS.cnn.build(FEATURES, CLASSES, 99);
  topology = a.toJSON(undefined, false) as object;
  specs = tensorSpecsOf(a);
  paramsA = valuesOf(a);
  paramsB = valuesOf(b);
  a.dispose();
  b.dispose();
  const mnist = loadMnist();
  const n = 28 * 28;
  // Two different mini-batches of 12 (examples 2000… and 3000…), scaled as a worker's shard is.
  batches = [2000, 3000].map((at) => {
    const split = { count: 12, features: mnist.train.features.subarray(at * n, (at + 12) * n), labels: mnist.train.labels.subarray(at, at + 12) };
    return { features: featuresAsFloat(mnist, split), labels: split.labels, size: 12 };
  });
});

async function unsplit(params: Float32Array[], batch: Batch): Promise<{ loss: number; grads: Float32Array[] }> {
  const trainer = await ModelTrainer.create(topology, specs, FEATURES, CLASSES);
  try {
    trainer.setParams(params);
    const g = await trainer.gradient(batch);
    return { loss: g.loss, grads: g.grads.map((t) => t.slice()) };
  } finally {
    trainer.dispose();
  }
}

async function stages(params: Float32Array[]): Promise<[StageTrainer, StageTrainer]> {
  const first = await StageTrainer.create(topology, specs, { from: 0, to: CUT, inputShape: FEATURES }, CLASSES);
  const last = await StageTrainer.create(topology, specs, { from: CUT, to: 6, inputShape: first.outputShape }, CLASSES);
  for (const s of [first, last]) s.setParams(s.specs.map((t) => params[specs.findIndex((j) => j.name === t.name)]!));
  return [first, last];
}

const ownOf = (s: StageTrainer, params: Float32Array[]) => s.specs.map((t) => params[specs.findIndex((j) => j.name === t.name)]!);
const maxDifference = (a: Float32Array, b: Float32Array) => a.reduce((worst, v, i) => Math.max(worst, Math.abs(v - b[i]!)), 0);

/** Every micro-batch of `step` forward through the first stage and through the last stage's loss; the gradients to send back. */
async function forwardAll(first: StageTrainer, last: StageTrainer, batch: Batch, step: number): Promise<Float32Array[]> {
  const back: Float32Array[] = [];
  for (const [i, mb] of microbatches(batch, M).entries()) {
    const a = await first.forward(i, mb.features, mb.size, step);
    back.push((await last.lossAndBackward(a, mb.labels, batch.size, step))!);
  }
  return back;
}

function expectGradient(got: { grads: Float32Array[]; loss: number | null }, want: { grads: Float32Array[]; loss: number }, names: string[], what: string) {
  got.grads.forEach((g, i) => {
    const j = specs.findIndex((s) => s.name === names[i]);
    expect(maxDifference(g, want.grads[j]!), `${what}: ${names[i]}`).toBeLessThan(TOLERANCE);
  });
  if (got.loss !== null) expect(Math.abs(got.loss - want.loss), `${what}: loss`).toBeLessThan(TOLERANCE);
}

describe('StageTrainer across the flush', () => {
  it('keeps two steps in flight apart: step n + 1 goes forward before n comes back, each step\'s gradient is its own batch\'s', async () => {
    const [first, last] = await stages(paramsA);
    try {
      const want0 = await unsplit(paramsA, batches[0]!);
      const want1 = await unsplit(paramsA, batches[1]!);
      const back0 = await forwardAll(first, last, batches[0]!, 0);
      // Step 1 reaches the last stage before it takes step 0's gradient (its push waits for the previous answer).
      const back1 = await forwardAll(first, last, batches[1]!, 1);
      const lastGot0 = await last.takeGradient(0);
      // At the first stage the two steps come back interleaved; step 0 is complete while step 1 is not.
      await first.backward(1, back0[1]!, 0);
      await first.backward(1, back1[1]!, 1);
      await first.backward(0, back0[0]!, 0);
      await expect(first.takeGradient(1)).rejects.toThrow(/Micro-batches 1\/0 went forward and never came back/);
      const firstGot0 = await first.takeGradient(0);
      await first.backward(0, back1[0]!, 1);
      const firstGot1 = await first.takeGradient(1);
      const lastGot1 = await last.takeGradient(1);
      expectGradient(firstGot0, want0, first.specs.map((s) => s.name), 'step 0, first stage');
      expectGradient(lastGot0, want0, last.specs.map((s) => s.name), 'step 0, last stage');
      expectGradient(firstGot1, want1, first.specs.map((s) => s.name), 'step 1, first stage');
      expectGradient(lastGot1, want1, last.specs.map((s) => s.name), 'step 1, last stage');
      // Not a vacuous match: the two batches' gradients differ.
      expect(maxDifference(firstGot0.grads[0]!, firstGot1.grads[0]!)).toBeGreaterThan(1e-3);
    } finally {
      first.dispose();
      last.dispose();
    }
  });

  it('a push closing two steps takes both, and leaves a third in flight to its own', async () => {
    const [first, last] = await stages(paramsA);
    try {
      const both = await Promise.all([unsplit(paramsA, batches[0]!), unsplit(paramsA, batches[1]!)]);
      await forwardAll(first, last, batches[0]!, 0);
      await forwardAll(first, last, batches[1]!, 1);
      await forwardAll(first, last, batches[0]!, 2);
      const got = await last.takeGradient(1);
      const sum = { loss: both[0].loss + both[1].loss, grads: both[0].grads.map((g, i) => g.map((v, j) => v + both[1].grads[i]![j]!)) };
      expectGradient(got, sum, last.specs.map((s) => s.name), 'steps 0 and 1');
      expectGradient(await last.takeGradient(2), both[0], last.specs.map((s) => s.name), 'step 2');
    } finally {
      first.dispose();
      last.dispose();
    }
  });

  it('a step that went forward on older parameters comes back on them, after the stage took new ones for the next', async () => {
    const [first, last] = await stages(paramsA);
    try {
      const want0 = await unsplit(paramsA, batches[0]!);
      const want1 = await unsplit(paramsB, batches[1]!);
      const back0 = await forwardAll(first, last, batches[0]!, 0);
      // Mini-batch 1 starts on new parameters (a pull taken at its start) while 0 is still to come back.
      first.setParams(ownOf(first, paramsB));
      last.setParams(ownOf(last, paramsB));
      const back1 = await forwardAll(first, last, batches[1]!, 1);
      expect(first.keptVersions).toBe(1);
      // Interleaved, as frames arrive: a backward of each step in turn.
      for (let i = M - 1; i >= 0; i--) {
        await first.backward(i, back0[i]!, 0);
        await first.backward(i, back1[i]!, 1);
      }
      expect(first.keptVersions).toBe(0);
      expectGradient(await first.takeGradient(0), want0, first.specs.map((s) => s.name), 'step 0 on the old parameters');
      expectGradient(await first.takeGradient(1), want1, first.specs.map((s) => s.name), 'step 1 on the new parameters');
      // The layers are left on the newest parameters: a new forward uses them.
      const [mb] = microbatches(batches[1]!, M);
      const again = await first.forward(0, mb!.features, mb!.size, 2);
      const b1 = await StageTrainer.create(topology, specs, { from: 0, to: CUT, inputShape: FEATURES }, CLASSES);
      b1.setParams(ownOf(b1, paramsB));
      expect(maxDifference(again, await b1.forward(0, mb!.features, mb!.size))).toBe(0);
      b1.dispose();
    } finally {
      first.dispose();
      last.dispose();
    }
  });

  it('keeps tf.memory().numTensors flat over overlapped steps with new parameters each, and abandoning frees every step', async () => {
    const [first, last] = await stages(paramsA);
    try {
      const overlapped = async (step: number, params: Float32Array[]) => {
        first.setParams(ownOf(first, params));
        const back = await forwardAll(first, last, batches[step % 2]!, step);
        return back;
      };
      let step = 0;
      let pending = await overlapped(step, paramsA);
      const run = async (steps: number) => {
        for (let n = 0; n < steps; n++) {
          step += 1;
          const next = await overlapped(step, step % 2 ? paramsB : paramsA);
          for (let i = M - 1; i >= 0; i--) await first.backward(i, pending[i]!, step - 1);
          await first.takeGradient(step - 1);
          await last.takeGradient(step - 1);
          pending = next;
        }
      };
      await run(1);
      const after = tf.memory().numTensors;
      await run(3);
      expect(tf.memory().numTensors).toBe(after);
      first.abandonStep();
      last.abandonStep();
      expect(first.keptVersions).toBe(0);
      expect(tf.memory().numTensors).toBeLessThan(after);
      await expect(first.takeGradient()).rejects.toThrow(/No micro-batch came back/);
    } finally {
      first.dispose();
      last.dispose();
    }
  });
});

afterAll(() => {
  expect(tf.memory().numTensors).toBe(0);
});
