/**
 * Robust aggregation over real sockets: a sync round with one Byzantine gradient among
 * honest ones applies the coordinate-wise median or trimmed mean of what was pushed
 * (checked against a hand-computed SGD update, coordinate by coordinate), local mode's
 * outer step uses the median delta, and the spec refusals reach the operator.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import type { JobSpecInput } from '../../shared/job-spec.js';
import type { JobDetail } from '../../shared/operator-protocol.js';
import type { GradientPush, JobAssignment, ShardLeaseGrant } from '../../shared/protocol.js';
import { seededRandom } from '../../shared/seeded-random.js';
import { sizeOf } from '../../shared/tensors.js';
import { createCoordinator, type Coordinator } from '../coordinator.js';
import { SqliteJobStore } from '../store/sqlite-job-store.js';
import { NO_LATE_SLOTS, joinAssigned, leaseShard, ManualClock, settledAfterRoundTrips, startCoordinator, type Running, type TestWorker, localParameters } from '../../test-support/index.js';

const LR = 0.1;
const TOKEN = 'robust-aggregation-test-token';
let run: Running | null = null;
let sockets: TestWorker[] = [];
let extra: Coordinator | null = null;

afterEach(async () => {
  for (const s of sockets) s.disconnect();
  sockets = [];
  await run?.close();
  run = null;
  await extra?.close();
  extra = null;
});

/**
 * Plain SGD and no norm bound: the update is lr × the aggregate, and a scaled push
 * reaches the aggregation. The clock never moves, so no round closes on its deadline.
 */
async function start(spec: JobSpecInput): Promise<Running> {
  run = await startCoordinator({ model: 'mlp', optimizer: { type: 'sgd', learningRate: LR }, normBound: 0, ...spec }, { operatorToken: TOKEN, clock: new ManualClock() });
  return run;
}

/** A worker that joined and leased a shard. */
async function joinWorker(r: Running): Promise<{ w: TestWorker; job: JobAssignment; lease: ShardLeaseGrant }> {
  const joined = await joinAssigned(r.url, sockets, 'vitest-robust');
  return { ...joined, lease: await leaseShard(joined.w, joined.job.jobId) };
}

/** One gradient per tensor, every entry different: honest ones share a direction, each with its own noise. */
function honestGradients(truth: Float32Array[], seed: number): Float32Array[] {
  const rnd = seededRandom(seed);
  return truth.map((t) => t.map((v) => v + (rnd() - 0.5) * 0.02));
}

/** A push on the worker's lease (as many batches as the mode's push carries). */
function pushOf({ job, lease }: { job: JobAssignment; lease: ShardLeaseGrant }, baseVersion: number, grads: Float32Array[]): GradientPush {
  const payload = encodeTensors(job.tensors.map((t, i) => ({ ...t, values: grads[i]! })));
  const batches = job.mode.name === 'local' ? job.mode.localSteps : job.nPush;
  return { jobId: job.jobId, leaseId: lease.leaseId, baseVersion, batches, loss: 2.3, ...payload };
}

/**
 * Coordinate-wise reference: `pick` gets the coordinate's pushed values sorted
 * ascending. The SGD step in float32 arithmetic, as the PS kernels and tfjs do it.
 */
function expectedParams(before: Float32Array[], pushed: Float32Array[][], pick: (sorted: number[]) => number): Float32Array[] {
  return before.map((p, t) =>
    p.map((v, i) => {
      const sorted = pushed.map((g) => g[t]![i]!).sort((a, b) => a - b);
      return Math.fround(v - Math.fround(Math.fround(LR) * Math.fround(pick(sorted))));
    }),
  );
}

const values = (r: Running) => localParameters(r.job).store.tensors.map((t) => t.values);
const copyValues = (r: Running) => localParameters(r.job).store.copyValues();

/** Indices where two parameter sets differ (bit for bit). */
function differing(a: Float32Array[], b: Float32Array[]): number {
  let n = 0;
  for (let t = 0; t < a.length; t++) for (let i = 0; i < a[t]!.length; i++) if (a[t]![i] !== b[t]![i]) n += 1;
  return n;
}

