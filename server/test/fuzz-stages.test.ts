/**
 * Hostile input on the split-job surface: a fuzzer that IS both stages of a live replica
 * of a split job (the dangerous case: its messages reach its neighbour and the replica
 * step), and a third worker of the job that is in no replica, send a few thousand
 * seeded malformed `relay:frame`, `replica:report`, `peer:*` and stage-part
 * `grads:push` messages (replicaStep). The coordinator stays up, every message gets a
 * coded refusal or its socket is disconnected, the fuzzed job's parameters stay
 * bit-identical (every step the fuzz makes has a bad part), and an honest replica of
 * two Node stage workers on another split job keeps training. When the fuzz costs it
 * its replica (a refused step's fault, an abort frame, a step out of order) it comes
 * back as new workers, as an attacker would.
 *
 * First, the class of stall the fuzz found: a part for a step its other stages could
 * never complete (a step skipped or repeated, a stage running ahead) used to hold its
 * neighbours' parts, and their tabs, for ever; and a last stage's bad loss counted
 * against stage 0.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStageWorker, type StageWorker } from '../../bench/stage-worker.js';
import { encodeFrame } from '../../shared/activation-frame.js';
import { encodeTensors } from '../../shared/codec.js';
import { ALL_ERROR_CODES, ErrorCode } from '../../shared/errors.js';
import type { JobAssignment } from '../../shared/protocol.js';
import { seededRandom } from '../../shared/seeded-random.js';
import { sizeOf } from '../../shared/tensors.js';
import type { Job } from '../jobs/job.js';
import { MAX_FAULTS_IN_A_ROW } from '../jobs/push-accounting.js';
import { connectTestWorker, localParameters, settledAfterRoundTrips, startCoordinator, waitForEvent, type Running, type TestWorker } from '../../test-support/index.js';

const MESSAGES = 3000;
let run: Running;
let target: Job;

beforeAll(async () => {
  await tf.setBackend('cpu');
  // The fuzz must reach the replica checks, not only the rate limiter.
  run = await startCoordinator({ model: 'mlp', stages: 2, name: 'honest', batchSize: 32, microbatches: 2 }, { workerGuard: { messagesPerSecond: 20_000, burst: 3000, maxStrikes: 400 } });
});
afterAll(async () => run?.close());

/** A worker of the fuzzed job and its latest stage (null: in no replica). */
interface Fuzzer {
  w: TestWorker;
  id: string;
  job: JobAssignment | null;
}

async function fuzzer(): Promise<Fuzzer> {
  const w = await connectTestWorker(run.url);
  const f: Fuzzer = { w, id: '', job: null };
  w.on('job:assign', (a) => (f.job = a));
  w.on('replica:dissolve', () => (f.job = f.job && { ...f.job, replica: null }));
  const h = await w.emitWithAck('worker:hello', { userAgent: 'fuzzer' });
  if (!h.ok) throw new Error(h.message);
  f.id = h.workerId;
  f.job ??= h.job;
  return f;
}

/** `value` in every entry of `names`, as a stage pushes its part. */
function partOf(job: JobAssignment, names: readonly string[], value = 1e-3) {
  const specs = job.tensors.filter((t) => names.includes(t.name));
  return encodeTensors(specs.map((s) => ({ ...s, values: new Float32Array(sizeOf(s.shape)).fill(value) })));
}

/** Two workers that became the stages of one replica of `jobId` (stage 0 first), stage 0 holding a lease. */
async function replicaOf(jobId: string, workers: Fuzzer[]) {
  for (let i = 0; i < 20; i++) {
    const staged = workers.filter((f) => f.job?.replica && target.replicas?.get(f.job.replica.replicaId));
    if (staged.length >= 2 && staged.every((f) => f.job!.replica!.replicaId === staged[0]!.job!.replica!.replicaId)) {
      const [s0, s1] = [...staged].sort((x, y) => x.job!.replica!.stage - y.job!.replica!.stage);
      const lease = await s0!.w.emitWithAck('shard:lease', { jobId });
      return { s0: s0!, s1: s1!, leaseId: lease.ok && lease.lease ? lease.lease.leaseId : 'L0' };
    }
    await Promise.race(workers.map((f) => waitForEvent(f.w, 'job:assign', 10_000)));
  }
  throw new Error('no replica formed');
}

