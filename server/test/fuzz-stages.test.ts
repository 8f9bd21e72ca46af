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
 * First, the classes of fault the fuzz found: a part for a step its other stages could
 * never complete (a step skipped or repeated, a stage running ahead, or a stage that
 * never sends its part) used to hold its neighbours' parts, and their tabs, for ever; a
 * last stage's bad loss counted against stage 0; a part's future base version was
 * hidden by the step's oldest.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startStageWorker, type StageWorker } from '../../bench/stage-worker.js';
import { abortFrame } from '../../shared/activation-frame.js';
import { encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { JobAssignment } from '../../shared/protocol.js';
import { seededRandom } from '../../shared/seeded-random.js';
import { sizeOf } from '../../shared/tensors.js';
import type { Job } from '../jobs/job.js';
import { MAX_FAULTS_IN_A_ROW } from '../jobs/push-accounting.js';
import { connectTestWorker, localParameters, ManualClock, settledAfterRoundTrips, startCoordinator, waitForEvent, type Running, type TestWorker } from '../../test-support/index.js';
import { noOutcomes, sendFuzzed, type FuzzOutcome } from '../../test-support/fuzz-answers.js';

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
    job.control(job.state === 'draft' ? 'start' : 'resume');
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

  it('a late push of the replica a stage has left is refused UNKNOWN_REPLICA and leaves its new replica alone', async () => {
    job.control(job.state === 'draft' ? 'start' : 'resume');
    const ws = [await fuzzer(), await fuzzer()];
    try {
      const { s0, s1, leaseId } = await replicaOf(job.id, ws);
      const old = s1.job!.replica!.replicaId;
      const oldPart = partOf(s1.job!, s1.job!.replica!.tensors);
      // Stage 1 breaks the count: r dissolves and the same two form the next replica.
      expect(await s1.w.emitWithAck('grads:push', { jobId: job.id, leaseId: old, baseVersion: 0, batches: 1, loss: 2.3, replicaStep: 3, ...oldPart })).toMatchObject({ code: ErrorCode.STEP_OUT_OF_ORDER });
      const next = await replicaOf(job.id, ws);
      const renewed = next.s0.job!.replica!.replicaId;
      expect(renewed).not.toBe(old);
      // Late pushes of the old replica, from either stage: before the fix they counted as the new replica's steps.
      const late1 = ws.find((f) => f.id === s1.id)!;
      const late0 = ws.find((f) => f.id === s0.id)!;
      expect(await late1.w.emitWithAck('grads:push', { jobId: job.id, leaseId: old, baseVersion: 0, batches: 1, loss: 2.3, replicaStep: 1, ...oldPart })).toMatchObject({ code: ErrorCode.UNKNOWN_REPLICA });
      expect(await late0.w.emitWithAck('grads:push', { jobId: job.id, leaseId, baseVersion: 0, batches: 1, loss: null, replicaStep: 1, ...partOf(late0.job!, late0.job!.replica!.tensors) })).toMatchObject({ code: ErrorCode.UNKNOWN_REPLICA });
      expect(job.replicas!.get(renewed)).toBeDefined();
    } finally {
      ws.forEach((f) => f.w.disconnect());
      job.control('pause');
    }
  });

  it('a stage part claiming a base version the job has not reached refuses the step FUTURE_VERSION, though the other part is current', async () => {
    job.control(job.state === 'draft' ? 'start' : 'resume');
    const ws = [await fuzzer(), await fuzzer()];
    try {
      const { s0, s1, leaseId } = await replicaOf(job.id, ws);
      const first = s0.w.emitWithAck('grads:push', { jobId: job.id, leaseId, baseVersion: 0, batches: 1, loss: null, replicaStep: 0, ...partOf(s0.job!, s0.job!.replica!.tensors) });
      const last = await s1.w.emitWithAck('grads:push', { jobId: job.id, leaseId: s1.job!.replica!.replicaId, baseVersion: 1e9, batches: 1, loss: 2.3, replicaStep: 0, ...partOf(s1.job!, s1.job!.replica!.tensors) });
      // Before the fix the step's base was the oldest part's (0): the step applied.
      expect(last).toMatchObject({ ok: false, code: ErrorCode.FUTURE_VERSION, message: expect.stringMatching(/^Stage 1 of replica/) });
      expect(await first).toEqual(last);
      expect(job.version).toBe(0);
    } finally {
      ws.forEach((f) => f.w.disconnect());
      job.control('pause');
    }
  });

  it('an accepted step ends the run of faults of every stage of the replica, not only the lease holder\'s', async () => {
    // A job of its own: the step accepted here would move the shared job's version, which the tests beside it hold at 0.
    await onClockedJob(async (own) => {
      const ws = [await fuzzer(), await fuzzer()];
      try {
        const { s0, s1, leaseId } = await replicaOf(own.job.id, ws);
        const replicaId = s1.job!.replica!.replicaId;
        let n = 0;
        // Stage 1 pushing `names` (its own tensors, or stage 0's: a layout fault that is its own).
        const step = (names: readonly string[]) =>
          Promise.all([
            s0.w.emitWithAck('grads:push', { jobId: own.job.id, leaseId, baseVersion: own.job.version, batches: 1, loss: null, replicaStep: n, ...partOf(s0.job!, s0.job!.replica!.tensors) }),
            s1.w.emitWithAck('grads:push', { jobId: own.job.id, leaseId: replicaId, baseVersion: own.job.version, batches: 1, loss: 2.3, replicaStep: n++, ...partOf(s1.job!, names) }),
          ]);
        // Stage 1's faults of its own (stage 0's tensors in its part), one short of a bar, then an accepted step, then as many again.
        const fault = () => step(s0.job!.replica!.tensors);
        for (let i = 0; i < MAX_FAULTS_IN_A_ROW - 1; i++) expect((await fault())[1]).toMatchObject({ code: ErrorCode.TENSOR_MISMATCH });
        expect((await step(s1.job!.replica!.tensors)).map((r) => r.ok)).toEqual([true, true]);
        for (let i = 0; i < MAX_FAULTS_IN_A_ROW - 1; i++) expect((await fault())[1]).toMatchObject({ code: ErrorCode.TENSOR_MISMATCH });
        // Before, only the lease holder's run ended at an accepted step: stage 1 was barred at its third fault of the replica's life.
        expect(own.job.replicas!.get(replicaId)).toBeDefined();
      } finally {
        ws.forEach((f) => f.w.disconnect());
      }
    });
  });

  it(`a last stage reporting no loss has its step refused LOSS_OUT_OF_RANGE by name; as stage 0's frames may have caused it, every stage is charged, and at the second in a row the two are kept apart, neither barred`, async () => {
    await onClockedJob(async (own) => {
      const ws = [await fuzzer(), await fuzzer()];
      try {
        const r = await replicaOf(own.job.id, ws);
        const replicaId = r.s0.job!.replica!.replicaId;
        const told = waitForEvent<{ reason: string }>(r.s0.w, 'replica:dissolve');
        for (let step = 0; step < 2; step++) {
          const answers = await bothParts(own.job, r.s0, r.s1, r.leaseId, step, null);
          expect(answers[1]).toMatchObject({ ok: false, code: ErrorCode.LOSS_OUT_OF_RANGE, message: expect.stringMatching(/^Stage 1 of replica/) });
          expect(answers[0]).toEqual(answers[1]);
          // One is an honest replica's transient now and then: the pair goes on.
          if (step === 0) expect(own.job.replicas!.get(replicaId)).toBeDefined();
        }
        // Before, the fault was the last stage's alone and the pair stayed: a hostile stage 0 sending activations
        // that make an honest last stage's loss NaN had it barred in three steps at no cost to itself.
        expect((await told).reason).toMatch(/^stage 1's part was refused LOSS_OUT_OF_RANGE, 2 steps in a row, which another stage's frames may have caused/);
        await expectKeptApartNotBarred(own.job, ws);
      } finally {
        ws.forEach((f) => f.w.disconnect());
      }
    });
  });

  it(`a later stage's batch count differing from stage 0's (which stage 0's frames give it) is BATCH_CLAIM by name; every stage is charged, and at the second in a row the two are kept apart`, async () => {
    await onClockedJob(async (own) => {
      const ws = [await fuzzer(), await fuzzer()];
      try {
        const r = await replicaOf(own.job.id, ws);
        const told = waitForEvent<{ reason: string }>(r.s0.w, 'replica:dissolve');
        const part = (f: Fuzzer, leaseId: string, batches: number, loss: number | null, step: number) =>
          f.w.emitWithAck('grads:push', { jobId: own.job.id, leaseId, baseVersion: 0, batches, loss, replicaStep: step, ...partOf(f.job!, f.job!.replica!.tensors) });
        // Before, the later stage alone was charged: a stage 0 whose frames closed a push a mini-batch late had it barred.
        for (let step = 0; step < 2; step++) {
          const answers = await Promise.all([part(r.s0, r.leaseId, 1, null, step), part(r.s1, r.s1.job!.replica!.replicaId, 2, 2.3, step)]);
          expect(answers[1]).toMatchObject({ ok: false, code: ErrorCode.BATCH_CLAIM, message: expect.stringMatching(/^Stage 1 of replica/) });
        }
        expect((await told).reason).toMatch(/^stage 1's part was refused BATCH_CLAIM, 2 steps in a row/);
        await expectKeptApartNotBarred(own.job, ws);
      } finally {
        ws.forEach((f) => f.w.disconnect());
      }
    });
  });
});

