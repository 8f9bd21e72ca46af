/**
 * Hostile volunteers against a real coordinator on port 0, with raw socket.io workers
 * (no browser): the attacks of issue 13, each refused or made harmless.
 *
 * Gradients are uniform: every entry `fill`, so the norm is fill × √101,770 ≈ 319 × fill
 * for the MNIST mlp. The PS's own gradient at the initial parameters (the norm bound's
 * reference, seed 1, batch 64) has norm 1.68, so an honest-sized push is fill 5e-3
 * (norm 1.6) and the bound (10×) lies near fill 0.05.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { JobSpecInput } from '../../shared/job-spec.js';
import type { GradientPush, JobAssignment, ShardLeaseGrant } from '../../shared/protocol.js';
import { sizeOf } from '../../shared/tensors.js';
import type { CoordinatorOptions } from '../coordinator.js';
import { LEASE_GRACE_MS } from '../jobs/lease-terms.js';
import { MAX_CLIPS, WARM_PUSHES } from '../params/norm-bound.js';
import { joinAssigned, leaseShard, ManualClock, startCoordinator, type Running, type TestWorker, localParameters } from '../../test-support/index.js';

const HONEST = 5e-3;
let run: Running | null = null;
let sockets: TestWorker[] = [];

afterEach(async () => {
  for (const s of sockets) s.disconnect();
  sockets = [];
  await run?.close();
  run = null;
});

async function start(spec: JobSpecInput = {}, options: CoordinatorOptions = {}): Promise<Running> {
  run = await startCoordinator({ model: 'mlp', optimizer: { type: 'sgd', learningRate: 0.05 }, ...spec }, options);
  return run;
}

interface Volunteer {
  w: TestWorker;
  job: JobAssignment;
  lease: ShardLeaseGrant;
}

async function volunteer(r: Running): Promise<Volunteer> {
  const { w, job } = await joinAssigned(r.url, sockets, 'vitest-hostile');
  return { w, job, lease: await leaseShard(w, job.jobId) };
}

/** A one-batch push of a uniform gradient on the volunteer's lease, as the current version's; `extra` overrides fields. */
function push(v: Volunteer, fill: number, extra: Record<string, unknown> = {}): Promise<unknown> {
  const payload = encodeTensors(v.job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(fill) })));
  const p: GradientPush = { jobId: v.job.jobId, leaseId: v.lease.leaseId, baseVersion: run!.job.version, batches: 1, loss: 2.3, ...payload };
  return v.w.emitWithAck('grads:push', { ...p, ...extra } as GradientPush);
}

const params = (r: Running) => localParameters(r.job).store.tensors.map((t) => Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength).toString('base64')).join('|');
const code = (answer: unknown) => (answer as { ok: boolean; code?: string }).code ?? 'ok';

describe('the norm bound counts what the worker was given', () => {
  it('refuses a 1000× gradient that claims 100,000 mini-batches (BATCH_CLAIM); the parameters are untouched', async () => {
    const r = await start();
    const attacker = await volunteer(r);
    const before = params(r);
    expect(code(await push(attacker, HONEST * 1000, { batches: 100_000 }))).toBe(ErrorCode.BATCH_CLAIM);
    expect(params(r)).toBe(before);
    expect(r.job.version).toBe(0);
  });

  it('does not let refused pushes shape the bound: the sixth 10,000× push is refused like the first five', async () => {
    const r = await start();
    const attackers = await Promise.all(Array.from({ length: 6 }, () => volunteer(r)));
    const before = params(r);
    const answers = [];
    for (const a of attackers) answers.push(code(await push(a, HONEST * 10_000)));
    expect(answers).toEqual(new Array(6).fill(ErrorCode.NORM_OUTLIER));
    expect(params(r)).toBe(before);
    // Nor did they drag it down: a push 9× an honest one is still inside the bound.
    expect(code(await push(await volunteer(r), HONEST * 9))).toBe('ok');
  });

  it("does not let one worker's many tiny pushes drag the median: an honest push is still accepted", async () => {
    const r = await start();
    const honest = await Promise.all([volunteer(r), volunteer(r), volunteer(r)]);
    for (const h of honest) expect(code(await push(h, HONEST))).toBe('ok');
    const dragger = await volunteer(r);
    for (let i = 0; i < 15; i++) expect(code(await push(dragger, 1e-9))).toBe('ok');
    // Claiming more batches to look smaller is refused outright.
    expect(code(await push(dragger, HONEST, { batches: 100_000 }))).toBe(ErrorCode.BATCH_CLAIM);
    expect(code(await push(honest[0]!, HONEST))).toBe('ok');
  });
});

