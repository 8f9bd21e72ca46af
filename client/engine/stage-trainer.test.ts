/**
 * The proof model parallelism rests on (issue 16): the mlp and cnn presets split in 2
 * and 3 stages, run GPipe's way (every micro-batch forward, the last stage's loss and
 * backward as each arrives, then every micro-batch back), give the loss and every
 * tensor's gradient of the unsplit ModelTrainer on the same real MNIST batch, within
 * 1e-5, for M = 1 and M = 4 (on a batch of 30, so the micro-batches are 8, 8, 7, 7 and
 * each must count for its own share of the mean). tfjs cpu backend.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featuresAsFloat, type Dataset } from '../../server/data/dataset.js';
import { loadMnist } from '../../server/data/mnist.js';
import { censusOf } from '../../server/jobs/topology/topology-census.js';
import type { ModelPresetName } from '../../shared/job-spec.js';
import { MODEL_PRESETS, tensorSpecsOf } from '../../shared/models.js';
import { layerCosts, planStages, type PlannedStage } from '../../shared/stage-plan.js';
import type { TensorSpec } from '../../shared/tensors.js';
import { ModelTrainer, type Batch } from './model-trainer.js';
import { microbatches, StageTrainer } from './stage-trainer.js';

const FEATURES = [28, 28, 1];
const CLASSES = 10;
const BATCH = 30;
const TOLERANCE = 1e-5;

let mnist: Dataset;
let batch: Batch;

beforeAll(async () => {
  await tf.setBackend('cpu');
  mnist = loadMnist();
  const n = FEATURES.reduce((a, b) => a * b, 1);
  // Examples 1000…1029 of the training set, scaled as a worker's shard is.
  const split = { count: BATCH, features: mnist.train.features.subarray(1000 * n, (1000 + BATCH) * n), labels: mnist.train.labels.subarray(1000, 1000 + BATCH) };
  batch = { features: featuresAsFloat(mnist, split), labels: split.labels, size: BATCH };
});

interface Model {
  topology: object;
  specs: TensorSpec[];
  values: Float32Array[];
  /** Each layer's output shape per example. */
  shapes: number[][];
}

function preset(name: ModelPresetName): Model {
  const m = MODEL_PRESETS[name].build(FEATURES, CLASSES, 7);
  const model = {
    topology: m.toJSON(undefined, false) as object,
    specs: tensorSpecsOf(m),
    values: m.trainableWeights.map((w) => Float32Array.from(w.read().dataSync() as Float32Array)),
    shapes: m.layers.map((l) => (l.outputShape as number[]).slice(1)),
  };
  m.dispose();
  return model;
}

/** Stages of the given ranges, each fed its own tensors' values. */
async function stagesFor(model: Model, ranges: { from: number; to: number; inputShape: number[] }[]): Promise<StageTrainer[]> {
  return Promise.all(
    ranges.map(async (range) => {
      const stage = await StageTrainer.create(model.topology, model.specs, range, CLASSES);
      stage.setParams(stage.specs.map((s) => model.values[model.specs.findIndex((j) => j.name === s.name)]!));
      return stage;
    }),
  );
}

/** Stages cut after the given layers. */
function stagesOf(model: Model, cuts: number[]): Promise<StageTrainer[]> {
  const ends = [...cuts, model.shapes.length];
  return stagesFor(
    model,
    ends.map((to, k) => {
      const from = k === 0 ? 0 : ends[k - 1]!;
      return { from, to, inputShape: from === 0 ? FEATURES : model.shapes[from - 1]! };
    }),
  );
}

/** The stages the coordinator would plan from the topology's census for `workers` equally fast workers. */
function plannedStages(model: Model, workers: number): PlannedStage[] {
  const costs = layerCosts(censusOf(model.topology).trace, FEATURES);
  if (!costs.ok) throw new Error(costs.message);
  const plan = planStages(costs.costs, Array<number>(workers).fill(100));
  if (!plan.ok) throw new Error(plan.message);
  return plan.stages;
}

