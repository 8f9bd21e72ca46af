/**
 * A sync round whose members are replicas of a model split into stages
 * (docs/model-parallelism.md, "Split jobs in round modes"), over real sockets, with
 * gradients computed by real StageTrainers and a real ModelTrainer on real MNIST batches:
 *
 * - the round of 2 replicas × 2 stages gives the parameters the data-parallel round of
 *   2 workers gives on the same two batches, within 1e-5;
 * - a replica that dissolves mid-round (a stage leaves after the other pushed its part)
 *   has its part dropped, nothing of it applied, its batch back in the queue; the round
 *   stops waiting for it and closes at once with the other replica's step, whose
 *   parameters are then exactly those of a round of that replica alone;
 * - Multi-Krum, which needs whole-gradient distances, gets them: the round holds each
 *   replica's joined gradient.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ModelTrainer, type Batch } from '../../client/engine/model-trainer.js';
import type { Dataset } from '../data/dataset.js';
import { loadMnist } from '../data/mnist.js';
import { ErrorCode } from '../../shared/errors.js';
import type { JobSpecInput } from '../../shared/job-spec.js';
import type { JobAssignment, PushAccepted } from '../../shared/protocol.js';
import type { Result } from '../../shared/result.js';
import type { TensorSpec } from '../../shared/tensors.js';
import { connectTestWorker, joinAssigned, leaseShard, leave, settledAfterRoundTrips, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';
import { byReplica, encodeGradients, maxDifference, mnistBatch, stageGradients } from '../../test-support/split-round.js';

const TOLERANCE = 1e-5;
const BATCH = 32;
// The round's deadline is far: a round that closes here closed on its quorum.
const SPEC: JobSpecInput = { model: 'mlp', mode: 'sync', batchSize: BATCH, roundTimeoutSeconds: 25 };

let mnist: Dataset;
const runs: Running[] = [];
const sockets: TestWorker[] = [];

beforeAll(async () => {
  await tf.setBackend('cpu');
  mnist = loadMnist();
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  for (const r of runs.splice(0)) await r.close();
});

const batchAt = (from: number): Batch => mnistBatch(mnist, from, BATCH);
const encode = encodeGradients;

async function start(spec: JobSpecInput): Promise<Running> {
  const run = await startCoordinator(spec);
  runs.push(run);
  return run;
}

/** The data-parallel round: each worker pushes the whole model's gradient of its batch. */
async function dataParallelRound(batches: Batch[]): Promise<Float32Array[]> {
  const run = await start(SPEC);
  const initial = (await run.job.parameters.values()).values;
  // Every worker joins before the first push, so the round waits for them all.
  const joined = [];
  for (const _ of batches) joined.push(await joinAssigned(run.url, sockets, 'data-parallel'));
  const pushes = [];
  for (const [i, { w, job }] of joined.entries()) {
    const trainer = await ModelTrainer.create(job.topology, job.tensors, job.dataset.featureShape, job.dataset.numClasses);
    trainer.setParams(initial);
    const g = await trainer.gradient(batches[i]!);
    trainer.dispose();
    const lease = await leaseShard(w, job.jobId);
    pushes.push(w.emitWithAck('grads:push', { jobId: job.jobId, leaseId: lease.leaseId, baseVersion: 0, batches: 1, loss: g.loss, ...encode(job.tensors, g.grads) }));
  }
  for (const r of await Promise.all(pushes)) expect(r).toEqual({ ok: true, version: 1, staleness: 0 });
  expect(run.job.parameters.counters()).toEqual({ rounds: 1, timedOut: 0 });
  return (await run.job.parameters.values()).values;
}

interface Stage {
  w: TestWorker;
  job: JobAssignment;
}

/** 2 × `count` stage sockets; resolves with the replicas formed, each as [stage 0, stage 1]. */
async function twoReplicas(run: Running, count = 2): Promise<Stage[][]> {
  const staged: Promise<Stage>[] = [];
  for (let i = 0; i < 2 * count; i++) {
    const w = await connectTestWorker(run.url);
    sockets.push(w);
    staged.push(new Promise((resolve) => w.on('job:assign', (job) => job?.replica && resolve({ w, job }))));
    await w.emitWithAck('worker:hello', { userAgent: 'stage' });
  }
  return byReplica(await Promise.all(staged));
}

/** Each stage's part of a replica's gradient whose every value is `value`. */
function filledParts(replica: Stage[], value: number) {
  return replica.map(({ job }) => {
    const specs = job.tensors.filter((t) => job.replica!.tensors.includes(t.name));
    return { specs, grads: specs.map((t) => new Float32Array(t.shape.reduce((a, b) => a * b, 1)).fill(value)), loss: job.replica!.stage === 1 ? 2.3 : null };
  });
}

