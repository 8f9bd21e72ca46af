/**
 * A stage whose part of a replica step is refused counts the fault against itself, not
 * against stage 0 (whose lease the step is settled through): over real sockets, an honest
 * stage 0 and a stage 1 that pushes another stage's tensors every step. After three
 * refused steps stage 1 is barred, its replica dissolves and it is placed in no new
 * replica while barred; stage 0 is not barred, joins the next replica and leases in it.
 * Once the bar ends (the job's clock), the barred stage is placed again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { JobAssignment } from '../../shared/protocol.js';
import type { ReplicaDissolved } from '../../shared/replica-protocol.js';
import { MAX_FAULTS_IN_A_ROW } from '../jobs/push-accounting.js';
import { connectTestWorker, ManualClock, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';

let run: Running | null = null;
const sockets: TestWorker[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  await run?.close();
  run = null;
});

interface Stage {
  w: TestWorker;
  id: string;
  /** Its latest stage assignment. */
  next: () => Promise<JobAssignment>;
  dissolved: ReplicaDissolved[];
}

async function stage(r: Running): Promise<Stage> {
  const w = await connectTestWorker(r.url);
  sockets.push(w);
  const assigned: JobAssignment[] = [];
  const waiting: ((a: JobAssignment) => void)[] = [];
  w.on('job:assign', (a) => {
    if (!a?.replica) return;
    const take = waiting.shift();
    if (take) take(a);
    else assigned.push(a);
  });
  const dissolved: ReplicaDissolved[] = [];
  w.on('replica:dissolve', (d) => dissolved.push(d));
  await w.emitWithAck('worker:hello', { userAgent: 'stage' });
  const id = r.coordinator.workers.list().find((x) => x.socketId === w.id)!.id;
  const next = () => (assigned.length ? Promise.resolve(assigned.shift()!) : new Promise<JobAssignment>((resolve) => waiting.push(resolve)));
  return { w, id, next, dissolved };
}

/** A gradient of zeros over `names`, as a stage pushes its part. */
function partOf(job: JobAssignment, names: readonly string[]) {
  const specs = job.tensors.filter((t) => names.includes(t.name));
  return encodeTensors(specs.map((s) => ({ ...s, values: new Float32Array(s.shape.reduce((a, b) => a * b, 1)) })));
}

describe('a stage part refused', () => {
  it(`counts against its own stage: after ${MAX_FAULTS_IN_A_ROW} the stage is barred and placed in no replica, the honest stage 0 is not barred`, async () => {
    const clock = new ManualClock();
    run = await startCoordinator({ model: 'mlp', stages: 2, normBound: 0 }, { clock });
    const r = run;
    const a = await stage(r);
    const b = await stage(r);
    const [ja, jb] = await Promise.all([a.next(), b.next()]);
    const [honest, hostile] = ja.replica!.stage === 0 ? [{ s: a, j: ja }, { s: b, j: jb }] : [{ s: b, j: jb }, { s: a, j: ja }];
    const jobId = ja.jobId;
    const lease = await honest.s.w.emitWithAck('shard:lease', { jobId });
    if (!lease.ok || !lease.lease) throw new Error('no lease');
    for (let step = 0; step < MAX_FAULTS_IN_A_ROW; step++) {
      const good = honest.s.w.emitWithAck('grads:push', { jobId, leaseId: lease.lease.leaseId, baseVersion: 0, batches: 1, loss: null, replicaStep: step, ...partOf(honest.j, honest.j.replica!.tensors) });
      // Stage 0's tensors in stage 1's part: its layout check refuses the step.
      const bad = await hostile.s.w.emitWithAck('grads:push', { jobId, leaseId: hostile.j.replica!.replicaId, baseVersion: 0, batches: 1, loss: 2.3, replicaStep: step, ...partOf(hostile.j, honest.j.replica!.tensors) });
      expect(bad).toMatchObject({ ok: false, code: ErrorCode.TENSOR_MISMATCH, message: expect.stringMatching(/^Stage 1 of replica r1/) });
      expect(await good).toEqual(bad);
    }
    // The third refusal barred stage 1: r1 dissolved, both told; stage 1 waits, passed over.
    expect(r.job.replicas!.list()).toEqual([]);
    expect(honest.s.dissolved).toEqual([{ replicaId: 'r1', reason: expect.stringMatching(/^a stage was barred/) }]);
    expect(r.job.replicas!.waiting).toEqual(expect.arrayContaining([honest.s.id, hostile.s.id]));
    const c = await stage(r);
    const [jh, jc] = await Promise.all([honest.s.next(), c.next()]);
    const r2 = r.job.replicas!.list();
    expect(r2.map((x) => x.id)).toEqual(['r2']);
    expect([...r2[0]!.members].sort()).toEqual([honest.s.id, c.id].sort());
    expect(r.job.replicas!.waiting).toEqual([hostile.s.id]);
    // The honest stage was not barred: in r2 it leases (as stage 0) or is told it is not stage 0, never WORKER_BARRED.
    const [first] = jh.replica!.stage === 0 ? [honest.s] : [c];
    expect(jc.replica!.stage + jh.replica!.stage).toBe(1);
    const leased = await honest.s.w.emitWithAck('shard:lease', { jobId });
    expect(leased).toMatchObject(first === honest.s ? { ok: true } : { ok: false, code: ErrorCode.NOT_A_PEER });
    // Once its bar (a lease period) is over, the barred stage is placed again: r2 is full, so with a fourth worker.
    const d = await stage(r);
    expect(r.job.replicas!.waiting).toEqual([hostile.s.id, d.id]);
    clock.advance(r.job.spec.leaseSeconds * 1000 + 1000);
    const [jd] = await Promise.all([d.next(), hostile.s.next()]);
    expect(jd.replica!.replicaId).toBe('r3');
    expect(r.job.replicas!.waiting).toEqual([]);
  });
});