describe('a warm worker turning hostile', () => {
  it(`has at most ${MAX_CLIPS} 100× pushes clipped to the bound (the parameters move by exactly that), then refused and barred`, async () => {
    const r = await start();
    const v = await volunteer(r);
    for (let i = 0; i < WARM_PUSHES; i++) expect(code(await push(v, HONEST))).toBe('ok');
    const store = localParameters(r.job).store;
    const fill = HONEST * 100;
    for (let i = 0; i < MAX_CLIPS; i++) {
      const before = store.tensors[0]!.values[0]!;
      const answer = (await push(v, fill)) as { ok: boolean; clipped?: number };
      expect(answer.ok).toBe(true);
      // Scaled to 10× the reference norm (1.68): 16.8 / (0.5 × √101,770), about 0.105.
      expect(answer.clipped).toBeCloseTo(16.8 / (fill * Math.sqrt(101_770)), 2);
      // SGD 0.05 on the clipped gradient, not on the one pushed.
      expect(before - store.tensors[0]!.values[0]!).toBeCloseTo(0.05 * fill * answer.clipped!, 6);
    }
    for (let i = 0; i < 3; i++) expect(code(await push(v, fill))).toBe(ErrorCode.NORM_OUTLIER);
    expect(await v.w.emitWithAck('shard:lease', { jobId: v.job.jobId })).toMatchObject({ ok: false, code: ErrorCode.WORKER_BARRED });
  });
});

describe('counts come from the coordinator', () => {
  it('credits the examples of the lease\'s batch, not the 10^8 a push claims', async () => {
    const r = await start();
    const v = await volunteer(r);
    expect(code(await push(v, HONEST, { examples: 1e8 }))).toBe('ok');
    expect(r.job.stats.examplesSeen).toBe(64);
    const detail = (await (await fetch(`${r.url}/api/jobs/${r.job.id}`)).json()) as { examplesSeen: number };
    expect(detail.examplesSeen).toBe(64);
  });

  it('refuses a loss no cross-entropy can have: 1e300, NaN (null on the wire), -1; accepts 16.1', async () => {
    const r = await start();
    const v = await volunteer(r);
    const before = params(r);
    for (const loss of [1e300, NaN, -1]) expect(code(await push(v, HONEST, { loss })), String(loss)).toBe(ErrorCode.LOSS_OUT_OF_RANGE);
    expect(params(r)).toBe(before);
    expect(r.job.stats.trainLoss).toBeNull();
    // Three faults in a row cost the lease: a new worker shows that the bound is not too tight.
    expect(code(await push(await volunteer(r), HONEST, { loss: 16.1 }))).toBe('ok');
    expect(r.job.stats.trainLoss).toBeCloseTo(16.1, 6);
  });
});

