/**
 * Sync rounds across two real ps tasks (port 0), the chief's RemoteParameterService
 * owning the rounds over real control sockets and workers pushing their slices over
 * real worker sockets: a fixed sequence of rounds gives, bit for bit, the parameters
 * that the in-process barrier (SyncBarrier over one ParameterStore) gives, for each
 * coordinate-wise rule; a worker that never pushes is waited for until the round's
 * deadline, on the chief's clock, and then every task closes the round without it; a
 * push only one task took stays out of the round on every task.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { codecOf, encodeTensors } from '../../shared/codec.js';
import { Placement } from '../../shared/placement.js';
import { ErrorCode } from '../../shared/errors.js';
import { parseJobSpec, type JobSpec } from '../../shared/job-spec.js';
import type { PushAccepted } from '../../shared/protocol.js';
import { fail, ok, type Result } from '../../shared/result.js';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';
import { ManualClock } from '../../test-support/manual-clock.js';
import { bits, seededValues, startPsTasks, type PsTaskFixture } from '../../test-support/ps-fixture.js';
import { chiefCredential } from '../cluster/chief-fence.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { roundPartNumber } from '../cluster/hold-receipts.js';
import { PsCluster } from '../cluster/ps-cluster.js';
import { SyncBarrier } from '../consistency/sync-barrier.js';
import { GradientGate } from './gradient-gate.js';
import { createOptimizer } from './optimizers.js';
import { ParameterStore } from './parameter-store.js';
import { ChiefRounds } from './chief-rounds.js';
import { CloseGate } from './close-gate.js';
import { psSpecRefusal, RemoteParameterService } from './remote-parameter-service.js';

const TOKEN = 'chief-rounds-test-cluster-token-0123456789';
const MODEL: TensorSpec[] = [
  { name: 'dense/kernel', shape: [64, 32] },
  { name: 'dense/bias', shape: [32] },
  { name: 'output/kernel', shape: [32, 4] },
  { name: 'output/bias', shape: [4] },
];
const SIZES = MODEL.map((s) => sizeOf(s.shape));
const INITIAL = MODEL.map((_, i) => seededValues(i + 1, SIZES[i]!, 1));
const WORKERS = ['w-1', 'w-2', 'w-3'];
const ROUNDS = 3;
const TIMEOUT_S = 5;
// A small partition size: dense/kernel (8 KiB) splits over both tasks.
const PARTITION_BYTES = 4096;
const PLACEMENT = Placement.of(MODEL, { tasks: 2, partitionBytes: PARTITION_BYTES });

function syncSpec(fields: object): JobSpec {
  const spec = parseJobSpec({ model: 'mlp', mode: 'sync', normBound: 0, directionThreshold: null, roundTimeoutSeconds: TIMEOUT_S, optimizer: { type: 'momentum', learningRate: 0.05 }, ...fields });
  if (!spec.ok) throw new Error(spec.message);
  return spec.value;
}

/** Worker `w`'s gradient for round `k`. */
const gradient = (k: number, w: number) => MODEL.map((_, i) => seededValues(1000 * k + 100 * w + i, SIZES[i]!, 0.2));

let tasks: PsTaskFixture;
const clusters: PsCluster[] = [];
let jobs = 0;