/** Both stages' parts of replica step `n` on `job` (stage 0's on `leaseId`, the last stage reporting `loss`), and their answers. */
function bothParts(job: Job, s0: Fuzzer, s1: Fuzzer, leaseId: string, n: number, loss: number | null) {
  const part = (f: Fuzzer, lease: string, l: number | null) =>
    f.w.emitWithAck('grads:push', { jobId: job.id, leaseId: lease, baseVersion: job.version, batches: 1, loss: l, replicaStep: n, ...partOf(f.job!, f.job!.replica!.tensors) });
  return Promise.all([part(s0, leaseId, null), part(s1, s1.job!.replica!.replicaId, loss)]);
}

/** The two workers of `ws` wait, kept apart (no replica of them), and neither is barred: two newcomers (added to `ws`) form a replica with each. */
async function expectKeptApartNotBarred(job: Job, ws: Fuzzer[]): Promise<void> {
  const [x, y] = ws as [Fuzzer, Fuzzer];
  await settledAfterRoundTrips(Promise.resolve(), x.w, y.w);
  expect(job.replicas!.list()).toEqual([]);
  ws.push(await fuzzer(), await fuzzer());
  await settledAfterRoundTrips(Promise.resolve(), ...ws.map((f) => f.w));
  const formed = job.replicas!.list().map((r) => [...r.members].sort());
  expect(formed).toHaveLength(2);
  expect(formed.flat().sort()).toEqual(ws.map((f) => f.id).sort());
  expect(formed.every((m) => !(m.includes(x.id) && m.includes(y.id)))).toBe(true);
}