/** One mini-batch through the pipeline, GPipe's schedule; the stages' gradients in stage order, and the loss. */
async function pipelineStep(stages: StageTrainer[], b: Batch, m: number) {
  const last = stages.at(-1)!;
  const before = stages.slice(0, -1);
  const micro = microbatches(b, m);
  const back: (Float32Array | null)[] = [];
  for (const [i, mb] of micro.entries()) {
    let a = mb.features;
    for (const s of before) a = await s.forward(i, a, mb.size);
    back.push(await last.lossAndBackward(a, mb.labels, b.size));
  }
  for (let i = m - 1; i >= 0; i--) {
    let dy = back[i]!;
    for (const s of [...before].reverse()) dy = (await s.backward(i, dy!))!;
  }
  const parts = await Promise.all(stages.map((s) => s.takeGradient()));
  return { names: stages.flatMap((s) => s.specs.map((t) => t.name)), grads: parts.flatMap((p) => p.grads), loss: parts.at(-1)!.loss! };
}

const maxDifference = (a: Float32Array, b: Float32Array) => a.reduce((worst, v, i) => Math.max(worst, Math.abs(v - b[i]!)), 0);

const SPLITS: Record<'mlp' | 'cnn', { stages: number; cuts: number[] }[]> = {
  // flatten | dense1 | output: the first stage holds no weights at all.
  mlp: [
    { stages: 2, cuts: [2] },
    { stages: 3, cuts: [1, 2] },
  ],
  // conv1 pool1 | conv2 pool2 | flatten output
  cnn: [
    { stages: 2, cuts: [2] },
    { stages: 3, cuts: [2, 4] },
  ],
};

describe('a split model computes the unsplit gradient', () => {
  for (const name of ['mlp', 'cnn'] as const) {
    describe(name, () => {
      let model: Model;
      let unsplit: { loss: number; grads: Float32Array[] };
      beforeAll(async () => {
        model = preset(name);
        const trainer = await ModelTrainer.create(model.topology, model.specs, FEATURES, CLASSES);
        trainer.setParams(model.values);
        const g = await trainer.gradient(batch);
        unsplit = { loss: g.loss, grads: g.grads.map((t) => t.slice()) };
        trainer.dispose();
      });

      it('as the planner cuts it from the census for 3 equal workers, M = 4', async () => {
        const planned = plannedStages(model, 3);
        const stages = await stagesFor(model, planned.map((p) => ({ from: p.from, to: p.to, inputShape: p.inputShape as number[] })));
        try {
          const split = await pipelineStep(stages, batch, 4);
          expect(Math.abs(split.loss - unsplit.loss)).toBeLessThan(TOLERANCE);
          split.grads.forEach((g, i) => expect(maxDifference(g, unsplit.grads[i]!), model.specs[i]!.name).toBeLessThan(TOLERANCE));
        } finally {
          stages.forEach((s) => s.dispose());
        }
      });

      for (const { stages: k, cuts } of SPLITS[name]) {
        for (const m of [1, 4]) {
          it(`${k} stages, M = ${m}: the same loss and per-tensor gradients within ${TOLERANCE}`, async () => {
            const stages = await stagesOf(model, cuts);
            try {
              const split = await pipelineStep(stages, batch, m);
              expect(split.names).toEqual(model.specs.map((s) => s.name));
              expect(Math.abs(split.loss - unsplit.loss)).toBeLessThan(TOLERANCE);
              split.grads.forEach((g, i) => {
                expect(g.length, model.specs[i]!.name).toBe(unsplit.grads[i]!.length);
                expect(maxDifference(g, unsplit.grads[i]!), model.specs[i]!.name).toBeLessThan(TOLERANCE);
              });
              // Not a vacuous match: the gradient is far from zero.
              expect(Math.max(...unsplit.grads.map((g) => maxDifference(g, new Float32Array(g.length))))).toBeGreaterThan(1e-3);
            } finally {
              stages.forEach((s) => s.dispose());
            }
          });
        }
      }
    });
  }
});

