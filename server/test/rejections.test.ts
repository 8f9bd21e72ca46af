/**
 * One test per rejection code, through a real socket: each bad message gets its code,
 * the parameters stay bit-identical, and the refusal is counted.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { encodeTensors } from '../../shared/codec.js';
import { ALL_ERROR_CODES, ErrorCode } from '../../shared/errors.js';
import type { GradientPush, JobAssignment, ShardLeaseGrant } from '../../shared/protocol.js';
import { sizeOf } from '../../shared/tensors.js';
import { setLogLevel } from '../logger.js';
import { MAX_CLIPS, WARM_PUSHES } from '../params/norm-bound.js';
import { respond } from '../worker/respond.js';
import { connectTestWorker, joinAsGradientWorker, leaseShard, localParameters, ManualClock, startCoordinator, waitForEvent, type Running, type TestWorker } from '../../test-support/index.js';

const MAX_STALENESS = 2;
let run: Running;
let worker: TestWorker;
let job: JobAssignment;
/** The worker's lease: shards of 10,000 examples, 157 batches for the pushes below. */
let lease: ShardLeaseGrant;
const tested = new Set<string>();

beforeAll(async () => {
  run = await startCoordinator({ model: 'mlp', maxStaleness: MAX_STALENESS, shardSize: 10_000 });
  worker = await connectTestWorker(run.url);
  const hello = await worker.emitWithAck('worker:hello', { userAgent: 'vitest' });
  if (!hello.ok || !hello.job) throw new Error('no assignment');
  job = hello.job;
  lease = await leaseShard(worker, job.jobId);
});

afterAll(async () => {
  worker?.disconnect();
  await run?.close();
});

/** A well-formed push of small finite gradients against the current version, on the worker's lease. */
function goodPush(fill = 1e-3): GradientPush {
  const payload = encodeTensors(job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(fill) })));
  return { jobId: job.jobId, leaseId: lease.leaseId, baseVersion: run.job.version, batches: 1, loss: 2.3, ...payload };
}

function snapshot(target: Running = run): string {
  return localParameters(target.job).store.tensors.map((t) => Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength).toString('base64')).join('|');
}

async function expectRefused(code: string, send: () => Promise<unknown>, target: Running = run) {
  tested.add(code);
  const version = target.job.version;
  const params = snapshot(target);
  const before = target.job.stats.pushesRejected[code as ErrorCode] ?? 0;
  const r = (await send()) as { ok: boolean; code?: string; message?: string };
  expect(r.ok).toBe(false);
  expect(r.code).toBe(code);
  expect(r.message).toEqual(expect.any(String));
  expect(target.job.version).toBe(version);
  expect(snapshot(target)).toBe(params);
  return { before, after: () => target.job.stats.pushesRejected[code as ErrorCode] ?? 0 };
}

