/**
 * One test per rejection code, through a real socket: each bad message gets its code,
 * the parameters stay bit-identical, and the refusal is counted.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { encodeTensors } from '../../shared/codec.js';
import { ALL_ERROR_CODES, ErrorCode } from '../../shared/errors.js';
import type { GradientPush, JobAssignment } from '../../shared/protocol.js';
import { sizeOf } from '../../shared/tensors.js';
import { setLogLevel } from '../logger.js';
import { respond } from '../worker/respond.js';
import { connectTestWorker, joinAsGradientWorker, ManualClock, startCoordinator, waitForEvent, type Running, type TestWorker } from '../../test-support/index.js';

const MAX_STALENESS = 2;
let run: Running;
let worker: TestWorker;
let job: JobAssignment;
const tested = new Set<string>();

beforeAll(async () => {
  run = await startCoordinator({ model: 'mlp', maxStaleness: MAX_STALENESS });
  worker = await connectTestWorker(run.url);
  const hello = await worker.emitWithAck('worker:hello', { userAgent: 'vitest' });
  if (!hello.ok || !hello.job) throw new Error('no assignment');
  job = hello.job;
});

afterAll(async () => {
  worker?.disconnect();
  await run?.close();
});

/** A well-formed push of small finite gradients against the current version. */
function goodPush(fill = 1e-3): GradientPush {
  const payload = encodeTensors(job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(fill) })));
  return { jobId: job.jobId, baseVersion: run.job.store.version, batches: 1, examples: 64, loss: 2.3, ...payload };
}

function snapshot(target: Running = run): string {
  return target.job.store.tensors.map((t) => Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength).toString('base64')).join('|');
}