/** Runs `body` on a split job of its own on a manual clock (leaseSeconds 30), as the `run` and `target` fuzzer() and replicaOf() use; closed after. */
async function onClockedJob(body: (own: Running, clock: ManualClock) => Promise<void>): Promise<void> {
  const clock = new ManualClock();
  const own = await startCoordinator({ model: 'mlp', stages: 2, normBound: 0, leaseSeconds: 30 }, { clock });
  const saved = { run, target };
  run = own;
  target = own.job;
  try {
    await body(own, clock);
  } finally {
    ({ run, target } = saved);
    await own.close();
  }
}

describe('a stage that never pushes its part', () => {
  it('a step missing a part a lease period after its first is dropped: its replica dissolved, the held part answered (the job\'s clock)', async () => {
    await onClockedJob(async (own, clock) => {
      const ws = [await fuzzer(), await fuzzer()];
      try {
        const { s0, s1, leaseId } = await replicaOf(own.job.id, ws);
        const replicaId = s0.job!.replica!.replicaId;
        const held = s0.w.emitWithAck('grads:push', { jobId: own.job.id, leaseId, baseVersion: 0, batches: 1, loss: null, replicaStep: 0, ...partOf(s0.job!, s0.job!.replica!.tensors) });
        // Stage 1 sends a part the schema refuses, and then nothing.
        expect(await s1.w.emitWithAck('grads:push', { jobId: own.job.id, leaseId: replicaId, baseVersion: -1, batches: 1, loss: 2.3, replicaStep: 0, ...partOf(s1.job!, s1.job!.replica!.tensors) })).toMatchObject({ code: ErrorCode.BAD_REQUEST });
        // Stage 0's part (400 kB) travels on its own socket and may still be on the way after
        // stage 1's small refusal came back: its deadline counts from when it is held, so the
        // clock moves only once stage 0's later messages were answered.
        expect(await settledAfterRoundTrips(held, s0.w)).toBe(false);
        clock.advance(29_000);
        expect(await settledAfterRoundTrips(held, s0.w, s1.w)).toBe(false);
        // Before the fix the part was held for ever: nothing ever answered stage 0.
        const told = waitForEvent<{ reason: string }>(s0.w, 'replica:dissolve');
        clock.advance(2000);
        expect(await settledAfterRoundTrips(held, s0.w, s1.w)).toBe(true);
        expect(await held).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
        expect((await told).reason).toBe(`stage 1 of replica ${replicaId} did not push step 0 within 30 s`);
        expect(own.job.replicas!.get(replicaId)).toBeUndefined();
        expect(own.job.version).toBe(0);
      } finally {
        ws.forEach((f) => f.w.disconnect());
      }
    });
  });

  it(`every stage is charged for a step one never pushes its part of (a part proves nothing of its sender's frames), and the two are kept apart: the staller meets a new partner each time and is barred at its ${MAX_FAULTS_IN_A_ROW}rd, no partner is`, async () => {
    await onClockedJob(async (own, clock) => {
      await stallsWithNewPartners(own.job, async (r, staller) => {
        // The partner pushes its part (stage 0 under its lease, stage 1 under its replica); the staller never does.
        const honest = r.s0 === staller ? r.s1 : r.s0;
        const stage = honest.job!.replica!;
        const held = honest.w.emitWithAck('grads:push', { jobId: own.job.id, leaseId: stage.stage === 0 ? r.leaseId : stage.replicaId, baseVersion: 0, batches: 1, loss: stage.stage === 0 ? null : 2.3, replicaStep: 0, ...partOf(honest.job!, stage.tensors) });
        expect(await settledAfterRoundTrips(held, honest.w)).toBe(false);
        const told = waitForEvent(honest.w, 'replica:dissolve');
        clock.advance(31_000);
        await told;
        expect(await held).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
      });
    });
  });
});