describe('refused work goes back to the queue', () => {
  it("re-leases a refused push's batch to another worker, and the epoch counts every example once", async () => {
    // iris: 120 training rows in 3 shards of 40, batches of 16 (16 + 16 + 8).
    const r = await start({ dataset: 'iris', shardSize: 40, batchSize: 16, epochs: 1 });
    const a = await volunteer(r);
    const b = (await joinAssigned(r.url, sockets, 'vitest-hostile')) as unknown as Volunteer;
    expect(a.lease.batches).toEqual({ from: 0, to: 3 });
    expect(code(await push(a, 1e-3))).toBe('ok');
    expect(code(await push(a, 1e3))).toBe(ErrorCode.NORM_OUTLIER);
    expect(code(await push(a, 1e-3, { batches: 1 }))).toBe('ok');
    expect(await a.w.emitWithAck('shard:complete', { jobId: a.job.jobId, leaseId: a.lease.leaseId })).toMatchObject({ ok: true, epochDone: false });
    const shard = a.lease.shardIndex;
    expect(r.job.ledger.examples[0]![shard]).toBe(16 + 8);

    // The refused batch goes to another worker first: a gets a fresh shard, b the refused batch, in the same order.
    const aNext = await leaseShard(a.w, a.job.jobId);
    expect(aNext.shardIndex).not.toBe(shard);
    b.lease = await leaseShard(b.w, b.job.jobId);
    expect(b.lease).toMatchObject({ shardIndex: shard, batches: { from: 1, to: 2 }, examples: 16, order: a.lease.order, url: a.lease.url });
    expect(code(await push(b, 1e-3))).toBe('ok');
    expect(r.job.ledger.examples[0]![shard]).toBe(40);

    // The rest of the epoch, honestly: a's second shard, then the last one; every example of every shard was accepted once.
    await b.w.emitWithAck('shard:complete', { jobId: b.job.jobId, leaseId: b.lease.leaseId });
    const last = await leaseShard(b.w, b.job.jobId);
    for (const v of [{ ...a, lease: aNext }, { ...b, lease: last }]) {
      for (let k = v.lease.batches.from; k < v.lease.batches.to; k++) expect(code(await push(v, 1e-3))).toBe('ok');
    }
    expect(r.job.state).toBe('done');
    expect(r.job.ledger.examples).toEqual([[40, 40, 40]]);
    expect(r.job.stats.examplesSeen).toBe(120);
    const detail = (await (await fetch(`${r.url}/api/jobs/${r.job.id}`)).json()) as { examplesAccepted: unknown };
    expect(detail.examplesAccepted).toEqual({ perEpoch: 120, byEpoch: [120] });
  });

  it('takes the leases of a worker whose pushes keep being refused, and gives them to another', async () => {
    const r = await start();
    const bad = await volunteer(r);
    const second = await leaseShard(bad.w, bad.job.jobId);
    for (let i = 0; i < 3; i++) expect(code(await push(bad, HONEST * 1e4))).toBe(ErrorCode.NORM_OUTLIER);
    expect(code(await push(bad, HONEST))).toBe(ErrorCode.LEASE_LOST);
    expect(r.job.ledger.leaseTable().get(r.coordinator.workers.list().find((w) => w.socketId === bad.w.id)!.id)).toBeUndefined();
    expect(await bad.w.emitWithAck('shard:lease', { jobId: bad.job.jobId })).toMatchObject({ ok: false, code: ErrorCode.WORKER_BARRED });
    // Both its shards go to the next worker whole: the refused batches and the unpushed rest, joined again.
    const good = await volunteer(r);
    const goodNext = await leaseShard(good.w, good.job.jobId);
    const whole = { from: 0, to: 16 };
    expect([good.lease, goodNext].map((l) => [l.shardIndex, l.batches]).sort()).toEqual([[bad.lease.shardIndex, whole], [second.shardIndex, whole]].sort());
  });
});

