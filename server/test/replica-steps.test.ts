/**
 * The replica-step commit over real sockets: the stages of a replica each push their own
 * tensors' gradient for a step; nothing is applied until both have, then one update
 * (one version, the lease's batch counted once); a stage part with tensors not its own
 * refuses the step for both and its batch goes back to the queue; a step held when its
 * replica dissolves is answered and dropped, nothing applied.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codecOf, decodeTensors, encodeTensors } from '../../shared/codec.js';
import { applyParamDelta, type DeltaManifest } from '../../shared/param-delta.js';
import { ErrorCode } from '../../shared/errors.js';
import type { JobAssignment, ShardLeaseGrant } from '../../shared/protocol.js';
import { connectTestWorker, leave, settledAfterRoundTrips, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';

let run: Running;
const sockets: TestWorker[] = [];
beforeEach(async () => {
  run = await startCoordinator({ model: 'mlp', stages: 2, optimizer: { type: 'sgd', learningRate: 0.1 }, normBound: 0 });
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  await run?.close();
});

async function stage(): Promise<{ w: TestWorker; staged: Promise<JobAssignment> }> {
  const w = await connectTestWorker(run.url);
  sockets.push(w);
  const staged = new Promise<JobAssignment>((resolve) => w.on('job:assign', (a) => a?.replica && resolve(a)));
  await w.emitWithAck('worker:hello', { userAgent: 'stage' });
  return { w, staged };
}

/** A gradient of ones over `names` (shapes from the job), as a stage pushes it. */
function gradientOf(job: JobAssignment, names: readonly string[]) {
  const specs = job.tensors.filter((t) => names.includes(t.name));
  return encodeTensors(specs.map((s) => ({ ...s, values: new Float32Array(s.shape.reduce((a, b) => a * b, 1)).fill(1) })));
}

async function replica() {
  const a = await stage();
  const b = await stage();
  const [ja, jb] = await Promise.all([a.staged, b.staged]);
  const jobId = ja.jobId;
  const lease = await a.w.emitWithAck('shard:lease', { jobId });
  if (!lease.ok || !lease.lease) throw new Error('no lease');
  const push = (who: typeof a, j: JobAssignment, l: ShardLeaseGrant, replicaStep: number, names = j.replica!.tensors, loss: number | null = null) =>
    who.w.emitWithAck('grads:push', { jobId, leaseId: j.replica!.stage === 0 ? l.leaseId : j.replica!.replicaId, baseVersion: 0, batches: 1, loss, replicaStep, ...gradientOf(j, names) });
  return { a, b, ja, jb, lease: lease.lease, push };
}

