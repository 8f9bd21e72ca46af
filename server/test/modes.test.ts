/**
 * Consistency modes over real sockets: the sync barrier (exactly one apply per version,
 * late gradients dropped and counted, backup workers, departures and silent workers),
 * staleness-aware scaling and local mode's outer Nesterov step, each checked against
 * a hand-computed SGD/Nesterov update of known gradients. The coordinator's time is a
 * ManualClock: a round's deadline passes only when a test steps it there.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import type { JobSpecInput } from '../../shared/job-spec.js';
import type { JobDetail } from '../../shared/operator-protocol.js';
import type { GradientPush, JobAssignment, ShardLeaseGrant } from '../../shared/protocol.js';
import { sizeOf } from '../../shared/tensors.js';
import { joinAssigned, leaseShard, leave, ManualClock, settledAfterRoundTrips, startCoordinator, type Running, type TestWorker, localParameters } from '../../test-support/index.js';

const LR = 0.1;
let run: Running | null = null;
let sockets: TestWorker[] = [];
let clock: ManualClock;

afterEach(async () => {
  for (const s of sockets) s.disconnect();
  sockets = [];
  await run?.close();
  run = null;
});

/** A job with plain SGD and no norm bound, so each update is lr × the pushed values; time stands still until `clock` is advanced. */
async function start(spec: JobSpecInput): Promise<Running> {
  clock = new ManualClock();
  run = await startCoordinator({ model: 'mlp', optimizer: { type: 'sgd', learningRate: LR }, normBound: 0, ...spec }, { clock });
  return run;
}

/** A worker that joined and leased a shard. */
async function join(r: Running): Promise<{ w: TestWorker; job: JobAssignment; lease: ShardLeaseGrant }> {
  const joined = await joinAssigned(r.url, sockets, 'vitest-modes');
  return { ...joined, lease: await leaseShard(joined.w, joined.job.jobId) };
}

/** A push on the worker's lease whose every value is `fill`, computed on `baseVersion` (as many batches as the mode's push carries). */
function push({ job, lease }: { job: JobAssignment; lease: ShardLeaseGrant }, baseVersion: number, fill: number): GradientPush {
  const payload = encodeTensors(job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(fill) })));
  const batches = job.mode.name === 'local' ? job.mode.localSteps : job.nPush;
  return { jobId: job.jobId, leaseId: lease.leaseId, baseVersion, batches, loss: 2.3, ...payload };
}

/** The first value of the first tensor: every value moves alike under these uniform pushes. */
const param0 = (r: Running) => localParameters(r.job).store.tensors[0]!.values[0]!;
const f32 = Math.fround;