describe('hoarding', () => {
  it('bounds the leases one worker holds, and takes them back when its pushes do not come at the rate it claims', async () => {
    const clock = new ManualClock();
    const r = await start({}, { clock });
    const { w, job } = await joinAssigned(r.url, sockets, 'vitest-hoarder');
    const hoarderId = r.coordinator.workers.list().find((x) => x.socketId === w.id)!.id;
    // It claims to be fast (a report with a callback, so that we know it was handled).
    const report = { backend: 'cpu', adapter: null, examplesPerSecond: 1e6 };
    expect(await (w as unknown as { emitWithAck(e: string, p: unknown): Promise<unknown> }).emitWithAck('worker:report', report)).toEqual({ ok: true });
    const grabbed = [];
    for (let i = 0; i < 10; i++) grabbed.push(await w.emitWithAck('shard:lease', { jobId: job.jobId }));
    expect(grabbed.map(code)).toEqual(['ok', 'ok', ...new Array(8).fill(ErrorCode.LEASE_LIMIT)]);
    const [first, next] = grabbed.map((g) => (g as { lease: ShardLeaseGrant }).lease) as [ShardLeaseGrant, ShardLeaseGrant];

    // An honest worker gets a lease at once.
    const honest = await volunteer(r);
    expect(honest.lease.leaseId).toBeTruthy();

    // No push within the grace: its leases are taken back, the prefetched one too, not a millisecond early.
    const held = () => (r.job.ledger.leaseTable().get(hoarderId) ?? []).map((l) => l.shardIndex);
    clock.advance(LEASE_GRACE_MS - 1);
    expect(held()).toEqual([first.shardIndex, next.shardIndex]);
    clock.advance(1);
    expect(held()).toEqual([]);
    expect(code(await push({ w, job, lease: first }, HONEST))).toBe(ErrorCode.LEASE_LOST);
    expect(code(await push({ w, job, lease: next }, HONEST))).toBe(ErrorCode.LEASE_LOST);
    // What it held goes to others first, whole.
    const taken = [await volunteer(r), await volunteer(r)].map((v) => [v.lease.shardIndex, v.lease.batches.from]);
    expect(taken.sort()).toEqual([[first.shardIndex, 0], [next.shardIndex, 0]].sort());

    // It may lease again; a push renews its lease for the grace only, as its claimed rate says.
    const again = await leaseShard(w, job.jobId);
    clock.advance(LEASE_GRACE_MS / 2);
    expect(code(await push({ w, job, lease: again }, HONEST))).toBe('ok');
    clock.advance(LEASE_GRACE_MS - 1);
    expect(held()).toEqual([again.shardIndex]);
    clock.advance(1);
    expect(held()).toEqual([]);
  });

  it('bars a worker that misses its lease deadline three times in a row, so the last pieces cannot cycle among hoarders; an accepted push clears the run', async () => {
    const clock = new ManualClock();
    const r = await start({ leaseSeconds: 60 }, { clock });
    const { w, job } = await joinAssigned(r.url, sockets, 'vitest-deadline-hoarder');
    const report = { backend: 'cpu', adapter: null, examplesPerSecond: 1e6 };
    expect(await (w as unknown as { emitWithAck(e: string, p: unknown): Promise<unknown> }).emitWithAck('worker:report', report)).toEqual({ ok: true });
    const miss = async () => {
      await leaseShard(w, job.jobId);
      clock.advance(LEASE_GRACE_MS);
      expect(r.job.ledger.activeLeases).toBe(0);
    };
    // Two misses, then a push in time: the run starts again.
    await miss();
    await miss();
    const kept = await leaseShard(w, job.jobId);
    clock.advance(LEASE_GRACE_MS / 2);
    expect(code(await push({ w, job, lease: kept }, HONEST))).toBe('ok');
    clock.advance(LEASE_GRACE_MS);
    // That was the first miss of a new run; two more make three in a row.
    await miss();
    expect(code(await w.emitWithAck('shard:lease', { jobId: job.jobId }))).toBe('ok');
    clock.advance(LEASE_GRACE_MS);
    expect(code(await w.emitWithAck('shard:lease', { jobId: job.jobId }))).toBe(ErrorCode.WORKER_BARRED);
    // Barred for one lease period, then it may lease again.
    clock.advance(60_000);
    expect(code(await w.emitWithAck('shard:lease', { jobId: job.jobId }))).toBe('ok');
  });

  it('takes a lease back one lease period after it became the oldest, however its worker paces its pushes', async () => {
    const clock = new ManualClock();
    const r = await start({ leaseSeconds: 60 }, { clock });
    const v = await volunteer(r);
    for (let t = 0; t < 2; t++) {
      clock.advance(25_000); // no rate reported: up to a lease period between pushes
      expect(code(await push(v, HONEST))).toBe('ok');
    }
    clock.advance(9_999);
    expect(r.job.ledger.activeLeases).toBe(1);
    clock.advance(1);
    expect(r.job.ledger.activeLeases).toBe(0);
    expect(code(await push(v, HONEST))).toBe(ErrorCode.LEASE_LOST);
    expect(r.job.ledger.examples[0]![v.lease.shardIndex]).toBe(128); // the two batches it pushed stay trained
  });
});
