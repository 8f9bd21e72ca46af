/**
 * A sync round of a split job on 2 ps task processes (docs/model-parallelism.md, "Split
 * jobs in round modes"): 2 replicas × 2 stages, each stage's gradient from real
 * StageTrainers on real MNIST batches, each stage holding its part of the round on the
 * tasks of its own slices through the engine's StagePsTransport and telling the chief.
 *
 * - The round gives, bit for bit, the parameters the same round gives in process (the
 *   coordinator joining the stages' parts), which split-sync-round.test.ts shows equal to
 *   the data-parallel round within 1e-5. Task 1 holds parts of both stages of each
 *   replica (dense1/bias of stage 0, output/* of stage 1) and assembles each replica's
 *   gradient from them.
 * - A replica dissolved mid-round (its stage 1 leaves after its stage 0 held its part on
 *   both tasks) is dropped whole: nothing of it is applied on either task, its lease goes
 *   back to the queue, and the round closes at once with the other replica, exactly as a
 *   round of that replica alone in process.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Batch } from '../../client/engine/model-trainer.js';
import { ErrorCode } from '../../shared/errors.js';
import type { JobSpecInput } from '../../shared/job-spec.js';
import type { JobAssignment, PushAccepted } from '../../shared/protocol.js';
import type { Result } from '../../shared/result.js';
import { bits } from '../../test-support/ps-fixture.js';
import { connectTestWorker, leaseShard, leave, settledAfterRoundTrips, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';
import { byReplica, encodeGradients, maxDifference, mnistBatch, stageGradients } from '../../test-support/split-round.js';
import { StageReplicas, type Stage } from '../../test-support/stage-replica.js';
import type { Dataset } from '../data/dataset.js';
import { loadMnist } from '../data/mnist.js';

const BATCH = 32;
// fp32 pushes (the transport encodes each task's slices in the job's codec); the round's deadline far: a round that closes here closed on its quorum.
const SPEC: JobSpecInput = { model: 'mlp', mode: 'sync', batchSize: BATCH, roundTimeoutSeconds: 25, stages: 2, microbatches: 4, codec: 'fp32', normBound: 0, directionThreshold: null };

let mnist: Dataset;
const runs: Running[] = [];
const sockets: TestWorker[] = [];
const stageSets: StageReplicas[] = [];

beforeAll(async () => {
  await tf.setBackend('cpu');
  mnist = loadMnist();
});
afterEach(async () => {
  stageSets.splice(0).forEach((s) => s.close());
  for (const s of sockets.splice(0)) s.disconnect();
  for (const r of runs.splice(0)) await r.close();
});

async function start(ps: boolean): Promise<Running> {
  const run = await startCoordinator(SPEC, {}, ps ? { ps: 2 } : {});
  runs.push(run);
  return run;
}

/** The round in process: `batches.length` replicas, each stage pushing its part of step 0 to the coordinator. */
async function roundInProcess(batches: Batch[]): Promise<Float32Array[]> {
  const run = await start(false);
  const initial = (await run.job.parameters.values()).values;
  const staged: Promise<{ w: TestWorker; job: JobAssignment }>[] = [];
  for (let i = 0; i < 2 * batches.length; i++) {
    const w = await connectTestWorker(run.url);
    sockets.push(w);
    staged.push(new Promise((resolve) => w.on('job:assign', (job) => job?.replica && resolve({ w, job }))));
    await w.emitWithAck('worker:hello', { userAgent: 'stage' });
  }
  const answers: Promise<Result<PushAccepted>>[] = [];
  for (const [i, replica] of byReplica(await Promise.all(staged)).entries()) {
    const parts = await stageGradients(replica, initial, batches[i]!);
    const jobId = replica[0]!.job.jobId;
    const lease = await leaseShard(replica[0]!.w, jobId);
    replica.forEach(({ w, job }, k) => {
      const leaseId = k === 0 ? lease.leaseId : job.replica!.replicaId;
      answers.push(w.emitWithAck('grads:push', { jobId, leaseId, baseVersion: 0, batches: 1, loss: parts[k]!.loss, replicaStep: 0, ...encodeGradients(parts[k]!.specs, parts[k]!.grads) }));
    });
  }
  for (const r of await Promise.all(answers)) expect(r).toEqual({ ok: true, version: 1, staleness: 0 });
  return (await run.job.parameters.values()).values;
}