describe('a step its other stages could never complete', () => {
  let job: Job;
  beforeAll(async () => {
    const created = await run.coordinator.createJob({ model: 'mlp', stages: 2, name: 'steps', normBound: 0, priority: 10 }, { start: false });
    if (!created.ok) throw new Error(created.message);
    job = created.job;
    target = job;
  });

  it('a stage skipping a step is refused STEP_OUT_OF_ORDER, its replica dissolved and the held part answered: nothing stalls, nothing applied', async () => {
    job.control('start');
    const ws = [await fuzzer(), await fuzzer()];
    try {
      const { s0, s1, leaseId } = await replicaOf(job.id, ws);
      const replicaId = s0.job!.replica!.replicaId;
      const held = s0.w.emitWithAck('grads:push', { jobId: job.id, leaseId, baseVersion: 0, batches: 1, loss: null, replicaStep: 0, ...partOf(s0.job!, s0.job!.replica!.tensors) });
      expect(await settledAfterRoundTrips(held, s0.w)).toBe(false);
      const skipped = await s1.w.emitWithAck('grads:push', { jobId: job.id, leaseId: s1.job!.replica!.replicaId, baseVersion: 0, batches: 1, loss: 2.3, replicaStep: 1, ...partOf(s1.job!, s1.job!.replica!.tensors) });
      expect(skipped).toMatchObject({ ok: false, code: ErrorCode.STEP_OUT_OF_ORDER });
      // Before the fix both parts were held for ever: stage 0's tab waited on an answer that never came.
      expect(await settledAfterRoundTrips(held, s0.w, s1.w)).toBe(true);
      expect(await held).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
      expect(job.replicas!.get(replicaId)).toBeUndefined();
      expect(job.version).toBe(0);
      expect(job.ledger.activeLeases).toBe(0);
    } finally {
      ws.forEach((f) => f.w.disconnect());
      job.control('pause');
    }
  });

  it(`a last stage reporting no loss has its step refused LOSS_OUT_OF_RANGE as its own fault: after ${MAX_FAULTS_IN_A_ROW} it is barred, stage 0 is not`, async () => {
    job.control('resume');
    const ws = [await fuzzer(), await fuzzer()];
    try {
      const { s0, s1, leaseId } = await replicaOf(job.id, ws);
      for (let step = 0; step < MAX_FAULTS_IN_A_ROW; step++) {
        const first = s0.w.emitWithAck('grads:push', { jobId: job.id, leaseId, baseVersion: 0, batches: 1, loss: null, replicaStep: step, ...partOf(s0.job!, s0.job!.replica!.tensors) });
        const last = await s1.w.emitWithAck('grads:push', { jobId: job.id, leaseId: s1.job!.replica!.replicaId, baseVersion: 0, batches: 1, loss: null, replicaStep: step, ...partOf(s1.job!, s1.job!.replica!.tensors) });
        expect(last).toMatchObject({ ok: false, code: ErrorCode.LOSS_OUT_OF_RANGE, message: expect.stringMatching(/^Stage 1 of replica/) });
        expect(await first).toEqual(last);
      }
      // Before the fix the fault was stage 0's (the lease holder's): it was barred for stage 1's loss.
      expect(job.replicas!.list()).toEqual([]);
      expect(job.version).toBe(0);
      // A third worker forms the next replica with stage 0; stage 1 waits out its bar.
      ws.push(await fuzzer());
      const next = await replicaOf(job.id, [s0, ws[2]!]);
      expect([next.s0.id, next.s1.id].sort()).toEqual([s0.id, ws[2]!.id].sort());
      expect(job.replicas!.waiting).toEqual([s1.id]);
    } finally {
      ws.forEach((f) => f.w.disconnect());
      job.control('pause');
    }
  });
});