describe('every refusal has a code and leaves the parameters untouched', () => {
  beforeEach(async () => {
    // Sanity: a good push is accepted, so refusals below are about the defect alone.
    const r = await worker.emitWithAck('grads:push', goodPush());
    expect(r.ok).toBe(true);
  });

  it('BAD_REQUEST: a payload that fails the schema (gradient as a JSON array)', async () => {
    await expectRefused(ErrorCode.BAD_REQUEST, () =>
      worker.emitWithAck('grads:push', { ...goodPush(), data: [1, 2, 3] } as unknown as GradientPush),
    );
  });

  it('NOT_REGISTERED: a socket that skipped worker:hello', async () => {
    const stranger = await connectTestWorker(run.url);
    try {
      await expectRefused(ErrorCode.NOT_REGISTERED, () => stranger.emitWithAck('grads:push', goodPush()));
    } finally {
      stranger.disconnect();
    }
  });

  it('UNKNOWN_JOB: a job id that is not this worker\'s assignment', async () => {
    await expectRefused(ErrorCode.UNKNOWN_JOB, () => worker.emitWithAck('grads:push', { ...goodPush(), jobId: 'job-999' }));
  });

  it('JOB_NOT_RUNNING: a push waiting in a sync round when the operator pauses the job', async () => {
    // Pausing reassigns the job's workers at once, so a push sent after it names a job the
    // worker no longer has (UNKNOWN_JOB). The one the pause refuses is already in an open round.
    const token = 'rejections-operator-token';
    const sync = await startCoordinator({ model: 'mlp', mode: 'sync', roundTimeoutSeconds: 25 }, { operatorToken: token });
    const sockets = [await connectTestWorker(sync.url), await connectTestWorker(sync.url)];
    try {
      const jobIds = await Promise.all(sockets.map(async (s) => {
        const hello = await s.emitWithAck('worker:hello', { userAgent: 'vitest-pause' });
        if (!hello.ok || !hello.job) throw new Error('no assignment');
        return hello.job.jobId;
      }));
      const jobId = jobIds[0]!;
      const { leaseId } = await leaseShard(sockets[0]!, jobId);
      const held = sockets[0]!.emitWithAck('grads:push', { ...goodPush(), jobId, leaseId, baseVersion: 0 });
      // The socket's events are handled in order: once its pull is answered, the push waits in the round.
      expect(await sockets[0]!.emitWithAck('params:pull', { jobId })).toMatchObject({ ok: true, version: 0 });
      const c = await expectRefused(
        ErrorCode.JOB_NOT_RUNNING,
        async () => {
          const res = await fetch(`${sync.url}/api/jobs/${jobId}/pause`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
          expect(res.status).toBe(200);
          return held;
        },
        sync,
      );
      expect(c.after()).toBe(c.before + 1);
      expect(sync.job.state).toBe('paused');
    } finally {
      for (const s of sockets) s.disconnect();
      await sync.close();
    }
  });

  it('UNKNOWN_CODEC: a codec the job does not use', async () => {
    const p = goodPush();
    const c = await expectRefused(ErrorCode.UNKNOWN_CODEC, () =>
      worker.emitWithAck('grads:push', { ...p, manifest: { ...p.manifest, codec: 'fp16' as 'fp32' } }),
    );
    expect(c.after()).toBe(c.before + 1);
  });

  it('TENSOR_MISMATCH: a renamed and a missing tensor', async () => {
    const p = goodPush();
    const renamed = p.manifest.tensors.map((t, i) => (i === 1 ? { ...t, name: 'evil/bias' } : t));
    await expectRefused(ErrorCode.TENSOR_MISMATCH, () => worker.emitWithAck('grads:push', { ...p, manifest: { ...p.manifest, tensors: renamed } }));
    await expectRefused(ErrorCode.TENSOR_MISMATCH, () =>
      worker.emitWithAck('grads:push', { ...p, manifest: { ...p.manifest, tensors: p.manifest.tensors.slice(1) } }),
    );
  });

  it('SHAPE_MISMATCH: a transposed kernel', async () => {
    const p = goodPush();
    const tensors = p.manifest.tensors.map((t, i) => (i === 0 ? { ...t, shape: [128, 784] } : t));
    await expectRefused(ErrorCode.SHAPE_MISMATCH, () => worker.emitWithAck('grads:push', { ...p, manifest: { ...p.manifest, tensors } }));
  });

  it('DTYPE_MISMATCH: int32 where float32 is expected', async () => {
    const p = goodPush();
    const tensors = p.manifest.tensors.map((t, i) => (i === 2 ? { ...t, dtype: 'int32' as 'float32' } : t));
    await expectRefused(ErrorCode.DTYPE_MISMATCH, () => worker.emitWithAck('grads:push', { ...p, manifest: { ...p.manifest, tensors } }));
  });

  it('BYTE_LENGTH_MISMATCH: a truncated buffer and an overlapping offset', async () => {
    const p = goodPush();
    const bytes = p.data as Uint8Array;
    await expectRefused(ErrorCode.BYTE_LENGTH_MISMATCH, () => worker.emitWithAck('grads:push', { ...p, data: bytes.subarray(0, bytes.length - 4) }));
    const tensors = p.manifest.tensors.map((t, i) => (i === 1 ? { ...t, offset: 0 } : t));
    await expectRefused(ErrorCode.BYTE_LENGTH_MISMATCH, () => worker.emitWithAck('grads:push', { ...p, manifest: { ...p.manifest, tensors } }));
  });

  it('NON_FINITE: a NaN and an Infinity in the gradient', async () => {
    for (const bad of [NaN, Infinity]) {
      const p = goodPush();
      new Float32Array((p.data as Uint8Array).buffer)[12345] = bad;
      await expectRefused(ErrorCode.NON_FINITE, () => worker.emitWithAck('grads:push', p));
    }
  });

  it('BAD_ENCODING: a top-k payload with an out-of-range or a repeated index (a topk job)', async () => {
    const sparse = await startCoordinator({ model: 'mlp', codec: 'topk', topkRatio: 0.01 });
    const w = await connectTestWorker(sparse.url);
    try {
      const hello = await w.emitWithAck('worker:hello', { userAgent: 'vitest-topk' });
      if (!hello.ok || !hello.job) throw new Error('no assignment');
      const a = hello.job;
      expect(a).toMatchObject({ codec: 'topk', topkRatio: 0.01 });
      const codec = localParameters(sparse.job).codec;
      const { leaseId } = await leaseShard(w, a.jobId);
      const push = (): GradientPush => {
        const payload = encodeTensors(a.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-3) })), codec);
        return { jobId: a.jobId, leaseId, baseVersion: sparse.job.version, batches: 1, loss: 2.3, ...payload };
      };
      expect(await w.emitWithAck('grads:push', push())).toMatchObject({ ok: true });
      // Tensor 0 (784×128): k = 1004 indices, then 1004 values.
      const outOfRange = push();
      new DataView((outOfRange.data as Uint8Array).buffer).setUint32(4 * 1003, 784 * 128, true);
      await expectRefused(ErrorCode.BAD_ENCODING, () => w.emitWithAck('grads:push', outOfRange), sparse);
      const repeated = push();
      const view = new DataView((repeated.data as Uint8Array).buffer);
      view.setUint32(4 * 1, view.getUint32(0, true), true);
      const c = await expectRefused(ErrorCode.BAD_ENCODING, () => w.emitWithAck('grads:push', repeated), sparse);
      expect(c.after()).toBe(c.before + 1);
      // A good push between: a third faulty one in a row would cost this worker its lease.
      expect(await w.emitWithAck('grads:push', push())).toMatchObject({ ok: true });
      // The same job refuses dense payloads by their codec name and, renamed, by their size.
      const dense = goodPush();
      await expectRefused(ErrorCode.UNKNOWN_CODEC, () => w.emitWithAck('grads:push', { ...dense, jobId: a.jobId, leaseId, baseVersion: sparse.job.version }), sparse);
      await expectRefused(
        ErrorCode.BYTE_LENGTH_MISMATCH,
        () => w.emitWithAck('grads:push', { ...dense, jobId: a.jobId, leaseId, baseVersion: sparse.job.version, manifest: { ...dense.manifest, codec: 'topk' } }),
        sparse,
      );
    } finally {
      w.disconnect();
      await sparse.close();
    }
  });

  it(`STALE: a gradient more than maxStaleness (${MAX_STALENESS}) versions old`, async () => {
    const old = goodPush();
    for (let i = 0; i < MAX_STALENESS; i++) expect((await worker.emitWithAck('grads:push', goodPush())).ok).toBe(true);
    const atLimit = await worker.emitWithAck('grads:push', old);
    expect(atLimit).toMatchObject({ ok: true, staleness: MAX_STALENESS });
    await expectRefused(ErrorCode.STALE, () => worker.emitWithAck('grads:push', old));
  });

  it('LATE and ALREADY_PUSHED: a sync job refuses a gradient for a closed round and a second one for the open round', async () => {
    const sync = await startCoordinator({ model: 'mlp', mode: 'sync' });
    const sockets = [await connectTestWorker(sync.url), await connectTestWorker(sync.url)];
    try {
      const jobs = await Promise.all(sockets.map(async (s) => {
        const hello = await s.emitWithAck('worker:hello', { userAgent: 'vitest-sync' });
        if (!hello.ok || !hello.job) throw new Error('no assignment');
        return hello.job;
      }));
      expect(jobs[0]!.mode).toEqual({ name: 'sync', backupWorkers: 0 });
      const leases = await Promise.all(sockets.map((s) => leaseShard(s, jobs[0]!.jobId)));
      const pushFor = (k: number, base: number): GradientPush => ({ ...goodPush(), jobId: jobs[0]!.jobId, leaseId: leases[k]!.leaseId, baseVersion: base });
      const held = sockets[0]!.emitWithAck('grads:push', pushFor(0, 0));
      const again = await expectRefused(ErrorCode.ALREADY_PUSHED, () => sockets[0]!.emitWithAck('grads:push', pushFor(0, 0)), sync);
      expect(again.after()).toBe(again.before + 1);
      expect(await sockets[1]!.emitWithAck('grads:push', pushFor(1, 0))).toMatchObject({ ok: true, version: 1 });
      expect(await held).toMatchObject({ ok: true, version: 1 });
      const late = await expectRefused(ErrorCode.LATE, () => sockets[1]!.emitWithAck('grads:push', pushFor(1, 0)), sync);
      expect(late.after()).toBe(late.before + 1);
    } finally {
      for (const s of sockets) s.disconnect();
      await sync.close();
    }
  });

  it('FUTURE_VERSION: a base version the server never published', async () => {
    await expectRefused(ErrorCode.FUTURE_VERSION, () => worker.emitWithAck('grads:push', { ...goodPush(), baseVersion: 1_000_000 }));
  });

  it('UNKNOWN_LEASE: completing a shard that was never leased', async () => {
    tested.add(ErrorCode.UNKNOWN_LEASE);
    const r = await worker.emitWithAck('shard:complete', { jobId: job.jobId, leaseId: 'L424242' });
    expect(r).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_LEASE });
  });

  it('BATCH_CLAIM: a push claiming other mini-batches than its lease has next', async () => {
    const c = await expectRefused(ErrorCode.BATCH_CLAIM, () => worker.emitWithAck('grads:push', { ...goodPush(), batches: 2 }));
    expect(c.after()).toBe(c.before + 1);
  });

  it('LOSS_OUT_OF_RANGE: a loss no cross-entropy can have', async () => {
    const c = await expectRefused(ErrorCode.LOSS_OUT_OF_RANGE, () => worker.emitWithAck('grads:push', { ...goodPush(), loss: 1e300 }));
    expect(c.after()).toBe(c.before + 1);
  });

  it("LEASE_LIMIT: a lease beyond the job's maxLeasesPerWorker (2)", async () => {
    tested.add(ErrorCode.LEASE_LIMIT);
    const second = await leaseShard(worker, job.jobId);
    expect(await worker.emitWithAck('shard:lease', { jobId: job.jobId })).toMatchObject({ ok: false, code: ErrorCode.LEASE_LIMIT });
    expect(await worker.emitWithAck('shard:complete', { jobId: job.jobId, leaseId: second.leaseId })).toMatchObject({ ok: true });
  });

  it('LEASE_LOST and WORKER_BARRED: three faulty pushes in a row cost a worker its lease, and leasing for a while', async () => {
    const w = await connectTestWorker(run.url);
    try {
      expect(await w.emitWithAck('worker:hello', { userAgent: 'vitest-faulty' })).toMatchObject({ ok: true });
      const { leaseId } = await leaseShard(w, job.jobId);
      for (let i = 0; i < 3; i++) await expectRefused(ErrorCode.BATCH_CLAIM, () => w.emitWithAck('grads:push', { ...goodPush(), leaseId, batches: 3 }));
      await expectRefused(ErrorCode.LEASE_LOST, () => w.emitWithAck('grads:push', { ...goodPush(), leaseId }));
      tested.add(ErrorCode.WORKER_BARRED);
      expect(await w.emitWithAck('shard:lease', { jobId: job.jobId })).toMatchObject({ ok: false, code: ErrorCode.WORKER_BARRED });
    } finally {
      w.disconnect();
    }
  });

  it('PAYLOAD_TOO_LARGE: more bytes than the job\'s model can need', async () => {
    const p = goodPush();
    const huge = new Uint8Array((p.data as Uint8Array).length + 128 * 1024);
    await expectRefused(ErrorCode.PAYLOAD_TOO_LARGE, () => worker.emitWithAck('grads:push', { ...p, data: huge }));
  });

  it('NORM_OUTLIER: a gradient 1000× the norm of the recent pushes (Byzantine scaling)', async () => {
    for (let i = 0; i < WARM_PUSHES; i++) expect((await worker.emitWithAck('grads:push', goodPush())).ok).toBe(true);
    // A warm worker's first few over the bound are clipped to it (an early transient's allowance, norm-bound.ts); the next is refused.
    for (let i = 0; i < MAX_CLIPS; i++) expect(await worker.emitWithAck('grads:push', goodPush(1))).toMatchObject({ ok: true, clipped: expect.any(Number) });
    const c = await expectRefused(ErrorCode.NORM_OUTLIER, () => worker.emitWithAck('grads:push', goodPush(1)));
    expect(c.after()).toBe(c.before + 1);
  });

  it('UNKNOWN_EVENT: an event the worker namespace does not have', async () => {
    await expectRefused(ErrorCode.UNKNOWN_EVENT, () =>
      (worker as unknown as { emitWithAck(e: string, p: unknown): Promise<unknown> }).emitWithAck('job:create', { model: 'mlp' }),
    );
  });

  it('RATE_LIMITED: a burst beyond the socket\'s rate limit', async () => {
    tested.add(ErrorCode.RATE_LIMITED);
    // Its own coordinator on a clock that stands still: the bucket cannot refill during the burst, whatever the machine's load.
    const still = await startCoordinator({ model: 'mlp' }, { clock: new ManualClock() });
    try {
      const flooder = await connectTestWorker(still.url);
      const hello = await flooder.emitWithAck('worker:hello', { userAgent: 'flooder' });
      if (!hello.ok || !hello.job) throw new Error('no assignment');
      const jobId = hello.job.jobId;
      // Cheap messages (completing unknown leases): the rest of the burst allowance (800, one spent on hello) is
      // served, the rest is refused; fewer than 200 refusals keeps the socket connected.
      const answers = await Promise.all(
        Array.from({ length: 950 }, () => flooder.emitWithAck('shard:complete', { jobId, leaseId: 'L0' }).catch(() => null)),
      );
      const codes = answers.map((a) => (a && !a.ok ? a.code : String(a)));
      expect(codes.filter((c) => c === ErrorCode.UNKNOWN_LEASE).length).toBe(799);
      expect(codes.filter((c) => c === ErrorCode.RATE_LIMITED).length).toBe(151);
      flooder.disconnect();
    } finally {
      await still.close();
    }
  });

  it('INTERNAL: a handler that throws answers with a code and no internal detail', () => {
    tested.add(ErrorCode.INTERNAL);
    setLogLevel('silent'); // the failure is logged on purpose; keep the test output clean
    let answer: unknown;
    const handler = respond('test:event', z.object({}), () => {
      throw new Error('secret internal detail');
    });
    handler({}, (r: unknown) => (answer = r));
    expect(answer).toEqual({ ok: false, code: ErrorCode.INTERNAL, message: 'The coordinator could not handle test:event' });
    expect(() => handler({}, undefined)).not.toThrow();
    setLogLevel('warn');
  });
});