/** 2 × `count` stages on the tasks, grouped by replica, each having pulled its slices (its transport's pull number). */
async function replicasOnTasks(run: Running, count: number): Promise<{ stage: Stage; pulled: number }[][]> {
  const stages = new StageReplicas(run.url);
  stageSets.push(stages);
  const staged: Promise<Stage>[] = [];
  for (let i = 0; i < 2 * count; i++) staged.push((await stages.stage()).staged);
  const pulled = await Promise.all(
    (await Promise.all(staged)).map(async (stage) => {
      const p = await stage.tasks.pull({ jobId: stage.job.jobId });
      if (!p.ok) throw new Error(p.message);
      return { stage, pulled: p.version, job: stage.job };
    }),
  );
  return byReplica(pulled);
}

/** Each stage of `replica` (or those in `only`) holds its part of step 0 on its tasks and tells the chief; the chief's answers. */
async function pushOnTasks(replica: { stage: Stage; pulled: number }[], initial: readonly Float32Array[], batch: Batch, only = [0, 1]) {
  const parts = await stageGradients(replica.map((r) => r.stage), initial, batch);
  const jobId = replica[0]!.stage.job.jobId;
  const lease = await leaseShard(replica[0]!.stage.w, jobId);
  return only.map((k) => {
    const { stage, pulled } = replica[k]!;
    const leaseId = k === 0 ? lease.leaseId : stage.job.replica!.replicaId;
    return stage.tasks.push({ jobId, leaseId, baseVersion: pulled, batches: 1, loss: parts[k]!.loss, replicaStep: 0, ...encodeGradients(parts[k]!.specs, parts[k]!.grads) });
  });
}

describe('a sync round of a split job on 2 ps tasks: its members are replicas', () => {
  it('2 replicas × 2 stages give, bit for bit, the parameters of the same round in process', { timeout: 120_000 }, async () => {
    const batches = [mnistBatch(mnist, 1000, BATCH), mnistBatch(mnist, 2000, BATCH)];
    const expected = await roundInProcess(batches);
    const run = await start(true);
    const initial = (await run.job.parameters.values()).values;
    const replicas = await replicasOnTasks(run, 2);
    expect(replicas).toHaveLength(2);
    // dense1/kernel on task 0; dense1/bias (stage 0) and output/* (stage 1) on task 1.
    expect(replicas[0]!.map((r) => r.stage.tasks.tasks)).toEqual([[0, 1], [1]]);
    const answers: Promise<Result<PushAccepted>>[] = [];
    for (const [i, replica] of replicas.entries()) answers.push(...(await pushOnTasks(replica, initial, batches[i]!)));
    for (const r of await Promise.all(answers)) expect(r).toEqual({ ok: true, version: 1, staleness: 0 });
    expect(run.job.parameters.counters()).toEqual({ rounds: 1, timedOut: 0 });
    expect(run.job.stats.examplesSeen).toBe(2 * BATCH);
    const after = (await run.job.parameters.values()).values;
    expect(maxDifference(after, initial)).toBeGreaterThan(1e-3);
    expect(after.map(bits)).toEqual(expected.map(bits));
  });

  it('a replica dissolved mid-round: nothing of it applied on either task; the round closes at once with the other replica, as a round of it alone', { timeout: 120_000 }, async () => {
    const batch = mnistBatch(mnist, 1000, BATCH);
    const alone = await roundInProcess([batch]);
    const run = await start(true);
    const initial = (await run.job.parameters.values()).values;
    const [kept, dropped] = await replicasOnTasks(run, 2);
    // The dropped replica's stage 0 holds its part on both tasks and tells the chief; its stage 1 never does.
    const [half] = await pushOnTasks(dropped!, initial, mnistBatch(mnist, 2000, BATCH), [0]);
    const whole = await pushOnTasks(kept!, initial, batch);
    // The round waits for the dropped replica while it lives.
    expect(await settledAfterRoundTrips(Promise.all(whole), kept![0]!.stage.w, kept![1]!.stage.w)).toBe(false);
    expect(run.job.ledger.activeLeases).toBe(2);
    await leave(run.coordinator, dropped![1]!.stage.w);
    expect(await half).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
    for (const r of await Promise.all(whole)) expect(r).toEqual({ ok: true, version: 1, staleness: 0 });
    expect(run.job.parameters.counters()).toEqual({ rounds: 1, timedOut: 0 });
    // Only the kept replica's batch was credited; the dropped replica's lease went back to the queue.
    expect(run.job.stats.examplesSeen).toBe(BATCH);
    expect(run.job.ledger.activeLeases).toBe(1);
    // Both tasks' slices, gathered: the round of the kept replica alone, bit for bit.
    expect((await run.job.parameters.values()).values.map(bits)).toEqual(alone.map(bits));
  });
});