async function expectRefused(code: string, send: () => Promise<unknown>, target: Running = run) {
  tested.add(code);
  const version = target.job.store.version;
  const params = snapshot(target);
  const before = target.job.stats.pushesRejected[code as ErrorCode] ?? 0;
  const r = (await send()) as { ok: boolean; code?: string; message?: string };
  expect(r.ok).toBe(false);
  expect(r.code).toBe(code);
  expect(r.message).toEqual(expect.any(String));
  expect(target.job.store.version).toBe(version);
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

  it('JOB_NOT_RUNNING: a push to a job that is no longer running', async () => {
    run.job.state = 'paused';
    try {
      const c = await expectRefused(ErrorCode.JOB_NOT_RUNNING, () => worker.emitWithAck('grads:push', goodPush()));
      expect(c.after()).toBe(c.before + 1);
    } finally {
      run.job.state = 'running';
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
      const codec = sparse.job.codec;
      const push = (): GradientPush => {
        const payload = encodeTensors(a.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-3) })), codec);
        return { jobId: a.jobId, baseVersion: sparse.job.store.version, batches: 1, examples: 64, loss: 2.3, ...payload };
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
      // The same job refuses dense payloads by their codec name and, renamed, by their size.
      const dense = goodPush();
      await expectRefused(ErrorCode.UNKNOWN_CODEC, () => w.emitWithAck('grads:push', { ...dense, jobId: a.jobId, baseVersion: sparse.job.store.version }), sparse);
      await expectRefused(
        ErrorCode.BYTE_LENGTH_MISMATCH,
        () => w.emitWithAck('grads:push', { ...dense, jobId: a.jobId, baseVersion: sparse.job.store.version, manifest: { ...dense.manifest, codec: 'topk' } }),
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
      const pushFor = (base: number): GradientPush => ({ ...goodPush(), jobId: jobs[0]!.jobId, baseVersion: base });
      const held = sockets[0]!.emitWithAck('grads:push', pushFor(0));
      const again = await expectRefused(ErrorCode.ALREADY_PUSHED, () => sockets[0]!.emitWithAck('grads:push', pushFor(0)), sync);
      expect(again.after()).toBe(again.before + 1);
      expect(await sockets[1]!.emitWithAck('grads:push', pushFor(0))).toMatchObject({ ok: true, version: 1 });
      expect(await held).toMatchObject({ ok: true, version: 1 });
      const late = await expectRefused(ErrorCode.LATE, () => sockets[1]!.emitWithAck('grads:push', pushFor(0)), sync);
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

  it('PAYLOAD_TOO_LARGE: more bytes than the job\'s model can need', async () => {
    const p = goodPush();
    const huge = new Uint8Array((p.data as Uint8Array).length + 128 * 1024);
    await expectRefused(ErrorCode.PAYLOAD_TOO_LARGE, () => worker.emitWithAck('grads:push', { ...p, data: huge }));
  });

  it('NORM_OUTLIER: a gradient 1000× the norm of the recent pushes (Byzantine scaling)', async () => {
    for (let i = 0; i < 3; i++) expect((await worker.emitWithAck('grads:push', goodPush())).ok).toBe(true);
    const c = await expectRefused(ErrorCode.NORM_OUTLIER, () => worker.emitWithAck('grads:push', goodPush(1)));
    expect(c.after()).toBe(c.before + 1);
  });

  it('DIRECTION_OUTLIER: a worker whose real gradients, sign-flipped, point away from the parameter server\'s own', { timeout: 180_000 }, async () => {
    const clock = new ManualClock();
    const guarded = await startCoordinator({ model: 'mlp', directionThreshold: 0 }, { clock });
    const flipper = await joinAsGradientWorker(guarded.url);
    try {
      clock.advance(guarded.job.spec.trustedRefreshSeconds * 1000);
      const judged = waitForEvent(guarded.job.direction!, 'judged', 90_000);
      expect((await flipper.push(await flipper.gradientAtPulled(flipper.batches[0]!, -1))).ok).toBe(true);
      await judged;
      const flipped = await flipper.gradientAtPulled(flipper.batches[1]!, -1);
      const c = await expectRefused(ErrorCode.DIRECTION_OUTLIER, () => flipper.push(flipped), guarded);
      expect(c.after()).toBe(c.before + 1);
    } finally {
      flipper.close();
      await guarded.close();
    }
  });

  it('UNKNOWN_EVENT: an event the worker namespace does not have', async () => {
    await expectRefused(ErrorCode.UNKNOWN_EVENT, () =>
      (worker as unknown as { emitWithAck(e: string, p: unknown): Promise<unknown> }).emitWithAck('job:create', { model: 'mlp' }),
    );
  });

  it('RATE_LIMITED: a burst beyond the socket\'s rate limit', async () => {
    tested.add(ErrorCode.RATE_LIMITED);
    const flooder = await connectTestWorker(run.url);
    await flooder.emitWithAck('worker:hello', { userAgent: 'flooder' });
    // Cheap messages (completing unknown leases): the burst allowance (800) is served,
    // the rest is refused; fewer than 200 refusals keeps the socket connected.
    const answers = await Promise.all(
      Array.from({ length: 950 }, () => flooder.emitWithAck('shard:complete', { jobId: job.jobId, leaseId: 'L0' }).catch(() => null)),
    );
    const codes = answers.map((a) => (a && !a.ok ? a.code : String(a)));
    expect(codes.filter((c) => c === ErrorCode.UNKNOWN_LEASE).length).toBeGreaterThanOrEqual(800);
    expect(codes.filter((c) => c === ErrorCode.RATE_LIMITED).length).toBeGreaterThan(50);
    flooder.disconnect();
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

  it('covers every error code a worker can get', () => {
    // UNAUTHORIZED and NOT_FOUND answer operator routes: server/test/operator-auth.test.ts.
    const operatorOnly: string[] = [ErrorCode.UNAUTHORIZED, ErrorCode.NOT_FOUND];
    expect([...tested].sort()).toEqual(ALL_ERROR_CODES.filter((c) => !operatorOnly.includes(c)).sort());
  });
});