/** A gradient whose every value is `v`. */
const fill = (job: JobAssignment, v: number) => job.tensors.map((t) => new Float32Array(sizeOf(t.shape)).fill(v));

function truthFor(job: JobAssignment): Float32Array[] {
  const rnd = seededRandom(99);
  return job.tensors.map((t) => Float32Array.from({ length: sizeOf(t.shape) }, () => 0.1 + rnd()));
}

describe('sync rounds with a Byzantine worker', () => {
  it('median: a sign-flipped, 100×-scaled gradient among two honest ones is outvoted coordinate by coordinate', async () => {
    const r = await start({ mode: 'sync', aggregation: 'median' });
    const [a, b, c] = [await joinWorker(r), await joinWorker(r), await joinWorker(r)];
    const truth = truthFor(a.job);
    const ga = honestGradients(truth, 1);
    const gb = honestGradients(truth, 2);
    const hostile = ga.map((g) => g.map((v) => -100 * v));
    const before = copyValues(r);
    const acks = await Promise.all([a.w.emitWithAck('grads:push', pushOf(a, 0, ga)), b.w.emitWithAck('grads:push', pushOf(b, 0, gb)), c.w.emitWithAck('grads:push', pushOf(c, 0, hostile))]);
    for (const ack of acks) expect(ack).toEqual({ ok: true, version: 1, staleness: 0 });
    expect(r.job.version).toBe(1);
    const pushed = [ga, gb, hostile];
    expect(differing(values(r), expectedParams(before, pushed, (s) => s[1]!))).toBe(0);
    // The mean of the same round lands elsewhere on almost every coordinate: the check can tell the rules apart.
    const mean = expectedParams(before, pushed, (s) => s.reduce((x, y) => x + y, 0) / s.length);
    expect(differing(values(r), mean)).toBeGreaterThan(r.job.parameters.parameterCount * 0.9);
  });

  it('trimmed mean (trimFraction 0.25, 4 workers: t = 1): a 100×-scaled gradient is trimmed away', async () => {
    const r = await start({ mode: 'sync', aggregation: 'trimmed-mean', trimFraction: 0.25 });
    const workers = [await joinWorker(r), await joinWorker(r), await joinWorker(r), await joinWorker(r)];
    const truth = truthFor(workers[0]!.job);
    const honest = [1, 2, 3].map((seed) => honestGradients(truth, seed));
    const scaled = honest[0]!.map((g) => g.map((v) => 100 * v));
    const pushed = [...honest, scaled];
    const before = copyValues(r);
    const acks = await Promise.all(workers.map((x, k) => x.w.emitWithAck('grads:push', pushOf(x, 0, pushed[k]!))));
    for (const ack of acks) expect(ack).toMatchObject({ ok: true, version: 1 });
    // Drop the lowest and the highest value of each coordinate, average the two left.
    expect(differing(values(r), expectedParams(before, pushed, (s) => (s[1]! + s[2]!) / 2))).toBe(0);
    expect(r.job.parameters.counters().rounds).toBe(1);
  });

  it('multi-krum (5 workers: f = 1): the mean of the four honest gradients, the sign-flipped one left out', async () => {
    const r = await start({ mode: 'sync', aggregation: 'multi-krum', trimFraction: 0.25 });
    const workers = await Promise.all([0, 1, 2, 3, 4].map(() => joinWorker(r)));
    const truth = truthFor(workers[0]!.job);
    const honest = [1, 2, 3, 4].map((seed) => honestGradients(truth, seed));
    const flipped = honestGradients(truth, 5).map((g) => g.map((v) => -v));
    const pushed = [honest[0]!, flipped, ...honest.slice(1)];
    const before = copyValues(r);
    const acks = await Promise.all(workers.map((x, k) => x.w.emitWithAck('grads:push', pushOf(x, 0, pushed[k]!))));
    for (const ack of acks) expect(ack).toMatchObject({ ok: true, version: 1 });
    const honestMean = before.map((p, t) => p.map((v, i) => Math.fround(v - LR * Math.fround(honest.reduce((s, g) => s + g[t]![i]!, 0) / 4))));
    // float32 sums in another order than the reference's: equal to rounding, on every parameter.
    let off = 0;
    for (let t = 0; t < before.length; t++) for (let i = 0; i < before[t]!.length; i++) if (Math.abs(values(r)[t]![i]! - honestMean[t]![i]!) > 1e-6) off += 1;
    expect(off).toBe(0);
    const withFlipped = expectedParams(before, pushed, (s) => s.reduce((x, y) => x + y, 0) / s.length);
    expect(differing(values(r), withFlipped)).toBeGreaterThan(r.job.parameters.parameterCount * 0.9);
  });

  it('rounds of different sizes reuse the kept gradients: a later, smaller round takes only its own pushes', async () => {
    const r = await start({ mode: 'sync', aggregation: 'median' });
    const [a, b, c] = [await joinWorker(r), await joinWorker(r), await joinWorker(r)];
    await Promise.all([a.w.emitWithAck('grads:push', pushOf(a, 0, fill(a.job, 50))), b.w.emitWithAck('grads:push', pushOf(b, 0, fill(b.job, 60))), c.w.emitWithAck('grads:push', pushOf(c, 0, fill(c.job, 70)))]);
    c.w.disconnect();
    const p1 = localParameters(r.job).store.tensors[0]!.values[0]!;
    // Round 2 has two workers: the median of 1 and 3 is 2, whatever round 1 left in its third slot.
    await Promise.all([a.w.emitWithAck('grads:push', pushOf(a, 1, fill(a.job, 1))), b.w.emitWithAck('grads:push', pushOf(b, 1, fill(b.job, 3)))]);
    expect(r.job.version).toBe(2);
    expect(localParameters(r.job).store.tensors[0]!.values[0]).toBe(Math.fround(p1 - LR * 2));
  });
});