/**
 * `stall` run MAX_FAULTS_IN_A_ROW times, each time on a replica of the same staller and a
 * new partner (the one before left). Each time the two are kept apart after: they wait,
 * and no replica is formed of them again (before, the board re-formed the same pair at
 * once, and an honest partner was barred with its staller at the third). At the end the
 * staller is barred, and the last partner, charged once, forms a replica with a newcomer.
 */
async function stallsWithNewPartners(job: Job, stall: (r: Awaited<ReturnType<typeof replicaOf>>, staller: Fuzzer) => Promise<void>): Promise<void> {
  const staller = await fuzzer();
  const ws = [staller];
  try {
    for (let episode = 0; episode < MAX_FAULTS_IN_A_ROW; episode++) {
      const partner = await fuzzer();
      ws.push(partner);
      await stall(await replicaOf(job.id, [staller, partner]), staller);
      await settledAfterRoundTrips(Promise.resolve(), staller.w, partner.w);
      expect(job.replicas!.list()).toEqual([]);
      if (episode < MAX_FAULTS_IN_A_ROW - 1) partner.w.disconnect();
    }
    const newcomer = await fuzzer();
    ws.push(newcomer);
    await settledAfterRoundTrips(Promise.resolve(), ...ws.filter((f) => f.w.connected).map((f) => f.w));
    expect(job.replicas!.list().map((r) => [...r.members].sort())).toEqual([[ws[MAX_FAULTS_IN_A_ROW]!.id, newcomer.id].sort()]);
    // Kept apart from the last partner only: the staller would have formed with the newcomer had it not been barred.
    expect(job.replicas!.waiting).toEqual([staller.id]);
  } finally {
    ws.forEach((f) => f.w.disconnect());
  }
}