describe('sync barrier', () => {
  it('holds acks until every worker pushed, applies the average exactly once, drops a late gradient and counts it', async () => {
    const r = await start({ mode: 'sync' });
    const [a, b, c] = [await join(r), await join(r), await join(r)];
    expect(a.job.mode).toEqual({ name: 'sync', backupWorkers: 0 });
    const p0 = param0(r);
    const first = a.w.emitWithAck('grads:push', push(a, 0, 1));
    expect(await settledAfterRoundTrips(first, a.w)).toBe(false);
    expect(r.job.version).toBe(0);
    // Two pushes racing to close the round: one apply.
    const [ackA, ackB, ackC] = await Promise.all([first, b.w.emitWithAck('grads:push', push(b, 0, 2)), c.w.emitWithAck('grads:push', push(c, 0, 3))]);
    for (const ack of [ackA, ackB, ackC]) expect(ack).toEqual({ ok: true, version: 1, staleness: 0 });
    expect(r.job.version).toBe(1);
    expect(param0(r)).toBe(f32(p0 - f32(LR * 2))); // mean of 1, 2, 3
    expect(r.job.parameters.counters().rounds).toBe(1);

    const late = await a.w.emitWithAck('grads:push', push(a, 0, 5));
    expect(late).toMatchObject({ ok: false, code: 'LATE' });
    expect(r.job.stats.pushesRejected.LATE).toBe(1);
    expect(r.job.version).toBe(1);
    expect(param0(r)).toBe(f32(p0 - f32(LR * 2)));
  });

  it('refuses a second push by the same worker for the open round', async () => {
    const r = await start({ mode: 'sync' });
    const [a, b] = [await join(r), await join(r)];
    const held = a.w.emitWithAck('grads:push', push(a, 0, 1));
    expect(await a.w.emitWithAck('grads:push', push(a, 0, 1))).toMatchObject({ ok: false, code: 'ALREADY_PUSHED' });
    await b.w.emitWithAck('grads:push', push(b, 0, 1));
    expect(await held).toMatchObject({ ok: true, version: 1 });
    expect(r.job.stats.pushesRejected.ALREADY_PUSHED).toBe(1);
  });

  it('with b backup workers closes the round after N − b pushes; the backup\'s gradient is late', async () => {
    const r = await start({ mode: 'sync', backupWorkers: 1 });
    const [a, b, c] = [await join(r), await join(r), await join(r)];
    const p0 = param0(r);
    const held = a.w.emitWithAck('grads:push', push(a, 0, 1));
    expect(await settledAfterRoundTrips(held, a.w)).toBe(false);
    expect(await b.w.emitWithAck('grads:push', push(b, 0, 3))).toEqual({ ok: true, version: 1, staleness: 0 });
    expect(await held).toEqual({ ok: true, version: 1, staleness: 0 });
    expect(param0(r)).toBe(f32(p0 - f32(LR * 2)));
    expect(await c.w.emitWithAck('grads:push', push(c, 0, 100))).toMatchObject({ ok: false, code: 'LATE' });
    expect(r.job.stats.pushesRejected.LATE).toBe(1);
  });

  it('a worker leaving mid-round does not deadlock the job: the round closes with the others', async () => {
    const r = await start({ mode: 'sync' });
    const [a, b, c] = [await join(r), await join(r), await join(r)];
    const p0 = param0(r);
    const heldA = a.w.emitWithAck('grads:push', push(a, 0, 1));
    const heldB = b.w.emitWithAck('grads:push', push(b, 0, 3));
    expect(await settledAfterRoundTrips(Promise.race([heldA, heldB]), a.w, b.w)).toBe(false);
    c.w.disconnect();
    expect(await heldA).toEqual({ ok: true, version: 1, staleness: 0 });
    expect(await heldB).toEqual({ ok: true, version: 1, staleness: 0 });
    expect(param0(r)).toBe(f32(p0 - f32(LR * 2)));
    // The next round waits for the two that are left, and only for them.
    const next = [a.w.emitWithAck('grads:push', push(a, 1, 1)), b.w.emitWithAck('grads:push', push(b, 1, 1))];
    for (const ack of await Promise.all(next)) expect(ack).toMatchObject({ ok: true, version: 2 });
  });

  it('a pushing worker that leaves keeps its gradient in the round; a silent one is given up on at the deadline', async () => {
    const r = await start({ mode: 'sync', roundTimeoutSeconds: 20 });
    const [a, b, c] = [await join(r), await join(r), await join(r)];
    void c; // connected and assigned, but never pushes
    const p0 = param0(r);
    const heldA = a.w.emitWithAck('grads:push', push(a, 0, 1)).catch(() => null);
    // Answered long before 20 s of wall time pass: the deadline is the coordinator's clock's.
    const heldB = b.w.timeout(10_000).emitWithAck('grads:push', push(b, 0, 3));
    expect(await settledAfterRoundTrips(Promise.race([heldA, heldB]), a.w, b.w)).toBe(false);
    await leave(r.coordinator, a.w); // its gradient stays in the round
    // The round opened with the first push; it waits for c until 20 s after that, not a millisecond less.
    clock.advance(19_999);
    expect(await settledAfterRoundTrips(heldB, b.w)).toBe(false);
    expect(r.job.version).toBe(0);
    clock.advance(1);
    expect(await heldB).toEqual({ ok: true, version: 1, staleness: 0 });
    expect(param0(r)).toBe(f32(p0 - f32(LR * 2)));
    expect(r.job.parameters.counters()).toMatchObject({ rounds: 1, timedOut: 1 });
    // The job API shows it: one round, closed by its deadline; the next waits for b and c (a left).
    const { rounds } = (await (await fetch(`${r.url}/api/jobs/${r.job.id}`)).json()) as JobDetail;
    expect(rounds).toEqual({ closed: 1, timedOut: 1, members: [...r.job.workers] });
    expect(rounds!.members).toHaveLength(2);
  });

  it('pausing the job drops the open round and refuses its held acks', async () => {
    const r = await start({ mode: 'sync' });
    const [a] = [await join(r), await join(r)];
    const held = a.w.emitWithAck('grads:push', push(a, 0, 1));
    expect(await settledAfterRoundTrips(held, a.w)).toBe(false);
    const p0 = param0(r);
    expect(r.job.control('pause').ok).toBe(true);
    expect(await held).toMatchObject({ ok: false, code: 'JOB_NOT_RUNNING' });
    expect(r.job.version).toBe(0);
    expect(param0(r)).toBe(p0);
  });
});