describe('sync rounds and the norm bound', () => {
  it('a worker whose push is refused NORM_OUTLIER is not waited for: the round closes with the others, not at its deadline', async () => {
    const r = await start({ mode: 'sync', aggregation: 'median', normBound: 10, roundTimeoutSeconds: 20 });
    const [a, b, c] = [await joinWorker(r), await joinWorker(r), await joinWorker(r)];
    const p0 = localParameters(r.job).store.tensors[0]!.values[0]!;
    const heldA = a.w.emitWithAck('grads:push', pushOf(a, 0, fill(a.job, 1e-3)));
    expect(await c.w.emitWithAck('grads:push', pushOf(c, 0, fill(c.job, 10)))).toMatchObject({ ok: false, code: 'NORM_OUTLIER' });
    const acks = await Promise.all([heldA, b.w.emitWithAck('grads:push', pushOf(b, 0, fill(b.job, 3e-3)))]);
    for (const ack of acks) expect(ack).toEqual({ ok: true, version: 1, staleness: 0 });
    expect(r.job.parameters.counters()).toMatchObject({ rounds: 1, timedOut: 0 });
    expect(r.job.stats.pushesRejected.NORM_OUTLIER).toBe(1);
    expect(localParameters(r.job).store.tensors[0]!.values[0]).toBe(Math.fround(p0 - LR * Math.fround((Math.fround(1e-3) + Math.fround(3e-3)) / 2)));
    // The refused worker is waited for again in the next round.
    const next = [a.w.emitWithAck('grads:push', pushOf(a, 1, fill(a.job, 1e-3))), b.w.emitWithAck('grads:push', pushOf(b, 1, fill(b.job, 1e-3)))];
    expect(await settledAfterRoundTrips(Promise.race(next), a.w, b.w)).toBe(false);
    expect(await c.w.emitWithAck('grads:push', pushOf(c, 1, fill(c.job, 5e-3)))).toMatchObject({ ok: true, version: 2 });
    for (const ack of await Promise.all(next)) expect(ack).toMatchObject({ ok: true, version: 2 });
  });
  it('a worker refused before any push opened the round is not waited for either (pushes from different sockets arrive in any order)', async () => {
    const r = await start({ mode: 'sync', aggregation: 'median', normBound: 10, roundTimeoutSeconds: 20 });
    const [a, b, c] = [await joinWorker(r), await joinWorker(r), await joinWorker(r)];
    expect(await c.w.emitWithAck('grads:push', pushOf(c, 0, fill(c.job, 10)))).toMatchObject({ ok: false, code: 'NORM_OUTLIER' });
    const acks = Promise.all([a.w.emitWithAck('grads:push', pushOf(a, 0, fill(a.job, 1e-3))), b.w.emitWithAck('grads:push', pushOf(b, 0, fill(b.job, 3e-3)))]);
    // On the test's manual clock the deadline never comes: without the excuse the round waits for c for good.
    expect(await settledAfterRoundTrips(acks, a.w, b.w)).toBe(true);
    for (const ack of await acks) expect(ack).toEqual({ ok: true, version: 1, staleness: 0 });
    expect(r.job.parameters.counters()).toMatchObject({ rounds: 1, timedOut: 0 });
  });
});