describe('a replica that makes no step', () => {
  it("an honest stage 0 whose neighbour never passes its frames on is let go a lease period on, not held for ever, and trains in its next replica", async () => {
    await onClockedJob(async (own, clock) => {
      const unstaged: string[] = [];
      let accepted = 0;
      const honest = await startStageWorker(own.url, { unstaged: (reason) => unstaged.push(reason), pushed: (r, stage) => stage === 0 && r.ok && accepted++ });
      // Takes its stage and never answers a frame: over WebRTC the coordinator would not see that either.
      const silent = await fuzzer();
      let second: StageWorker | null = null;
      try {
        await vi.waitFor(
          () => {
            expect(own.job.replicas!.list()[0]?.members).toEqual([honest.workerId, silent.id]);
            expect(own.job.ledger.activeLeases).toBe(1);
            expect(honest.traffic.bytesSent).toBeGreaterThan(0);
          },
          { timeout: 30_000, interval: 20 },
        );
        const replicaId = own.job.replicas!.list()[0]!.id;
        const told = waitForEvent<{ reason: string }>(silent.w, 'replica:dissolve');
        // A new replica has 30 s more than the lease period for its first step (its tabs try WebRTC first).
        clock.advance(59_000);
        await settledAfterRoundTrips(told, silent.w);
        expect(own.job.replicas!.get(replicaId)).toBeDefined();
        clock.advance(2000);
        // Before the fix the replica stayed for ever: the stage 0 lease was taken back, and the honest tab waited on.
        expect((await told).reason).toBe(`replica ${replicaId} made no step within 30 s`);
        await vi.waitFor(() => expect(unstaged).toContain(`replica ${replicaId} dissolved: replica ${replicaId} made no step within 30 s`), { interval: 20 });
        silent.w.disconnect();
        second = await startStageWorker(own.url);
        await vi.waitFor(() => expect(accepted).toBeGreaterThan(0), { timeout: 60_000, interval: 50 });
      } finally {
        honest.close();
        second?.close();
        silent.w.disconnect();
      }
    });
  });

  it(`each of its stages is charged (who held it up is not to be seen), and the two are kept apart: the stage common to ${MAX_FAULTS_IN_A_ROW} such replicas in a row is barred, its partners are not`, async () => {
    await onClockedJob(async (own, clock) => {
      await stallsWithNewPartners(own.job, async (r) => {
        // Stage 0 leases; neither stage ever pushes (a new replica: the lease period and its 30 s of grace).
        const told = waitForEvent(r.s0.w, 'replica:dissolve');
        clock.advance(61_000);
        await told;
      });
    });
  });
});

describe('a replica that keeps its piece too long', () => {
  it('loses it at the lease period\'s end, as a data-parallel worker would, though it stepped; steps refused after that are no progress', async () => {
    await onClockedJob(async (own, clock) => {
      const ws = [await fuzzer(), await fuzzer()];
      try {
        const { s0, s1, leaseId } = await replicaOf(own.job.id, ws);
        const replicaId = s0.job!.replica!.replicaId;
        const step = (n: number) => bothParts(own.job, s0, s1, leaseId, n, 2.3);
        expect((await step(0)).map((r) => r.ok)).toEqual([true, true]);
        clock.advance(20_000);
        expect((await step(1)).map((r) => r.ok)).toEqual([true, true]);
        // 31 s after it was leased, 11 s after the replica's last step.
        clock.advance(11_000);
        await settledAfterRoundTrips(Promise.resolve(), s0.w, s1.w);
        // Before, a stage 0's lease ran no deadline at all: a slow pair kept a piece for as many periods as it had steps.
        expect(own.job.ledger.activeLeases).toBe(0);
        expect(own.job.replicas!.get(replicaId)).toBeDefined();
        expect((await step(2))[0]).toMatchObject({ ok: false, code: ErrorCode.LEASE_LOST });
        // A stage 0 that goes on naming the lost lease has every step refused, at no fault: that is no progress either.
        clock.advance(18_000);
        expect((await step(3))[0]).toMatchObject({ ok: false, code: ErrorCode.LEASE_LOST });
        expect(own.job.replicas!.get(replicaId)).toBeDefined();
        const told = waitForEvent<{ reason: string }>(s0.w, 'replica:dissolve');
        clock.advance(2000);
        // 31 s after its last accepted step. Before, a refused step counted as a step: the replica went on for ever.
        expect((await told).reason).toBe(`replica ${replicaId} made no step within 30 s`);
      } finally {
        ws.forEach((f) => f.w.disconnect());
      }
    });
  });
});

type Message = [Fuzzer, string, unknown];