/** Each stage of `replica` pushes its part of step 0 (stage 0 on its lease, stage 1 naming its replica). */
async function pushParts(replica: Stage[], parts: readonly { specs: TensorSpec[]; grads: Float32Array[]; loss: number | null }[], stages = [0, 1]) {
  const jobId = replica[0]!.job.jobId;
  const lease = await leaseShard(replica[0]!.w, jobId);
  return stages.map((k) => {
    const { w, job } = replica[k]!;
    const part = parts[k]!;
    return w.emitWithAck('grads:push', { jobId, leaseId: k === 0 ? lease.leaseId : job.replica!.replicaId, baseVersion: 0, batches: 1, loss: part.loss, replicaStep: 0, ...encode(part.specs, part.grads) });
  });
}

describe('a sync round of a split job: its members are replicas', () => {
  it('2 replicas × 2 stages give the parameters of the data-parallel round of 2 workers on the same batches, within 1e-5', { timeout: 60_000 }, async () => {
    const batches = [batchAt(1000), batchAt(2000)];
    const expected = await dataParallelRound(batches);
    const run = await start({ ...SPEC, stages: 2, microbatches: 4 });
    const initial = (await run.job.parameters.values()).values;
    const replicas = await twoReplicas(run);
    const answers: Promise<Result<PushAccepted>>[] = [];
    for (const [i, replica] of replicas.entries()) answers.push(...(await pushParts(replica, await stageGradients(replica, initial, batches[i]!))));
    // One round, one version, every stage answered with it.
    for (const r of await Promise.all(answers)) expect(r).toEqual({ ok: true, version: 1, staleness: 0 });
    expect(run.job.parameters.counters()).toEqual({ rounds: 1, timedOut: 0 });
    const after = (await run.job.parameters.values()).values;
    expect(maxDifference(after, initial)).toBeGreaterThan(1e-3);
    expect(maxDifference(after, expected)).toBeLessThan(TOLERANCE);
  });

  it('a replica dissolved mid-round is dropped whole; the round closes at once with the other replica, as a round of it alone', { timeout: 60_000 }, async () => {
    const batch = batchAt(1000);
    const alone = await dataParallelRound([batch]);
    const run = await start({ ...SPEC, stages: 2, microbatches: 4 });
    const initial = (await run.job.parameters.values()).values;
    const [kept, dropped] = await twoReplicas(run);
    // The dropped replica's stage 0 pushes its part; its stage 1 never does.
    const [half] = await pushParts(dropped!, await stageGradients(dropped!, initial, batchAt(2000)), [0]);
    const whole = await pushParts(kept!, await stageGradients(kept!, initial, batch));
    // The round waits for the dropped replica while it lives.
    expect(await settledAfterRoundTrips(Promise.all(whole), kept![0]!.w, kept![1]!.w)).toBe(false);
    expect(run.job.ledger.activeLeases).toBe(2);
    await leave(run.coordinator, dropped![1]!.w);
    expect(await half).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
    for (const r of await Promise.all(whole)) expect(r).toEqual({ ok: true, version: 1, staleness: 0 });
    expect(run.job.parameters.counters()).toEqual({ rounds: 1, timedOut: 0 });
    // Only the kept replica's batch was credited; the dropped replica's lease went back to the queue.
    expect(run.job.stats.examplesSeen).toBe(BATCH);
    expect(run.job.ledger.activeLeases).toBe(1);
    expect(maxDifference((await run.job.parameters.values()).values, alone)).toBeLessThan(TOLERANCE);
  });

  it('Multi-Krum ranks the replicas by their whole, joined gradients: of 5, the sign-flipped one is dropped and the 4 others averaged', { timeout: 60_000 }, async () => {
    const run = await start({ ...SPEC, stages: 2, microbatches: 4, aggregation: 'multi-krum', trimFraction: 0.25, optimizer: { type: 'sgd', learningRate: 0.1 }, normBound: 0 });
    const initial = (await run.job.parameters.values()).values;
    const replicas = await twoReplicas(run, 5);
    expect(replicas).toHaveLength(5);
    // Four honest replicas near 1 everywhere; the fifth flips the sign (f = ⌊0.25 · 5⌋ = 1 dropped).
    const values = [1, 1.01, 1.02, 1.03, -1];
    const answers: Promise<Result<PushAccepted>>[] = [];
    for (const [i, replica] of replicas.entries()) answers.push(...(await pushParts(replica, filledParts(replica, values[i]!))));
    for (const r of await Promise.all(answers)) expect(r).toEqual({ ok: true, version: 1, staleness: 0 });
    expect(run.job.parameters.counters()).toEqual({ rounds: 1, timedOut: 0 });
    // SGD on the honest mean, 1.015, in every coordinate of both stages' tensors.
    const after = (await run.job.parameters.values()).values;
    expect(maxDifference(after, initial.map((t) => t.map((v) => v - 0.1 * 1.015)))).toBeLessThan(TOLERANCE);
  });
});