describe('the replica-step commit', () => {
  it('holds a stage push until the other stage pushed the step, then applies both as one update counted once', async () => {
    const { a, b, ja, jb, lease, push } = await replica();
    const before = (await run.job.parameters.values()).values.map((v) => v.slice());
    const first = push(a, ja, lease, 0);
    expect(await settledAfterRoundTrips(first, a.w, b.w)).toBe(false);
    expect(run.job.version).toBe(0);
    const second = push(b, jb, lease, 0, jb.replica!.tensors, 2.3);
    const [ra, rb] = await Promise.all([first, second]);
    expect(ra).toEqual({ ok: true, version: 1, staleness: 0 });
    expect(rb).toEqual(ra);
    expect(run.job.stats.examplesSeen).toBe(run.job.spec.batchSize);
    expect(run.job.ledger.get(lease.leaseId)!.cursor).toBe(1);
    // Every tensor of both stages moved by SGD's step on the gradient of ones.
    const after = (await run.job.parameters.values()).values;
    after.forEach((v, i) => expect(v[0]! - before[i]![0]!).toBeCloseTo(-0.1, 5));
  });

  it('a stage part with tensors not its own refuses the step for both stages; its batch goes back to the queue', async () => {
    const { a, b, ja, jb, lease, push } = await replica();
    const first = push(a, ja, lease, 0);
    const wrong = await push(b, jb, lease, 0, ja.replica!.tensors, 2.3);
    expect(wrong).toMatchObject({ ok: false, code: ErrorCode.TENSOR_MISMATCH, message: expect.stringMatching(/^Stage 1 of replica r1/) });
    expect(await first).toEqual(wrong);
    expect(run.job.version).toBe(0);
    expect(run.job.stats.examplesSeen).toBe(0);
    // The batch was taken and requeued, as a refused push's.
    expect(run.job.ledger.get(lease.leaseId)!.cursor).toBe(1);
  });

  it('a stage part whose manifest names its buffer a thousand times over is refused as its stage\'s fault before anything is joined', async () => {
    const { a, b, ja, jb, lease, push } = await replica();
    const first = push(a, ja, lease, 0);
    // 4.5 MB, each of 1,024 entries naming all of it: joined first, that was 4.6 GB to copy
    // (a RangeError here; a little less, and gigabytes allocated per message).
    const data = new Uint8Array(4.5e6);
    const [own] = gradientOf(jb, jb.replica!.tensors).manifest.tensors;
    const entries = Array.from({ length: 1024 }, () => ({ ...own!, offset: 0, byteLength: data.byteLength }));
    const bad = await b.w.emitWithAck('grads:push', { jobId: jb.jobId, leaseId: jb.replica!.replicaId, baseVersion: 0, batches: 1, loss: 2.3, replicaStep: 0, manifest: { codec: 'fp32', tensors: entries }, data });
    expect(bad).toMatchObject({ ok: false, code: ErrorCode.TENSOR_MISMATCH, message: expect.stringMatching(/^Stage 1 of replica r1/) });
    expect(await first).toEqual(bad);
    expect(run.job.version).toBe(0);
  });

  it('a step held when a stage leaves is answered and dropped; the lease goes back to the queue', async () => {
    const { a, b, ja, lease, push } = await replica();
    const held = push(a, ja, lease, 0);
    expect(await settledAfterRoundTrips(held, a.w)).toBe(false);
    await leave(run.coordinator, b.w);
    expect(await held).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA, message: expect.stringMatching(/r1 dissolved/) });
    expect(run.job.version).toBe(0);
    expect(run.job.ledger.activeLeases).toBe(0);
    expect(await push(a, ja, lease, 1)).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
  });

  it('a stage push without its replica step, and a second push of the same step, are refused', async () => {
    const { a, ja, lease, push } = await replica();
    expect(await a.w.emitWithAck('grads:push', { jobId: ja.jobId, leaseId: lease.leaseId, baseVersion: 0, batches: 1, loss: null, ...gradientOf(ja, ja.replica!.tensors) })).toMatchObject({
      ok: false,
      code: ErrorCode.BAD_REQUEST,
    });
    // Held until the socket closes after the test.
    push(a, ja, lease, 0).catch(() => {});
    expect(await push(a, ja, lease, 0)).toMatchObject({ ok: false, code: ErrorCode.ALREADY_PUSHED });
  });

  it('a stage push that asks for its tensors is answered with them as the step left them, what a pull after the answer gets; a refused step brings none; a malformed ask is refused', async () => {
    const { a, b, ja, jb, lease } = await replica();
    const jobId = ja.jobId;
    const part = (who: typeof a, j: JobAssignment, replicaStep: number, names = j.replica!.tensors) =>
      who.w.emitWithAck('grads:push', { jobId, leaseId: j.replica!.stage === 0 ? lease.leaseId : j.replica!.replicaId, baseVersion: 0, batches: 1, loss: j.replica!.stage === 1 ? 2.3 : null, replicaStep, ...gradientOf(j, names), pull: { tensors: j.replica!.tensors } });
    const [ra, rb] = await Promise.all([part(a, ja, 0), part(b, jb, 0)]);
    const pulled = await a.w.emitWithAck('params:pull', { jobId, tensors: ja.replica!.tensors });
    if (!ra.ok || !pulled.ok) throw new Error('refused');
    expect(ra).toMatchObject({ version: 1, params: { version: 1, manifest: pulled.manifest } });
    expect(Buffer.from(ra.params!.data as ArrayBuffer).equals(Buffer.from(pulled.data as ArrayBuffer))).toBe(true);
    expect(rb).toMatchObject({ ok: true, params: { version: 1, manifest: { tensors: jb.replica!.tensors.map((name) => expect.objectContaining({ name })) } } });
    // A step refused (stage 1 pushed stage 0's tensors): answered without parameters.
    const first = part(a, ja, 1);
    expect(await part(b, jb, 1, ja.replica!.tensors)).toMatchObject({ ok: false, code: ErrorCode.TENSOR_MISMATCH });
    expect(await first).not.toHaveProperty('params');
    const malformed = await a.w.emitWithAck('grads:push', { jobId, leaseId: lease.leaseId, baseVersion: 1, batches: 1, loss: null, replicaStep: 2, ...gradientOf(ja, ja.replica!.tensors), pull: { tensors: 'dense1/kernel' } } as never);
    expect(malformed).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
  });

  it('a stage push that asks with `have` is answered with only what changed since that version, which applied to it gives what a whole pull gets', async () => {
    // Deltas pay only for sparse updates: top-k pushes under adagrad (the default optimizer).
    await run.close();
    run = await startCoordinator({ model: 'mlp', stages: 2, codec: 'topk-packed', topkRatio: 0.01, normBound: 0 });
    const { a, b, ja, jb, lease } = await replica();
    const jobId = ja.jobId;
    /** A gradient of `fill` over each stage's tensors, but for one entry of stage 0's first tensor (1). */
    const sparse = (j: JobAssignment) => {
      const specs = j.tensors.filter((t) => j.replica!.tensors.includes(t.name));
      return encodeTensors(specs.map((s, i) => {
        const values = new Float32Array(s.shape.reduce((x, y) => x * y, 1));
        if (j.replica!.stage === 0 && i === 0) values[7] = 1;
        return { ...s, values };
      }), codecOf(j));
    };
    const part = (who: typeof a, j: JobAssignment, replicaStep: number, pull: { tensors: string[]; have?: number }) =>
      who.w.emitWithAck('grads:push', { jobId, leaseId: j.replica!.stage === 0 ? lease.leaseId : j.replica!.replicaId, baseVersion: replicaStep, batches: 1, loss: j.replica!.stage === 1 ? 2.3 : null, replicaStep, ...sparse(j), pull });
    const [r0] = await Promise.all([part(a, ja, 0, { tensors: ja.replica!.tensors }), part(b, jb, 0, { tensors: jb.replica!.tensors })]);
    if (!r0.ok || !r0.params) throw new Error('no parameters in the answer');
    expect(r0.params.manifest.codec).not.toBe('delta');
    const held = decodeTensors(r0.params as Parameters<typeof decodeTensors>[0], ja.tensors.filter((t) => ja.replica!.tensors.includes(t.name)));
    const [r1] = await Promise.all([part(a, ja, 1, { tensors: ja.replica!.tensors, have: r0.version }), part(b, jb, 1, { tensors: jb.replica!.tensors, have: r0.version })]);
    if (!r1.ok || !r1.params) throw new Error('no parameters in the answer');
    expect(r1.params.manifest).toMatchObject({ codec: 'delta', since: r0.version });
    expect(applyParamDelta(r1.params.manifest as DeltaManifest, r1.params.data, held)).toBeNull();
    const whole = await a.w.emitWithAck('params:pull', { jobId, tensors: ja.replica!.tensors });
    if (!whole.ok) throw new Error('refused');
    expect(held).toEqual(decodeTensors(whole as Parameters<typeof decodeTensors>[0], ja.tensors.filter((t) => ja.replica!.tensors.includes(t.name))));
    // A `have` that is not a version is refused before the step is held.
    const bad = await a.w.emitWithAck('grads:push', { jobId, leaseId: lease.leaseId, baseVersion: 2, batches: 1, loss: null, replicaStep: 2, ...sparse(ja), pull: { tensors: ja.replica!.tensors, have: -1 } });
    expect(bad).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
  });

  it('a push whose pull names a tensor not its job\'s, or one twice, is refused TENSOR_MISMATCH before its step is held, nothing applied', async () => {
    const { a, b, ja, jb, lease } = await replica();
    const jobId = ja.jobId;
    const part = (who: typeof a, j: JobAssignment, pull: string[]) =>
      who.w.emitWithAck('grads:push', { jobId, leaseId: j.replica!.stage === 0 ? lease.leaseId : j.replica!.replicaId, baseVersion: 0, batches: 1, loss: j.replica!.stage === 1 ? 2.3 : null, replicaStep: 0, ...gradientOf(j, j.replica!.tensors), pull: { tensors: pull } });
    for (const pull of [['no/such/tensor'], [ja.replica!.tensors[0]!, ja.replica!.tensors[0]!]]) {
      const refused = part(a, ja, pull);
      // Answered at once, not held for stage 1's part of the step.
      expect(await settledAfterRoundTrips(refused, a.w, b.w), JSON.stringify(pull)).toBe(true);
      expect(await refused, JSON.stringify(pull)).toMatchObject({ ok: false, code: ErrorCode.TENSOR_MISMATCH });
    }
    expect(run.job.version).toBe(0);
    expect(run.job.stats.pushesRejected[ErrorCode.TENSOR_MISMATCH]).toBe(2);
    // Nothing of stage 0's step 0 was held: the step is whole when both stages push it now.
    const [ra, rb] = await Promise.all([part(a, ja, ja.replica!.tensors), part(b, jb, jb.replica!.tensors)]);
    expect(ra).toMatchObject({ ok: true, version: 1, params: { version: 1 } });
    expect(rb).toMatchObject({ ok: true, version: 1, params: { version: 1 } });
  });
});
