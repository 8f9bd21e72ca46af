/**
 * What the tests of a split job's round share, in process (split-sync-round) and on ps
 * tasks (ps-split-sync-round): real MNIST batches, each stage's gradient of one replica
 * step computed by real StageTrainers GPipe's way, stages grouped by replica, and the
 * largest difference between two sets of parameters.
 */
import { microbatches, StageTrainer } from '../client/engine/stage-trainer.js';
import type { Batch } from '../client/engine/model-trainer.js';
import { featuresAsFloat, type Dataset } from '../server/data/dataset.js';
import { encodeTensors } from '../shared/codec.js';
import type { JobAssignment } from '../shared/protocol.js';
import type { TensorSpec } from '../shared/tensors.js';

/** Training examples from..from+size, scaled as a worker's shard is. */
export function mnistBatch(mnist: Dataset, from: number, size: number): Batch {
  const n = mnist.featureShape.reduce((a, b) => a * b, 1);
  const split = { count: size, features: mnist.train.features.subarray(from * n, (from + size) * n), labels: mnist.train.labels.subarray(from, from + size) };
  return { features: featuresAsFloat(mnist, split), labels: split.labels, size };
}

export const encodeGradients = (specs: readonly TensorSpec[], grads: readonly Float32Array[]) => encodeTensors(specs.map((s, i) => ({ ...s, values: grads[i]! })));

/** Stages (anything with its assignment) grouped by replica, each as [stage 0, stage 1, …]. */
export function byReplica<S extends { job: JobAssignment }>(stages: readonly S[]): S[][] {
  const replicas = new Map<string, S[]>();
  for (const s of stages) {
    const list = replicas.get(s.job.replica!.replicaId) ?? [];
    list[s.job.replica!.stage] = s;
    replicas.set(s.job.replica!.replicaId, list);
  }
  return [...replicas.values()];
}

/** One replica step of 2 stages on `batch`, GPipe's way with M = 4 (as client/engine/stage-trainer.test.ts runs it): each stage's own gradient. */
export async function stageGradients(replica: readonly { job: JobAssignment }[], initial: readonly Float32Array[], batch: Batch) {
  const trainers = await Promise.all(
    replica.map(async ({ job }) => {
      const r = job.replica!;
      const t = await StageTrainer.create(job.topology, job.tensors, { from: r.from, to: r.to, inputShape: r.inputShape }, job.dataset.numClasses);
      t.setParams(t.specs.map((s) => initial[job.tensors.findIndex((j) => j.name === s.name)]!));
      return t;
    }),
  );
  try {
    const [first, last] = trainers as [StageTrainer, StageTrainer];
    const micro = microbatches(batch, 4);
    const back: Float32Array[] = [];
    for (const [i, mb] of micro.entries()) back.push((await last.lossAndBackward(await first.forward(i, mb.features, mb.size), mb.labels, batch.size))!);
    for (let i = micro.length - 1; i >= 0; i--) await first.backward(i, back[i]!);
    return await Promise.all(trainers.map(async (t) => ({ specs: t.specs, ...(await t.takeGradient()) })));
  } finally {
    trainers.forEach((t) => t.dispose());
  }
}

export const maxDifference = (a: readonly Float32Array[], b: readonly Float32Array[]) => Math.max(...a.map((t, i) => t.reduce((worst, v, j) => Math.max(worst, Math.abs(v - b[i]![j]!)), 0)));
