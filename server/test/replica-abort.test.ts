/**
 * The abort frame (docs/model-parallelism.md, "Loose ends"): a stage that refuses its
 * neighbour's frame sends it an abort by the relay, the coordinator dissolves the
 * replica on it, and the stage stays connected and joins the next replica (it used to
 * stop, or leave, which dissolved the replica only by its departure). Real coordinator on
 * port 0, raw socket.io clients, and a real StageRunner in an in-process stage worker.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { abortFrame, isAbortFrame } from '../../shared/activation-frame.js';
import { asBytes } from '../../shared/codec.js';
import type { JobAssignment } from '../../shared/protocol.js';
import type { RelayFrameIn, ReplicaDissolved } from '../../shared/replica-protocol.js';
import { connectTestWorker, settledAfterRoundTrips, startCoordinator, waitForEvent, type Running, type TestWorker } from '../../test-support/index.js';
import { startStageWorker, type StageWorker } from '../../bench/stage-worker.js';

let run: Running;
const sockets: TestWorker[] = [];
const stageWorkers: StageWorker[] = [];
beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  for (const w of stageWorkers.splice(0)) w.close();
  await run?.close();
});

/** A raw worker that said hello; its stage (when one forms) by job:assign. */
async function join(): Promise<{ w: TestWorker; workerId: string; staged: Promise<JobAssignment> }> {
  const w = await connectTestWorker(run.url);
  sockets.push(w);
  const staged = new Promise<JobAssignment>((resolve) => w.on('job:assign', (a) => a?.replica && resolve(a)));
  const hello = await w.emitWithAck('worker:hello', { userAgent: 'stage' });
  if (!hello.ok) throw new Error('hello refused');
  return { w, workerId: hello.workerId, staged };
}

describe('an aborted step', () => {
  it('an abort frame through the relay reaches the neighbour and dissolves the replica; its stages form the next one', async () => {
    run = await startCoordinator({ model: 'mlp', stages: 2 });
    const a = await join();
    const b = await join();
    await Promise.all([a.staged, b.staged]);
    const c = await join();
    // A frame shaped like an abort but longer is not one: forwarded as bytes, nothing dissolved.
    const notAbort = new Uint8Array(abortFrame(0, 'fp32').byteLength + 4);
    notAbort.set(abortFrame(0, 'fp32'));
    const forwarded = waitForEvent<RelayFrameIn>(b.w, 'relay:frame');
    expect(await a.w.emitWithAck('relay:frame', { replicaId: 'r1', to: b.workerId, frame: notAbort })).toEqual({ ok: true });
    await forwarded;
    expect(run.job.replicas!.get('r1')).toBeDefined();

    const aborted = waitForEvent<RelayFrameIn>(a.w, 'relay:frame');
    const dissolvedA = waitForEvent<ReplicaDissolved>(a.w, 'replica:dissolve');
    const dissolvedB = waitForEvent<ReplicaDissolved>(b.w, 'replica:dissolve');
    const r2 = new Promise<JobAssignment>((resolve) => c.w.on('job:assign', (j) => j?.replica?.replicaId === 'r2' && resolve(j)));
    expect(await b.w.emitWithAck('relay:frame', { replicaId: 'r1', to: a.workerId, frame: abortFrame(3, 'fp32') })).toEqual({ ok: true });
    const reason = 'stage 1 aborted the step: a bad frame from stage 0';
    expect(await dissolvedA).toEqual({ replicaId: 'r1', reason });
    expect(await dissolvedB).toEqual({ replicaId: 'r1', reason });
    // The abort reached the neighbour as it was sent; nothing more goes through r1.
    const got = await aborted;
    expect([got.from, isAbortFrame(asBytes(got.frame))]).toEqual([b.workerId, true]);
    expect(await a.w.emitWithAck('relay:frame', { replicaId: 'r1', to: b.workerId, frame: abortFrame(3, 'fp32') })).toMatchObject({ ok: false, code: 'UNKNOWN_REPLICA' });
    expect(run.job.replicas!.get('r1')).toBeUndefined();
    // Both stayed: c forms r2 with one of them, the other waits.
    expect((await r2).replica!.replicaId).toBe('r2');
    expect(run.job.replicas!.list()[0]!.members).toContain(c.workerId);
    expect(run.job.replicas!.waiting).toHaveLength(1);
  });

  it("a stage that gets a bad frame aborts by the relay and stays; the coordinator dissolves the replica, keeps the two apart, and the stage joins the next", { timeout: 60_000 }, async () => {
    run = await startCoordinator({ model: 'mlp', stages: 2 });
    const a = await join();
    const unstaged: string[] = [];
    let inR2 = () => {};
    const stagedInR2 = new Promise<void>((r) => (inR2 = r));
    const s = await startStageWorker(run.url, { unstaged: (why) => unstaged.push(why), staged: (j) => j.replica!.replicaId === 'r2' && inR2() });
    stageWorkers.push(s);
    expect((await a.staged).replica).toMatchObject({ replicaId: 'r1', stage: 0, next: s.workerId });
    // Stage 0 sends stage 1 bytes that are no frame.
    const back = waitForEvent<RelayFrameIn>(a.w, 'relay:frame', 20_000);
    const dissolved = waitForEvent<ReplicaDissolved>(a.w, 'replica:dissolve', 20_000);
    await a.w.emitWithAck('relay:frame', { replicaId: 'r1', to: s.workerId, frame: new TextEncoder().encode('not a frame at all, but long enough for a header') });
    const abort = await back;
    expect(abort.from).toBe(s.workerId);
    expect(isAbortFrame(asBytes(abort.frame))).toBe(true);
    expect(await dissolved).toEqual({ replicaId: 'r1', reason: 'stage 1 aborted the step: a bad frame from stage 0' });
    // The two are kept apart: both wait, and no r2 is formed of them to be aborted again
    // (before, an aborting stage held its partner in a loop of replicas formed and aborted, at no one's cost).
    await settledAfterRoundTrips(Promise.resolve(), a.w, s.socket);
    expect(run.job.replicas!.list()).toEqual([]);
    expect([...run.job.replicas!.waiting].sort()).toEqual([a.workerId, s.workerId].sort());
    // The stage worker did not leave: once the sender of bad frames has gone, it forms r2 with a newcomer.
    a.w.disconnect();
    const c = await join();
    await stagedInR2;
    expect(s.socket.connected).toBe(true);
    expect(unstaged[0]).toBe('replica r1 dissolved: stage 1 aborted the step: a bad frame from stage 0');
    expect(run.job.replicas!.list().map((r) => r.members)).toEqual([expect.arrayContaining([c.workerId, s.workerId])]);
    expect(run.job.replicas!.waiting).toEqual([]);
  });
});