describe('local mode', () => {
  it('applies the outer Nesterov step to the median delta', async () => {
    const r = await start({ mode: 'local', aggregation: 'median', outerLearningRate: 0.7, outerMomentum: 0.9 });
    const [a, b, c] = [await joinWorker(r), await joinWorker(r), await joinWorker(r)];
    const p0 = localParameters(r.job).store.tensors[0]!.values[0]!;
    await Promise.all([a.w.emitWithAck('grads:push', pushOf(a, 0, fill(a.job, 0.01))), b.w.emitWithAck('grads:push', pushOf(b, 0, fill(b.job, 0.03))), c.w.emitWithAck('grads:push', pushOf(c, 0, fill(c.job, 5)))]);
    // Median delta d = 0.03 (the mean would be 1.68); a1 = d; p1 = p0 − 0.7·(d + 0.9·a1).
    const d = Math.fround(0.03);
    expect(localParameters(r.job).store.tensors[0]!.values[0]).toBeCloseTo(p0 - 0.7 * (d + 0.9 * d), 6);
  });
});

describe('the spec', () => {
  it('is refused when a robust aggregation is asked of an async mode, by the API with a coded error naming the field', async () => {
    const r = await start({ mode: 'sync', aggregation: 'trimmed-mean', trimFraction: 0.2 });
    const res = await fetch(`${r.url}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ spec: { model: 'mlp', mode: 'async', aggregation: 'median' } }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ ok: false, code: 'BAD_REQUEST', message: expect.stringMatching(/^aggregation: median needs .*mode sync or local/) });
    const created = await r.coordinator.createJob({ model: 'mlp', mode: 'staleness-aware', aggregation: 'trimmed-mean' });
    expect(created).toMatchObject({ ok: false, code: 'BAD_REQUEST', message: expect.stringMatching(/^aggregation:/) });
    expect(r.coordinator.jobs.list()).toHaveLength(1);
    // The job detail carries the running job's rule.
    const detail = (await (await fetch(`${r.url}/api/jobs/${r.job.id}`)).json()) as JobDetail;
    expect(detail.spec).toMatchObject({ mode: 'sync', aggregation: 'trimmed-mean', trimFraction: 0.2 });
  });

  it('stored before the field existed is restored with the default aggregation (mean)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'downpour-robust-'));
    const first = await startCoordinator({ model: 'mlp', mode: 'sync' }, { dataDir });
    await first.close();
    // Rewrite the stored spec as an older coordinator wrote it: without aggregation and trimFraction.
    const db = new SqliteJobStore(join(dataDir, 'downpour.sqlite'));
    const [stored] = db.listJobs();
    const { aggregation: _a, trimFraction: _t, ...old } = stored!.spec;
    db.saveJob({ ...stored!, spec: old as typeof stored.spec });
    expect(db.listJobs()[0]!.spec).not.toHaveProperty('aggregation');
    db.close();
    extra = createCoordinator({ dataDir, slots: NO_LATE_SLOTS });
    const [job] = await extra.restore();
    expect(job!.spec).toMatchObject({ mode: 'sync', aggregation: 'mean', trimFraction: 0.25 });
  });
});