// Its own coordinator, and long (the thread computes real gradients): after the others, whose lease would lapse meanwhile.
describe('a refusal that takes the parameter server\'s own gradient', () => {
  it('DIRECTION_OUTLIER: a worker whose real gradients, sign-flipped, point away from the parameter server\'s own', { timeout: 180_000 }, async () => {
    const clock = new ManualClock();
    const guarded = await startCoordinator({ model: 'mlp', directionThreshold: 0 }, { clock });
    const flipper = await joinAsGradientWorker(guarded.url);
    try {
      clock.advance(guarded.job.spec.trustedRefreshSeconds * 1000);
      const judged = waitForEvent(localParameters(guarded.job).direction!, 'judged', 90_000);
      expect((await flipper.push(await flipper.gradientAtPulled(-1))).ok).toBe(true);
      await judged;
      const flipped = await flipper.gradientAtPulled(-1);
      const c = await expectRefused(ErrorCode.DIRECTION_OUTLIER, () => flipper.push(flipped), guarded);
      expect(c.after()).toBe(c.before + 1);
    } finally {
      flipper.close();
      await guarded.close();
    }
  });
});

describe('the codes', () => {
  it('covers every error code a worker can get', () => {
    // UNAUTHORIZED and NOT_FOUND answer operator routes: server/test/operator-auth.test.ts;
    // UNSUPPORTED_MEDIA_TYPE answers operator bodies: server/test/http-malformed.test.ts;
    // MODEL_TOO_LARGE and UNSUPPORTED_LAYER answer custom topologies: server/test/topology-limits.test.ts;
    // CONFLICT answers dataset uploads and deletions: server/test/dataset-uploads.test.ts;
    // STALE_CHIEF answers a ps task's control messages: server/ps-task/ps-task.test.ts;
    // BUSY answers a worker past the process's bound, which takes a flood or a stalled loop: server/test/overload.test.ts.
    // UNKNOWN_REPLICA and NOT_A_PEER answer the stages of a split model: server/test/replica-relay.test.ts, replica-report.test.ts;
    // STEP_OUT_OF_ORDER a stage's part for a step its replica could never complete: server/test/fuzz-stages.test.ts.
    // PS_UNSUPPORTED answers job creation, PS_TASK_UNREACHABLE a push whose task is gone and BAD_RECEIPT a notice without the tasks' receipts, on ps tasks: server/test/ps-cluster.test.ts.
    // CHECKPOINT_PART_MISSING, CHECKPOINT_PART_CORRUPT and CHECKPOINT_WRITE_FAILED answer the chief's ckpt:* on a ps task: server/ps-task/checkpoint-cut.test.ts.
    // TOO_MANY_CONNECTIONS answers a connection over its address's cap, before any handshake: server/test/connection-cap.test.ts.
    const operatorOnly: string[] = [
      ErrorCode.UNAUTHORIZED,
      ErrorCode.NOT_FOUND,
      ErrorCode.UNSUPPORTED_MEDIA_TYPE,
      ErrorCode.MODEL_TOO_LARGE,
      ErrorCode.UNSUPPORTED_LAYER,
      ErrorCode.CONFLICT,
      ErrorCode.STALE_CHIEF,
      ErrorCode.BUSY,
      ErrorCode.UNKNOWN_REPLICA,
      ErrorCode.NOT_A_PEER,
      ErrorCode.STEP_OUT_OF_ORDER,
      ErrorCode.PS_UNSUPPORTED,
      ErrorCode.PS_TASK_UNREACHABLE,
      ErrorCode.BAD_RECEIPT,
      ErrorCode.CHECKPOINT_PART_MISSING,
      ErrorCode.CHECKPOINT_PART_CORRUPT,
      ErrorCode.CHECKPOINT_WRITE_FAILED,
      ErrorCode.TOO_MANY_CONNECTIONS,
    ];
    expect([...tested].sort()).toEqual(ALL_ERROR_CODES.filter((c) => !operatorOnly.includes(c)).sort());
  });
});