describe('staleness-aware', () => {
  it('divides the learning rate by the staleness (observed through a known SGD update)', async () => {
    const r = await start({ mode: 'staleness-aware', maxStaleness: 8 });
    const joined = await join(r);
    const { w, job } = joined;
    expect(job.mode).toEqual({ name: 'staleness-aware' });
    for (let v = 0; v < 4; v++) expect(await w.emitWithAck('grads:push', push(joined, v, 0))).toMatchObject({ ok: true, staleness: 0 });
    const before = param0(r);
    expect(await w.emitWithAck('grads:push', push(joined, 0, 1))).toMatchObject({ ok: true, staleness: 4, version: 5 });
    expect(param0(r)).toBeCloseTo(before - LR / 4, 7);
    const mid = param0(r);
    expect(await w.emitWithAck('grads:push', push(joined, 4, 1))).toMatchObject({ ok: true, staleness: 1 });
    expect(param0(r)).toBeCloseTo(mid - LR, 7); // staleness 1: full step
    expect(await w.emitWithAck('grads:push', push(joined, 0, 1))).toMatchObject({ ok: true, staleness: 6 });
    expect(await w.emitWithAck('grads:push', push(joined, 0, 1))).toMatchObject({ ok: true, staleness: 7 });
    expect(await w.emitWithAck('grads:push', push(joined, 0, 1))).toMatchObject({ ok: true, staleness: 8 });
    expect(await w.emitWithAck('grads:push', push(joined, 0, 1))).toMatchObject({ ok: false, code: 'STALE' }); // still bounded
  });

  it('async mode applies the same stale gradient at full step', async () => {
    const r = await start({ mode: 'async', maxStaleness: 8 });
    const joined = await join(r);
    const { w } = joined;
    for (let v = 0; v < 4; v++) await w.emitWithAck('grads:push', push(joined, v, 0));
    const before = param0(r);
    expect(await w.emitWithAck('grads:push', push(joined, 0, 1))).toMatchObject({ ok: true, staleness: 4 });
    expect(param0(r)).toBeCloseTo(before - LR, 7);
    expect(((await (await fetch(`${r.url}/api/jobs/${r.job.id}`)).json()) as JobDetail).rounds).toBeNull();
  });
});

describe('local mode', () => {
  it('applies the outer Nesterov step to the round\'s averaged delta (hand-computed)', async () => {
    const r = await start({ mode: 'local', outerLearningRate: 0.7, outerMomentum: 0.9 });
    expect(localParameters(r.job).store.optimizer.type).toBe('momentum');
    const [a, b] = [await join(r), await join(r)];
    expect(a.job.mode).toMatchObject({ name: 'local', localSteps: 8, backupWorkers: 0, optimizer: { type: 'sgd', learningRate: LR } });
    expect(Object.keys(a.job.mode)).toEqual(['name', 'backupWorkers', 'localSteps', 'optimizer']);
    const p0 = param0(r);
    // Round 1: deltas 0.01 and 0.03 → d1 = 0.02; a1 = d1; p1 = p0 − 0.7·(d1 + 0.9·a1).
    await Promise.all([a.w.emitWithAck('grads:push', push(a, 0, 0.01)), b.w.emitWithAck('grads:push', push(b, 0, 0.03))]);
    const d1 = 0.02;
    const a1 = d1;
    const p1 = p0 - 0.7 * (d1 + 0.9 * a1);
    expect(param0(r)).toBeCloseTo(p1, 6);
    // Round 2: d2 = 0.05; a2 = 0.9·a1 + d2; p2 = p1 − 0.7·(d2 + 0.9·a2).
    await Promise.all([a.w.emitWithAck('grads:push', push(a, 1, 0.05)), b.w.emitWithAck('grads:push', push(b, 1, 0.05))]);
    const d2 = 0.05;
    const a2 = 0.9 * a1 + d2;
    expect(param0(r)).toBeCloseTo(p1 - 0.7 * (d2 + 0.9 * a2), 6);
    expect(r.job.version).toBe(2);
  });
});

describe('job detail', () => {
  it('shows the mode, bytes per push and the compression ratio', async () => {
    const r = await start({ mode: 'sync', codec: 'fp16' });
    const { w, job, lease } = await join(r);
    const before = (await (await fetch(`${r.url}/api/jobs/${r.job.id}`)).json()) as { bytesPerPush: unknown; compressionRatio: unknown };
    expect(before).toMatchObject({ bytesPerPush: null, compressionRatio: null });
    const payload = encodeTensors(job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-3) })), localParameters(r.job).codec);
    expect(await w.emitWithAck('grads:push', { jobId: job.jobId, leaseId: lease.leaseId, baseVersion: 0, batches: 1, loss: 2.3, ...payload })).toMatchObject({ ok: true });
    const detail = (await (await fetch(`${r.url}/api/jobs/${r.job.id}`)).json()) as { spec: { mode: string }; bytesPerPush: number; compressionRatio: number };
    expect(detail.spec.mode).toBe('sync');
    expect(detail.bytesPerPush).toBe(2 * r.job.parameters.parameterCount); // 101,770 halves: every tensor's length is even
    expect(detail.compressionRatio).toBe(2);
  });
});