it(`survives ${MESSAGES} malformed split-job messages with coded refusals, untouched parameters and an honest replica training`, async () => {
  // The honest replica forms while only its job runs; then the fuzzed job (higher priority) starts.
  let honestAccepted = 0;
  const honest: StageWorker[] = [];
  for (let i = 0; i < 2; i++) honest.push(await startStageWorker(run.url, { pushed: (r, stage) => stage === 0 && r.ok && honestAccepted++ }));
  const created = await run.coordinator.createJob({ model: 'mlp', stages: 2, name: 'fuzzed', priority: 10, normBound: 0 }, { start: false });
  if (!created.ok) throw new Error(created.message);
  target = created.job;
  target.control('start');
  const before = localParameters(target).store.tensors.map((t) => Buffer.from(t.values.slice().buffer));
  const honestIds = honest.map((h) => h.workerId);
  const honestReplica = () => run.job.replicas!.list()[0]?.id ?? 'r1';

  const rand = seededRandom(4321);
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const seen = new Map<string, number>();
  const outcomes = noOutcomes();
  let sent = 0;
  let generations = 0;

  // The fuzzer's three workers: two are the stages of its replica, one waits in no replica.
  let workers: Fuzzer[] = [];
  let r = { s0: null as unknown as Fuzzer, s1: null as unknown as Fuzzer, leaseId: 'L0' };
  let stranger: Fuzzer = null as unknown as Fuzzer;
  let replicaId = '';
  let step = 0;
  const fresh = async () => {
    workers.forEach((f) => f.w.disconnect());
    workers = [await fuzzer(), await fuzzer(), await fuzzer()];
    generations++;
    r = await replicaOf(target.id, workers);
    stranger = workers.find((f) => f !== r.s0 && f !== r.s1)!;
    replicaId = r.s0.job!.replica!.replicaId;
    step = 0;
  };
  const live = () => target.replicas!.get(replicaId) !== undefined && workers.every((f) => f.w.connected);

  const send = (f: Fuzzer, event: string, payload: unknown): Promise<FuzzOutcome> => sendFuzzed(f.w, event, payload, seen);

  const stageOf = (f: Fuzzer) => f.job!.replica!;
  const neighbour = (f: Fuzzer) => (f === r.s0 ? r.s1 : r.s0);
  const part = (f: Fuzzer, replicaStep: number, value = 1e-3) => ({
    jobId: target.id,
    leaseId: f === r.s0 ? r.leaseId : replicaId,
    baseVersion: 0,
    batches: 1,
    loss: f === r.s1 ? 2.3 : null,
    replicaStep,
    ...partOf(f.job!, stageOf(f).tensors, value),
  });
  /** A part as the fuzz may bend it: any manifest fields. */
  type Part = Omit<ReturnType<typeof part>, 'manifest' | 'loss'> & { loss: number | null; manifest: { codec: string; tensors: { name: string; shape: number[]; dtype: string; offset: number; byteLength: number }[] } };
  /** Ways a stage part passes the wire schema and still must be refused by the replica step. */
  const flaws: ((p: Part, f: Fuzzer) => Part)[] = [
    (p, f) => ({ ...p, ...partOf(f.job!, stageOf(neighbour(f)).tensors) }),
    (p) => {
      const data = new Uint8Array(p.data as Uint8Array);
      new Float32Array(data.buffer)[Math.floor(rand() * 100)] = pick([NaN, Infinity, -Infinity]);
      return { ...p, data };
    },
    (p) => ({ ...p, data: (p.data as Uint8Array).subarray(0, Math.floor(rand() * (p.data as Uint8Array).length)) }),
    (p) => ({ ...p, data: new Uint8Array((p.data as Uint8Array).length + 4096) }),
    (p) => ({ ...p, manifest: { ...p.manifest, tensors: p.manifest.tensors.map((t, i) => (i === 0 ? { ...t, shape: [1e6] } : t)) } }),
    (p) => ({ ...p, manifest: { ...p.manifest, tensors: p.manifest.tensors.map((t) => ({ ...t, dtype: 'float64' })) } }),
    (p) => ({ ...p, manifest: { ...p.manifest, codec: pick(['fp64', '', '__proto__']) } }),
    (p) => ({ ...p, manifest: { ...p.manifest, tensors: [] }, data: new Uint8Array(0) }),
    (p, f) => (f === r.s1 ? { ...p, loss: pick([null, -1, 1e300, 16.3]) } : { ...p, baseVersion: 1e9 }),
    (p) => ({ ...p, batches: pick([2, 100_000]) }),
    (p, f) => ({ ...p, leaseId: f === r.s0 ? pick(['L999999', replicaId]) : r.leaseId }),
    (p) => ({ ...p, baseVersion: pick([1e9, 5]) }),
  ];

  /** Messages that hold nothing for later: answered at once, whatever their sender. */
  const malformed: (() => Message)[] = [
    () => [pick([r.s0, r.s1]), 'relay:frame', { replicaId, to: neighbour(r.s0).id, frame: Uint8Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)) }],
    () => [pick([r.s0, r.s1, stranger]), 'relay:frame', { replicaId: pick([replicaId, honestReplica(), 'r999']), to: pick([...honestIds, stranger.id, 'w999']), frame: new Uint8Array(8) }],
    () => [r.s0, 'relay:frame', { replicaId, to: r.s0.id, frame: new Uint8Array(8) }],
    () => [stranger, 'relay:frame', { replicaId, to: pick([r.s0.id, r.s1.id]), frame: new Uint8Array(8) }],
    () => [pick([r.s0, r.s1]), 'relay:frame', pick([null, 7, 'frame', { replicaId, to: r.s1.id, frame: 'AAAA' }, { replicaId, to: r.s1.id, frame: [1, 2, 3] }, { replicaId: 'x'.repeat(1000), to: r.s1.id, frame: new Uint8Array(1) }, { replicaId, frame: new Uint8Array(1) }])],
    () => [r.s0, 'peer:offer', pick([{ replicaId, to: r.s1.id, sdp: 'v=0'.repeat(10_000) }, { replicaId, to: r.s1.id, sdp: '' }, { replicaId, to: r.s1.id, sdp: 'v=0', extra: 1 }, { replicaId, to: pick(honestIds), sdp: 'v=0' }])],
    () => [r.s1, 'peer:offer', { replicaId, to: r.s0.id, sdp: 'v=0' }],
    () => [r.s0, 'peer:answer', { replicaId, to: r.s1.id, sdp: 'v=0' }],
    () => [stranger, pick(['peer:offer', 'peer:answer']), { replicaId, to: pick([r.s0.id, r.s1.id]), sdp: 'v=0' }],
    () => [pick([r.s0, r.s1]), 'peer:ice', pick([
      { replicaId, to: neighbour(r.s0).id, candidate: { candidate: 'c'.repeat(5000), sdpMid: null, sdpMLineIndex: null } },
      { replicaId, to: neighbour(r.s0).id, candidate: { candidate: 'c', sdpMid: '0', sdpMLineIndex: -1 } },
      { replicaId, to: neighbour(r.s0).id, candidate: null },
      { replicaId, to: pick(honestIds), candidate: { candidate: 'c', sdpMid: '0', sdpMLineIndex: 0 } },
    ])],
    () => [pick([r.s0, r.s1, stranger]), 'replica:report', pick([
      { replicaId, path: 'relay', bytesSent: { prev: 0, next: 0 }, bytesReceived: { prev: 0, next: 0 }, busyMs: 10, wallMs: 5, examples: 0 },
      { replicaId, path: 'relay', bytesSent: { prev: 1e12, next: 1e12 }, bytesReceived: { prev: 0, next: 0 }, busyMs: 0, wallMs: 5, examples: 0 },
      { replicaId, path: 'carrier-pigeon', bytesSent: { prev: 0, next: 0 }, bytesReceived: { prev: 0, next: 0 }, busyMs: 0, wallMs: 5, examples: 0 },
      { replicaId, path: 'relay', bytesSent: { prev: -1, next: null }, bytesReceived: {}, busyMs: NaN, wallMs: 'x', examples: 0.5 },
      { replicaId: pick([honestReplica(), 'r999']), path: 'relay', bytesSent: { prev: 0, next: 0 }, bytesReceived: { prev: 0, next: 0 }, busyMs: 0, wallMs: 5, examples: 0 },
      null,
    ])],
    () => [pick([r.s0, r.s1]), 'grads:push', { ...part(r.s0, step), replicaStep: pick([-1, 0.5, 'x', 1e20, null]) }],
    () => [pick([r.s0, r.s1]), 'grads:push', { ...part(r.s1, step), psReceipts: pick([[{ task: -1, version: 0, receipt: 'x' }], 'x', [{}]]) }],
    () => [stranger, 'grads:push', { ...part(r.s1, pick([0, step])), leaseId: replicaId }],
    () => [pick([r.s1, stranger]), 'shard:lease', { jobId: target.id }],
    () => [pick([r.s0, r.s1]), 'params:pull', { jobId: target.id, tensors: pick([['nope'], [stageOf(r.s0).tensors[0], stageOf(r.s0).tensors[0]], Array(2000).fill('x'), 'all']) }],
    () => [pick([r.s0, r.s1, stranger]), `evil:${Math.floor(rand() * 1e6)}`, { replicaId }],
  ];

  /** A stage step whose parts are both sent, one of them (at least) flawed: refused for both, never applied. */
  const flawedStep = async () => {
    const s = step++;
    const good0 = part(r.s0, s);
    const good1 = part(r.s1, s);
    const p0 = rand() < 0.5 ? good0 : pick(flaws)(good0, r.s0);
    const p1 = p0 === good0 || rand() < 0.5 ? pick(flaws)(good1, r.s1) : good1;
    const sends = [send(r.s0, 'grads:push', p0), send(r.s1, 'grads:push', p1)];
    // A part refused before it was held (it names another replica or lease) leaves the other held: the
    // attacker follows it with a part the step refuses, as it would (or the step's deadline drops it).
    const first = await Promise.race(sends.map((p, i) => p.then(() => i)));
    const rest = sends[1 - first]!;
    if (!(await settledAfterRoundTrips(rest, r.s0.w, r.s1.w))) {
      const f = first === 0 ? r.s0 : r.s1;
      outcomes[await send(f, 'grads:push', { ...part(f, s), batches: 7 })]++;
      sent++;
    }
    const [a, b] = await Promise.all(sends);
    outcomes[a]++;
    outcomes[b]++;
    sent += 2;
  };
  /** A part its replica could never complete (skipped, repeated, far ahead), with the other stage's part held: both answered. */
  const brokenStep = async () => {
    const s = step;
    const held = send(r.s0, 'grads:push', part(r.s0, s));
    await settledAfterRoundTrips(held, r.s0.w);
    const broken = await send(r.s1, 'grads:push', part(r.s1, pick([s + 1, s + 7, s - 1, 1e6].filter((x) => x >= 0 && x !== s))));
    outcomes[broken]++;
    outcomes[await held]++;
    sent += 2;
  };

  await fresh();
  while (sent < MESSAGES) {
    if (!live()) await fresh();
    // Every 10th round is a flood of pulls far beyond the rate limit, from a stage.
    if (Math.floor(sent / 100) % 10 === 9 && rand() < 0.5) {
      const results = await Promise.all(Array.from({ length: 300 }, () => send(r.s1, 'params:pull', { jobId: target.id, tensors: stageOf(r.s1).tensors })));
      results.forEach((o) => outcomes[o]++);
      sent += results.length;
      continue;
    }
    const round = Array.from({ length: 60 }, () => pick(malformed)());
    const results = await Promise.all(round.map(([f, e, p]) => send(f, e, p)));
    results.forEach((o) => outcomes[o]++);
    sent += round.length;
    // Flawed steps cost the culprit a fault each: its replica dissolves at the third (barred).
    if (live() && rand() < 0.3) await brokenStep();
    for (let i = 0; i < 6 && live(); i++) await flawedStep();
    // Now and then an abort frame: the replica dissolves, the fuzzer comes back.
    if (live() && rand() < 0.1) {
      outcomes[await send(r.s1, 'relay:frame', { replicaId, to: r.s0.id, frame: abortFrame(step, 'fp32') })]++;
      sent++;
    }
  }
  // A relay frame over the relay's cap, and one over the socket's own message cap (engine.io drops the connection).
  if (!live()) await fresh();
  outcomes[await send(r.s0, 'relay:frame', { replicaId, to: r.s1.id, frame: new Uint8Array(8 * 1024 * 1024 + 1) })]++;
  const huge = await send(r.s0, 'relay:frame', { replicaId, to: r.s1.id, frame: new Uint8Array(17 * 1024 * 1024 + 100_000) });
  outcomes[huge]++;
  const accepted = honestAccepted;
  await expect.poll(() => honestAccepted, { timeout: 60_000 }).toBeGreaterThan(accepted + 2);

  honest.forEach((h) => h.close());
  workers.forEach((f) => f.w.disconnect());

  expect(outcomes['accepted-push']).toBe(0);
  expect(outcomes['bad-answer']).toBe(0);
  expect(outcomes.refused).toBeGreaterThan(MESSAGES / 2);
  expect(huge).toBe('disconnected');
  expect(generations).toBeGreaterThan(1);
  for (const code of [ErrorCode.STEP_OUT_OF_ORDER, ErrorCode.NOT_A_PEER, ErrorCode.UNKNOWN_REPLICA, ErrorCode.TENSOR_MISMATCH, ErrorCode.LOSS_OUT_OF_RANGE, ErrorCode.NON_FINITE, ErrorCode.BATCH_CLAIM, ErrorCode.PAYLOAD_TOO_LARGE, ErrorCode.BAD_REQUEST]) {
    expect(seen.get(code) ?? 0, code).toBeGreaterThan(0);
  }
  expect(target.version).toBe(0);
  localParameters(target).store.tensors.forEach((t, i) => expect(Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength).equals(before[i]!)).toBe(true));
  expect(honestAccepted).toBeGreaterThan(5);
  expect((await (await fetch(run.url + '/api/health')).json()).ok).toBe(true);
}, 240_000);