describe('StageTrainer', () => {
  let cnn: Model;
  beforeAll(() => {
    cnn = preset('cnn');
  });

  it('keeps tf.memory().numTensors flat over steps', async () => {
    const stages = await stagesOf(cnn, [2, 4]);
    const small = microbatches(batch, 3)[0]!;
    try {
      await pipelineStep(stages, small, 4);
      const after = tf.memory().numTensors;
      for (let step = 0; step < 3; step++) await pipelineStep(stages, small, 4);
      expect(tf.memory().numTensors).toBe(after);
    } finally {
      stages.forEach((s) => s.dispose());
    }
  });

  it('abandoning a step in flight frees its tensors and starts clean', async () => {
    const stages = await stagesOf(cnn, [2]);
    try {
      const clean = tf.memory().numTensors;
      const [first] = microbatches(batch, 4);
      await stages[0]!.forward(0, first!.features, first!.size);
      expect(tf.memory().numTensors).toBeGreaterThan(clean);
      stages.forEach((s) => s.abandonStep());
      expect(tf.memory().numTensors).toBe(clean);
      await expect(stages[0]!.takeGradient()).rejects.toThrow(/No micro-batch came back/);
    } finally {
      stages.forEach((s) => s.dispose());
    }
  });

  it('holds only its own layers\' tensors, named as in the whole model', async () => {
    const stages = await stagesOf(cnn, [2, 4]);
    expect(stages.map((s) => s.specs.map((t) => t.name))).toEqual([['conv1/kernel', 'conv1/bias'], ['conv2/kernel', 'conv2/bias'], ['output/kernel', 'output/bias']]);
    expect(stages.map((s) => [s.isFirst, s.isLast, s.outputShape])).toEqual([[true, false, [12, 12, 8]], [false, false, [4, 4, 16]], [false, true, [10]]]);
    stages.forEach((s) => s.dispose());
  });

  it('refuses what does not fit: wrong sizes, unknown micro-batches, wrong roles, bad ranges', async () => {
    const [a, b] = await stagesOf(cnn, [2]);
    try {
      const [mb] = microbatches(batch, 1);
      await expect(a!.forward(0, mb!.features.subarray(1), mb!.size)).rejects.toThrow(/needs 23520 input values of \[28,28,1\] each; got 23519/);
      await expect(a!.backward(5, new Float32Array(1))).rejects.toThrow(/Micro-batch 5 did not go forward/);
      await a!.forward(0, mb!.features, mb!.size);
      await expect(a!.forward(0, mb!.features, mb!.size)).rejects.toThrow(/already in flight/);
      await expect(a!.backward(0, new Float32Array(3))).rejects.toThrow(/needs 34560 values/);
      await expect(a!.lossAndBackward(mb!.features, mb!.labels, BATCH)).rejects.toThrow(/Only the last stage/);
      await expect(b!.forward(1, new Float32Array(1), 1)).rejects.toThrow(/lossAndBackward/);
      await expect(b!.lossAndBackward(new Float32Array(12 * 12 * 8 * 2), new Uint8Array(2), 1)).rejects.toThrow(/mini-batch of 1/);
      await expect(b!.lossAndBackward(new Float32Array(12 * 12 * 8 * 2), Uint8Array.of(3, 10), 2)).rejects.toThrow(/Label 10 \(example 1\) is not one of the 10 classes/);
      await expect(StageTrainer.create(cnn.topology, cnn.specs, { from: 2, to: 2, inputShape: [12, 12, 8] }, CLASSES)).rejects.toThrow(/non-empty range of the model's 6/);
      await expect(StageTrainer.create(cnn.topology, cnn.specs.slice(1), { from: 0, to: 2, inputShape: FEATURES }, CLASSES)).rejects.toThrow(/"conv1\/kernel" is not among the job's/);
      const functional = { class_name: 'Model', config: { layers: [] } };
      await expect(StageTrainer.create(functional, cnn.specs, { from: 0, to: 1, inputShape: FEATURES }, CLASSES)).rejects.toThrow(/Only Sequential/);
      expect(() => microbatches(batch, 31)).toThrow(/cannot be cut into 31/);
    } finally {
      a!.dispose();
      b!.dispose();
    }
  });
});

afterAll(() => {
  // Nothing the tests made outlives them: every model and stage was disposed above.
  expect(tf.memory().numTensors).toBe(0);
});