let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'chief-rounds-'));
  // A data dir each: checkpoint parts are written there.
  tasks = await startPsTasks(2, (t) => ({ token: TOKEN, dataDir: join(dataDir, `ps${t}`) }));
});
afterAll(async () => {
  await Promise.all(clusters.map((c) => c.close()));
  await tasks.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** A sync job on both tasks, its rounds on `clock` with `WORKERS` active. */
async function remoteJob(spec: JobSpec, clock: ManualClock, active = WORKERS): Promise<{ service: RemoteParameterService; jobId: string }> {
  const cluster = new PsCluster({ endpoints: tasks.runs.map((r) => r.url), token: TOKEN, epoch: 1, partitionBytes: PARTITION_BYTES });
  clusters.push(cluster);
  const jobId = `job-${++jobs}`;
  const service = await RemoteParameterService.create(spec, { jobId, tensors: MODEL, initial: INITIAL, cluster });
  if ('ok' in service) throw new Error(service.message);
  return { service: service.withContext({ clock, activeWorkers: () => new Set(active) }), jobId };
}

/** Worker `w` pushes its slices of `grads` to `toTasks` (every task by default) for `round`; each task's answer. */
async function pushSlices(service: RemoteParameterService, jobId: string, w: string, round: number, grads: Float32Array[], toTasks = [0, 1]) {
  const route = service.routeFor(w);
  const split = PLACEMENT.splitTensors(grads);
  return Promise.all(
    toTasks.map((t) => {
      const payload = encodeTensors(PLACEMENT.specsOf(t).map((s, i) => ({ ...s, values: split[t]![i]! })));
      return tasks.workers[t]!.emitWithAck('grads:push', { ticket: route.tasks[t]!.ticket, jobId, baseVersion: round, ...payload });
    }),
  );
}

/** Worker `w`'s notice to the chief with the tasks' answers (their receipts, or the first refusal). */
function notice(service: RemoteParameterService, w: string, answers: Awaited<ReturnType<typeof pushSlices>>): Result<PushAccepted> | Promise<Result<PushAccepted>> {
  const refused = answers.find((a) => !a.ok);
  const base = { baseVersion: 0, batches: 1, manifest: { codec: 'fp32' as const, tensors: [] }, data: new Uint8Array(0) };
  if (refused && !refused.ok) return service.push(w, { ...base, psRefused: refused.code });
  return service.push(w, { ...base, psReceipts: answers.map((a, task) => (a.ok ? { task, version: a.version, receipt: a.receipt } : { task, version: -1, receipt: '' })) });
}

/** The in-process barrier over one store with the same spec: the reference. */
function oneProcess(spec: JobSpec, clock: ManualClock) {
  const store = new ParameterStore(MODEL, INITIAL.map((v) => v.slice()), createOptimizer(spec.optimizer));
  const gate = new GradientGate(store, codecOf({ codec: 'fp32', topkRatio: 0.01 }), 0, null);
  const barrier = new SyncBarrier({ store, clock, activeWorkers: () => new Set(WORKERS) }, { backupWorkers: spec.backupWorkers, roundTimeoutMs: spec.roundTimeoutSeconds * 1000, aggregation: { aggregation: spec.aggregation, trimFraction: spec.trimFraction } });
  return {
    store,
    barrier,
    push(w: string, grads: Float32Array[]) {
      const admission = barrier.admit(w, store.version);
      if ('ok' in admission) throw new Error(admission.message);
      const decoded = gate.check({ ...encodeTensors(MODEL.map((s, i) => ({ ...s, values: grads[i]! }))), batches: 1 }, w);
      if ('ok' in decoded) throw new Error(decoded.message);
      return barrier.accept(w, admission, decoded);
    },
  };
}

const valueBits = async (service: RemoteParameterService) => (await service.values()).values.map(bits);
const storeBits = (store: ParameterStore) => store.snapshot().tensors.map((t) => bits(t.values));

describe('sync rounds across 2 ps tasks', () => {
  it('splits dense/kernel over both tasks', () => {
    expect(PLACEMENT.byTask.map((slices) => slices.some((s) => s.name.startsWith('dense/kernel/part_')))).toEqual([true, true]);
  });

  for (const aggregation of ['mean', 'median', 'trimmed-mean'] as const) {
    it(`${aggregation}: a fixed sequence of rounds gives the parameters one process gives, bit for bit`, async () => {
      const spec = syncSpec({ aggregation, trimFraction: 0.34 });
      const clock = new ManualClock();
      const { service, jobId } = await remoteJob(spec, clock);
      const one = oneProcess(spec, clock);
      try {
        for (let k = 0; k < ROUNDS; k++) {
          const remoteAcks: (Result<PushAccepted> | Promise<Result<PushAccepted>>)[] = [];
          const localAcks: Promise<Result<PushAccepted>>[] = [];
          for (const [w, worker] of WORKERS.entries()) {
            const grads = gradient(k, w);
            const answers = await pushSlices(service, jobId, worker, k, grads);
            expect(answers.map((a) => a.ok && a.version)).toEqual([k, k]);
            remoteAcks.push(notice(service, worker, answers));
            localAcks.push(one.push(worker, grads));
          }
          // The last push met the quorum: the round closed on both tasks before any answer.
          expect(await Promise.all(remoteAcks)).toEqual(WORKERS.map(() => ({ ok: true, version: k + 1, staleness: 0 })));
          expect(await Promise.all(localAcks)).toEqual(WORKERS.map(() => ({ ok: true, version: k + 1, staleness: 0 })));
        }
        expect(service.counters()).toEqual({ rounds: ROUNDS, timedOut: 0 });
        expect(await valueBits(service)).toEqual(storeBits(one.store));
      } finally {
        service.dispose();
        one.store.dispose();
      }
    });
  }

  it('a worker that never pushes is waited for until the deadline, then every task closes the round without it', async () => {
    const spec = syncSpec({});
    const clock = new ManualClock();
    const { service, jobId } = await remoteJob(spec, clock);
    const one = oneProcess(spec, clock);
    try {
      const acks: (Result<PushAccepted> | Promise<Result<PushAccepted>>)[] = [];
      for (const [w, worker] of WORKERS.slice(0, 2).entries()) {
        acks.push(notice(service, worker, await pushSlices(service, jobId, worker, 0, gradient(0, w))));
        void one.push(worker, gradient(0, w));
      }
      let answered = false;
      void Promise.all(acks).then(() => (answered = true));
      // A round trip to each task: neither has moved, and nobody is answered.
      expect((await pushSlices(service, jobId, 'w-probe', 1, gradient(9, 9))).map((a) => !a.ok && a.code)).toEqual([ErrorCode.FUTURE_VERSION, ErrorCode.FUTURE_VERSION]);
      expect(answered).toBe(false);
      clock.advance(TIMEOUT_S * 1000);
      expect(await Promise.all(acks)).toEqual([0, 1].map(() => ({ ok: true, version: 1, staleness: 0 })));
      expect(service.counters()).toEqual({ rounds: 1, timedOut: 1 });
      expect(await valueBits(service)).toEqual(storeBits(one.store));
      // Every task closed round 0: the late worker's slices are LATE on both.
      expect((await pushSlices(service, jobId, 'w-3', 0, gradient(0, 2))).map((a) => !a.ok && a.code)).toEqual([ErrorCode.LATE, ErrorCode.LATE]);
    } finally {
      service.dispose();
      one.store.dispose();
    }
  });

  it('a push only one task took stays out of the round on both tasks', async () => {
    const spec = syncSpec({});
    const clock = new ManualClock();
    const { service, jobId } = await remoteJob(spec, clock);
    const one = oneProcess(spec, clock);
    try {
      const acks: (Result<PushAccepted> | Promise<Result<PushAccepted>>)[] = [];
      const pushBoth = async (w: number) => {
        acks.push(notice(service, WORKERS[w]!, await pushSlices(service, jobId, WORKERS[w]!, 0, gradient(0, w))));
        void one.push(WORKERS[w]!, gradient(0, w));
      };
      await pushBoth(0);
      // w-3 reaches task 0 only (task 1 unreachable, say): the chief hears of the refusal and stops waiting for it.
      const partial = await pushSlices(service, jobId, 'w-3', 0, gradient(0, 2), [0]);
      expect(partial[0]!.ok).toBe(true);
      expect(await notice(service, 'w-3', [partial[0]!, { ok: false, code: ErrorCode.PS_TASK_UNREACHABLE, message: 'unreachable' }])).toMatchObject({ ok: false, code: ErrorCode.PS_TASK_UNREACHABLE });
      one.barrier.leave('w-3');
      await pushBoth(1);
      expect(await Promise.all(acks)).toEqual([0, 1].map(() => ({ ok: true, version: 1, staleness: 0 })));
      expect(await valueBits(service)).toEqual(storeBits(one.store));
    } finally {
      service.dispose();
      one.store.dispose();
    }
  });

  it('refuses a notice whose receipts are for another round, and a second notice for the round', async () => {
    const clock = new ManualClock();
    const { service, jobId } = await remoteJob(syncSpec({}), clock);
    try {
      const answers = await pushSlices(service, jobId, 'w-1', 0, gradient(0, 0));
      const first = notice(service, 'w-1', answers);
      expect(await notice(service, 'w-1', answers)).toMatchObject({ ok: false, code: ErrorCode.ALREADY_PUSHED });
      // Another worker's receipts are not w-2's.
      expect(await notice(service, 'w-2', answers)).toMatchObject({ ok: false, code: ErrorCode.BAD_RECEIPT });
      service.halt({ ok: false, code: ErrorCode.JOB_NOT_RUNNING, message: 'stopped' });
      expect(await first).toMatchObject({ ok: false, code: ErrorCode.JOB_NOT_RUNNING });
    } finally {
      service.dispose();
    }
  });
});

describe("a split job's rounds: members are replicas", () => {
  it('a stage worker counts once a round: a second replica\'s step naming it is ALREADY_PUSHED; a step for another round LATE or FUTURE_VERSION', async () => {
    const clock = new ManualClock();
    // Three replicas active: the round waits for the third, so nothing closes here.
    const { service } = await remoteJob(syncSpec({ stages: 2 }), clock, ['r-1', 'r-2', 'r-3']);
    try {
      // A replica's verified step as ReplicaSteps hands it on (the receipts are checked before: round-parts.test.ts, ps-split-sync-round.test.ts).
      const step = (workers: string[], round = 0) => ({ holds: new Map([[0, workers.map((worker) => ({ worker, hold: roundPartNumber(round, 0) }))]]), settled: false, round });
      const base = { baseVersion: 0, batches: 1, manifest: { codec: 'fp32' as const, tensors: [] }, data: new Uint8Array(0) };
      const first = service.push('r-1', { ...base, psStep: step(['s-a', 's-b']) });
      // s-b re-formed into r-2 and shows its part again: it is in the round already.
      expect(await service.push('r-2', { ...base, psStep: step(['s-c', 's-b']) })).toMatchObject({ ok: false, code: ErrorCode.ALREADY_PUSHED });
      expect(await service.push('r-2', { ...base, psStep: step(['s-c', 's-d'], 1) })).toMatchObject({ ok: false, code: ErrorCode.FUTURE_VERSION });
      expect(await service.push('r-1', { ...base, psStep: step(['s-e', 's-f']) })).toMatchObject({ ok: false, code: ErrorCode.ALREADY_PUSHED });
      service.halt({ ok: false, code: ErrorCode.JOB_NOT_RUNNING, message: 'stopped' });
      expect(await first).toMatchObject({ ok: false, code: ErrorCode.JOB_NOT_RUNNING });
    } finally {
      service.dispose();
    }
  });
});

describe('rounds and checkpoint cuts', () => {
  it('a round that comes due during a cut closes after it: every part is at one round, and a restore goes on from it', async () => {
    const spec = syncSpec({});
    const clock = new ManualClock();
    const { service, jobId } = await remoteJob(spec, clock);
    try {
      const acks: (Result<PushAccepted> | Promise<Result<PushAccepted>>)[] = [];
      for (const [w, worker] of WORKERS.slice(0, 2).entries()) acks.push(notice(service, worker, await pushSlices(service, jobId, worker, 0, gradient(0, w))));
      const last = await pushSlices(service, jobId, 'w-3', 0, gradient(0, 2));
      const cutting = service.cut();
      // The round's quorum arrives while the parts are being written.
      acks.push(notice(service, 'w-3', last));
      const cut = await cutting;
      expect(cut.parts.map((p) => p.version)).toEqual([0, 0]);
      expect(await Promise.all(acks)).toEqual(WORKERS.map(() => ({ ok: true, version: 1, staleness: 0 })));
      expect((await service.values()).values.map(bits)).not.toEqual(INITIAL.map(bits));
      // Restored to the cut: round 0 again on both tasks, nothing held from before.
      await service.restoreCut(cut);
      expect((await service.values()).values.map(bits)).toEqual(INITIAL.map(bits));
      const again: (Result<PushAccepted> | Promise<Result<PushAccepted>>)[] = [];
      for (const [w, worker] of WORKERS.entries()) again.push(notice(service, worker, await pushSlices(service, jobId, worker, 0, gradient(5, w))));
      // The global step resumed at the cut's (0, asked for before the round closed).
      expect(cut.step).toBe(0);
      expect(await Promise.all(again)).toEqual(WORKERS.map(() => ({ ok: true, version: 1, staleness: 0 })));
    } finally {
      service.dispose();
    }
  });
});

describe('round:close is fenced', () => {
  it("a stranger's close (UNAUTHORIZED) and a deposed chief's (STALE_CHIEF) close nothing", async () => {
    const clock = new ManualClock();
    const { service, jobId } = await remoteJob(syncSpec({}), clock);
    try {
      const held = await pushSlices(service, jobId, 'w-1', 0, gradient(0, 0));
      const strangerKeys = deriveClusterKeys('a-stranger-s-own-cluster-token-0123456789');
      const close = (keys: typeof strangerKeys, epoch: number) => tasks.chiefs[0]!.emitWithAck('round:close', { chief: chiefCredential(keys, epoch, 'round:close', jobId), jobId, round: 0, members: ['w-1'] });
      expect(await close(strangerKeys, 1)).toMatchObject({ ok: false, code: ErrorCode.UNAUTHORIZED });
      // Another chief takes over at epoch 2 (the last test to use the tasks: it deposes every chief at epoch 1).
      const newer = new PsCluster({ endpoints: tasks.runs.map((r) => r.url), token: TOKEN, epoch: 2, partitionBytes: PARTITION_BYTES });
      clusters.push(newer);
      expect(await newer.request(0, 'task:status', {})).toMatchObject({ ok: true, epoch: 2 });
      expect(await close(deriveClusterKeys(TOKEN), 1)).toMatchObject({ ok: false, code: ErrorCode.STALE_CHIEF });
      // Task 0 still holds w-1's push for round 0: a second push for round 0 is taken, not LATE.
      expect((await pushSlices(service, jobId, 'w-1', 0, gradient(0, 0))).map((a) => a.ok)).toEqual([true, true]);
      expect(held.every((a) => a.ok)).toBe(true);
    } finally {
      service.dispose();
    }
  });
});

describe('what stays refused on ps tasks, each with its code', () => {
  it('Multi-Krum over more than one task (whole-gradient distances); on one task it runs', () => {
    expect(psSpecRefusal(syncSpec({ aggregation: 'multi-krum' }), 2)).toMatchObject({ ok: false, code: ErrorCode.PS_UNSUPPORTED, message: expect.stringContaining('aggregation') });
    expect(psSpecRefusal(syncSpec({ aggregation: 'multi-krum' }), 1)).toBeNull();
    expect(psSpecRefusal(syncSpec({ aggregation: 'median' }), 2)).toBeNull();
    expect(psSpecRefusal(syncSpec({ mode: 'local' }), 2)).toBeNull();
    // Split into stages: the same (refused before the round modes came to split jobs on tasks).
    expect(psSpecRefusal(syncSpec({ stages: 2 }), 2)).toBeNull();
    expect(psSpecRefusal(syncSpec({ stages: 2, mode: 'local' }), 2)).toBeNull();
    expect(psSpecRefusal(syncSpec({ stages: 2, aggregation: 'multi-krum' }), 2)).toMatchObject({ ok: false, code: ErrorCode.PS_UNSUPPORTED, message: expect.stringContaining('aggregation') });
  });

  it('the direction check (a whole gradient\'s cosine); not the norm bound, which each task judges on its slices', () => {
    expect(psSpecRefusal(syncSpec({ normBound: 10 }), 2)).toBeNull();
    expect(psSpecRefusal(syncSpec({ directionThreshold: 0 }), 2)).toMatchObject({ ok: false, code: ErrorCode.PS_UNSUPPORTED, message: expect.stringContaining('directionThreshold') });
  });
});

describe('a restart while a sealed close is retried', () => {
  // The tasks here are a stand-in answering the close as a task does when its first answer is lost
  // (PS_TASK_UNREACHABLE, then ok): the real tasks cannot be made to lose exactly one answer on cue.
  const restarted = fail(ErrorCode.JOB_NOT_RUNNING, 'restored from a checkpoint');
  it("settles nothing but its own answers, refused: the round stays the restart's and the global step does not move", async () => {
    const clock = new ManualClock();
    const answers: Result[] = [fail(ErrorCode.PS_TASK_UNREACHABLE, 'no answer'), ok({})];
    let closes = 0;
    let steps = 0;
    const rounds = new ChiefRounds(
      { clock, activeWorkers: () => new Set(['w-1']), gate: new CloseGate(), closeOnTasks: async () => answers[closes++]! },
      { backupWorkers: 0, roundTimeoutMs: 5000, closeRetryDelaysMs: [250] },
      () => ++steps,
    );
    const answer = rounds.join('w-1', 0);
    if (!(answer instanceof Promise)) throw new Error(answer.message);
    await vi.waitFor(() => expect(closes).toBe(1));
    // A restore to a cut at round 3 lands while the close waits to ask again.
    rounds.restart(restarted, 3);
    clock.advance(250);
    expect(await answer).toMatchObject({ ok: false, code: ErrorCode.JOB_NOT_RUNNING });
    expect(closes).toBe(2);
    expect(rounds.round).toBe(3);
    expect(steps).toBe(0);
    expect(rounds.rounds).toBe(0);
    // The restarted round is open to pushes at once, and closes as any round.
    const next = rounds.join('w-1', 3);
    if (!(next instanceof Promise)) throw new Error(next.message);
    answers.push(ok({}));
    expect(await next).toEqual({ ok: true, version: 1, staleness: 0 });
    expect(rounds.round).toBe(4);
  });
});
