/**
 * Replicas over real sockets: a job split into 2 stages forms a replica of the first two
 * workers (job:assign with their stages), the third waits; only stage 0 leases; frames
 * go between neighbours through the relay, as bytes, and nowhere else; a stage pulls
 * only its tensors; a stage that leaves dissolves its replica, its lease goes back to
 * the queue and the waiting worker joins the one left in a new replica.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import type { JobDetail } from '../../shared/operator-protocol.js';
import type { JobAssignment } from '../../shared/protocol.js';
import { MAX_RELAY_FRAME_BYTES, type RelayFrameIn, type ReplicaDissolved } from '../../shared/replica-protocol.js';
import { connectTestWorker, leave, startCoordinator, waitForEvent, type Running, type TestWorker } from '../../test-support/index.js';

let run: Running;
const sockets: TestWorker[] = [];
beforeEach(async () => {
  run = await startCoordinator({ model: 'mlp', stages: 2 });
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  await run?.close();
});

interface Stage {
  w: TestWorker;
  workerId: string;
  /** The job:assign that gave it its stage. */
  staged: Promise<JobAssignment>;
}

/** A worker that said hello: told it waits (replica null), its stage comes by job:assign. */
async function join(): Promise<Stage> {
  const w = await connectTestWorker(run.url);
  sockets.push(w);
  const staged = new Promise<JobAssignment>((resolve) => w.on('job:assign', (a) => a?.replica && resolve(a)));
  const hello = await w.emitWithAck('worker:hello', { userAgent: 'stage' });
  if (!hello.ok || !hello.job) throw new Error('no job');
  expect(hello.job).toMatchObject({ stages: 2, replica: null });
  return { w, workerId: hello.workerId, staged };
}

describe('replicas of a model split into 2 stages', () => {
  it('form from waiting workers, relay frames between neighbours only, and dissolve when a stage leaves', async () => {
    const a = await join();
    const b = await join();
    const [sa, sb] = await Promise.all([a.staged, b.staged]);
    // The mlp: flatten, dense1 (98 % of the work), output; on equal workers dense1 sits alone or with flatten.
    expect(sa.replica).toMatchObject({ replicaId: 'r1', stage: 0, of: 2, from: 0, prev: null, next: b.workerId, microbatches: 4, activationCodec: 'fp32' });
    expect(sb.replica).toMatchObject({ replicaId: 'r1', stage: 1, of: 2, to: 3, prev: a.workerId, next: null });
    expect([...sa.replica!.tensors, ...sb.replica!.tensors]).toEqual(sa.tensors.map((t) => t.name));
    const c = await join();
    expect(run.job.replicas!.waiting).toEqual([c.workerId]);
    // The operator sees the replica, its stages' layers and bytes, and who waits.
    const detail = (await (await fetch(`${run.url}/api/jobs/${run.job.id}`)).json()) as JobDetail;
    expect(detail.replicas).toEqual({
      replicas: [
        {
          replicaId: 'r1',
          formedAt: expect.any(Number),
          // No stage has reported yet: neither its path nor its figures are known.
          path: null,
          stages: [
            { workerId: a.workerId, from: 0, to: sa.replica!.to, layers: expect.arrayContaining(['flatten']), paramBytes: expect.any(Number), sendsValues: expect.any(Number), busyFraction: null, path: null },
            { workerId: b.workerId, from: sb.replica!.from, to: 3, layers: expect.arrayContaining(['output']), paramBytes: expect.any(Number), sendsValues: 0, busyFraction: null, path: null },
          ],
          boundaries: [{ bytesPerExample: null }],
        },
      ],
      waiting: [c.workerId],
    });
    expect(detail.replicas!.replicas[0]!.stages.reduce((n, s) => n + s.paramBytes, 0)).toBe(401_920 + 5_160);

    // Leases: the replica's stage 0 only.
    const jobId = run.job.id;
    expect(await c.w.emitWithAck('shard:lease', { jobId })).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
    expect(await b.w.emitWithAck('shard:lease', { jobId })).toMatchObject({ ok: false, code: ErrorCode.NOT_A_PEER });
    const lease = await a.w.emitWithAck('shard:lease', { jobId });
    expect(lease).toMatchObject({ ok: true, lease: { batches: { from: 0 } } });

    // A stage pulls its own tensors.
    const pulled = await b.w.emitWithAck('params:pull', { jobId, tensors: sb.replica!.tensors });
    expect(pulled.ok && pulled.manifest.tensors.map((t) => t.name)).toEqual(sb.replica!.tensors);
    expect(await b.w.emitWithAck('params:pull', { jobId, tensors: ['nope/kernel'] })).toMatchObject({ ok: false, code: ErrorCode.TENSOR_MISMATCH });

    // The relay: bytes to the neighbour, unchanged; nothing to anyone else.
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
    const received = waitForEvent<RelayFrameIn>(b.w, 'relay:frame');
    expect(await a.w.emitWithAck('relay:frame', { replicaId: 'r1', to: b.workerId, frame: bytes })).toEqual({ ok: true });
    const frame = await received;
    expect(frame.replicaId).toBe('r1');
    expect(frame.from).toBe(a.workerId);
    expect([...new Uint8Array(frame.frame as ArrayBuffer)]).toEqual([...bytes]);
    expect(await a.w.emitWithAck('relay:frame', { replicaId: 'r1', to: c.workerId, frame: bytes })).toMatchObject({ ok: false, code: ErrorCode.NOT_A_PEER });
    expect(await c.w.emitWithAck('relay:frame', { replicaId: 'r1', to: b.workerId, frame: bytes })).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
    expect(await a.w.emitWithAck('relay:frame', { replicaId: 'r9', to: b.workerId, frame: bytes })).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
    const huge = new Uint8Array(MAX_RELAY_FRAME_BYTES + 1);
    expect(await a.w.emitWithAck('relay:frame', { replicaId: 'r1', to: b.workerId, frame: huge })).toMatchObject({ ok: false, code: ErrorCode.PAYLOAD_TOO_LARGE });
    expect(await a.w.emitWithAck('relay:frame', { replicaId: 'r1', to: b.workerId })).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });

    // Stage 1 leaves: stage 0 is told, its lease goes back, and it forms r2 with the waiting worker.
    const dissolved = waitForEvent<ReplicaDissolved>(a.w, 'replica:dissolve');
    const restaged = new Promise<JobAssignment>((resolve) => a.w.on('job:assign', (j) => j?.replica?.replicaId === 'r2' && resolve(j)));
    await leave(run.coordinator, b.w);
    expect(await dissolved).toEqual({ replicaId: 'r1', reason: 'a stage left' });
    expect(run.job.ledger.activeLeases).toBe(0);
    const [again, cStaged] = await Promise.all([restaged, c.staged]);
    expect([again.replica!.replicaId, cStaged.replica!.replicaId]).toEqual(['r2', 'r2']);
    expect(await a.w.emitWithAck('relay:frame', { replicaId: 'r1', to: c.workerId, frame: bytes })).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
  });

  it('a data-parallel job tells its workers stages 1 and no replica, and lets each lease', async () => {
    const dp = await run.coordinator.createJob({ model: 'mlp', priority: 5, directionThreshold: null });
    if (!dp.ok) throw new Error(dp.message);
    const w = await connectTestWorker(run.url);
    sockets.push(w);
    const hello = await w.emitWithAck('worker:hello', { userAgent: 'dp' });
    expect(hello.ok && hello.job).toMatchObject({ jobId: dp.job.id, stages: 1, replica: null });
    expect(await w.emitWithAck('shard:lease', { jobId: dp.job.id })).toMatchObject({ ok: true });
  });
});
