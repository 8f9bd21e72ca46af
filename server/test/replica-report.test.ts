/**
 * replica:report over real sockets: the figures a stage reports reach the job API (busy
 * fraction, path, bytes per boundary per example), from real stage workers training
 * the mlp in 2 stages on MNIST and from hand-made reports; and every report the
 * coordinator cannot believe is refused with its code.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startStageWorker, type StageWorker } from '../../bench/stage-worker.js';
import { ErrorCode } from '../../shared/errors.js';
import type { JobDetail } from '../../shared/operator-protocol.js';
import type { JobAssignment } from '../../shared/protocol.js';
import type { RelayFrameIn, ReplicaDissolved, ReplicaReport } from '../../shared/replica-protocol.js';
import type { Result } from '../../shared/result.js';
import { connectTestWorker, leave, startCoordinator, waitForEvent, type Running, type TestWorker } from '../../test-support/index.js';

let run: Running | null = null;
const sockets: TestWorker[] = [];
const stageWorkers: StageWorker[] = [];
beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterEach(async () => {
  for (const w of stageWorkers.splice(0)) w.close();
  for (const s of sockets.splice(0)) s.disconnect();
  await run?.close();
  run = null;
});

const detailOf = async (r: Running) => (await (await fetch(`${r.url}/api/jobs/${r.job.id}`)).json()) as JobDetail;

async function join(r: Running) {
  const w = await connectTestWorker(r.url);
  sockets.push(w);
  const staged = new Promise<JobAssignment>((resolve) => w.on('job:assign', (a) => a?.replica && resolve(a)));
  const hello = await w.emitWithAck('worker:hello', { userAgent: 'stage' });
  if (!hello.ok) throw new Error(hello.message);
  return { w, workerId: hello.workerId, staged };
}

const none = { prev: 0, next: 0 };
const report = (over: Partial<ReplicaReport> = {}): ReplicaReport => ({ replicaId: 'r1', path: 'relay', bytesSent: none, bytesReceived: none, busyMs: 5, wallMs: 10, examples: 10, ...over });

describe('replica:report', () => {
  it('from stage workers training the mlp in 2 stages: the job API shows each stage busy, on the relay, ~1 kB per example over the boundary', { timeout: 120_000 }, async () => {
    run = await startCoordinator({ model: 'mlp', stages: 2, microbatches: 4, batchSize: 32 });
    // Each worker's first accepted report after the replica has trained a while.
    let steps = 0;
    const reportedAfter = (minSteps: number) => {
      let resolve = () => {};
      const seen = new Promise<void>((r) => (resolve = r));
      return { seen, reported: (r: Result) => r.ok && steps >= minSteps && resolve() };
    };
    const [ra, rb] = [reportedAfter(20), reportedAfter(20)];
    const pushed = (r: Result, stage: number) => r.ok && stage === 0 && steps++;
    stageWorkers.push(await startStageWorker(run.url, { pushed, reported: ra.reported }), await startStageWorker(run.url, { pushed, reported: rb.reported }));
    await Promise.all([ra.seen, rb.seen]);
    const [replica] = (await detailOf(run)).replicas!.replicas;
    expect(replica).toMatchObject({ replicaId: 'r1', path: 'relay' });
    for (const s of replica!.stages) {
      expect(s.path).toBe('relay');
      expect(s.busyFraction).toBeGreaterThan(0);
      expect(s.busyFraction).toBeLessThanOrEqual(1);
    }
    // 128 fp32 values forward and their gradient back (1,024 B) plus a label and a header per micro-batch; the
    // mini-batch in flight when stage 0 reported has its activations counted but not yet its gradients.
    expect(replica!.boundaries).toHaveLength(1);
    expect(replica!.boundaries[0]!.bytesPerExample).toBeGreaterThan(900);
    expect(replica!.boundaries[0]!.bytesPerExample).toBeLessThan(1100);
    // Each stage's phases came with its reports: stage 0 went forward and back and waited for answers; the last stage computed its loss and backward.
    const job = run.job;
    const phases = stageWorkers.map((w) => job.replicaFigures!.reportOf('r1', w.workerId)!.phases!).sort((x, y) => (y.forward ?? 0) - (x.forward ?? 0));
    expect(phases[0]).toMatchObject({ forward: expect.any(Number), backward: expect.any(Number), 'wait-answer': expect.any(Number) });
    expect(phases[0]!.forward).toBeGreaterThan(0);
    expect(phases[1]!.backward).toBeGreaterThan(0);
    expect(phases[1]!.forward).toBeUndefined();
  });

  it('refuses what the coordinator cannot believe, each with its code, and forgets a dissolved replica', async () => {
    run = await startCoordinator({ model: 'mlp', stages: 2 });
    const a = await join(run);
    const b = await join(run);
    await Promise.all([a.staged, b.staged]);
    const c = await join(run);
    const send = (w: TestWorker, r: unknown) => w.emitWithAck('replica:report', r as ReplicaReport);

    // Not a stage: of no live replica, or not of this one.
    expect(await send(a.w, report({ replicaId: 'r9' }))).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
    expect(await send(c.w, report())).toMatchObject({ ok: false, code: ErrorCode.NOT_A_PEER });
    // Malformed: a negative, a non-finite (NaN travels as null), a path that does not exist, a field missing or unknown.
    for (const bad of [
      report({ busyMs: -1 }),
      { ...report(), wallMs: null },
      { ...report(), path: 'carrier-pigeon' },
      { ...report(), examples: undefined },
      { ...report(), bytesSent: { prev: 0, next: 0, sideways: 1 } },
      { ...report(), extra: 1 },
      { ...report(), phases: { 'wait-answer': 3, daydreaming: 1 } },
      { ...report(), phases: { forward: -1 } },
    ]) {
      expect(await send(a.w, bad), JSON.stringify(bad)).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
    }
    // Not sane: busier than the wall clock; bytes with a neighbour stage 0 does not have.
    expect(await send(a.w, report({ busyMs: 11, wallMs: 10 }))).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST, message: expect.stringContaining('wall') });
    expect(await send(a.w, report({ bytesReceived: { prev: 1, next: 0 } }))).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST, message: expect.stringContaining('no prev') });

    // The relay forwarded 100 bytes from a to b: neither may claim more on the relay path.
    const got = waitForEvent<RelayFrameIn>(b.w, 'relay:frame');
    expect(await a.w.emitWithAck('relay:frame', { replicaId: 'r1', to: b.workerId, frame: new Uint8Array(100) })).toEqual({ ok: true });
    await got;
    expect(await send(a.w, report({ bytesSent: { prev: 0, next: 101 } }))).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST, message: expect.stringContaining('forwarded 100') });
    expect(await send(b.w, report({ bytesReceived: { prev: 101, next: 0 } }))).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
    expect(await send(b.w, report({ bytesSent: { prev: 1, next: 0 } }))).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
    // Over WebRTC the coordinator sees no bytes, so it cannot bound them.
    expect(await send(b.w, report({ path: 'webrtc', bytesReceived: { prev: 5000, next: 0 } }))).toEqual({ ok: true });
    expect(await send(a.w, report({ bytesSent: { prev: 0, next: 100 } }))).toEqual({ ok: true });
    // Cumulative: a figure may not go down.
    expect(await send(a.w, report({ bytesSent: { prev: 0, next: 100 }, busyMs: 4 }))).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST, message: expect.stringContaining('cumulative') });

    // The accepted reports, as the operator sees them.
    const [replica] = (await detailOf(run)).replicas!.replicas;
    expect(replica).toMatchObject({ path: 'relay', boundaries: [{ bytesPerExample: 10 }] });
    expect(replica!.stages.map((s) => [s.busyFraction, s.path])).toEqual([
      [0.5, 'relay'],
      [0.5, 'webrtc'],
    ]);

    // Dissolved: its reports are refused and its figures gone.
    const dissolved = waitForEvent<ReplicaDissolved>(a.w, 'replica:dissolve');
    await leave(run.coordinator, b.w);
    await dissolved;
    expect(await send(a.w, report({ bytesSent: { prev: 0, next: 100 } }))).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
    const after = await detailOf(run);
    expect(after.replicas!.replicas.every((r) => r.stages.every((s) => s.busyFraction === null))).toBe(true);
  });

  it('a data-parallel job has no replica to report on', async () => {
    run = await startCoordinator({ model: 'mlp' });
    const w = await connectTestWorker(run.url);
    sockets.push(w);
    expect(await w.emitWithAck('replica:report', report())).toMatchObject({ ok: false, code: ErrorCode.NOT_REGISTERED });
    await w.emitWithAck('worker:hello', { userAgent: 'dp' });
    expect(await w.emitWithAck('replica:report', report())).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
    expect((await detailOf(run)).replicas).toBeNull();
  });
});
