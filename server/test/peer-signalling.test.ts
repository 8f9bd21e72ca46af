/**
 * WebRTC signalling over real sockets (peer:offer, peer:answer, peer:ice): forwarded
 * only between neighbours of one live replica, stage k offering to k + 1 and k + 1
 * answering; a stranger, a stage two away, the wrong direction, a dissolved replica, a
 * malformed or oversized message and a flood are each refused with a code, and nothing
 * of a refused message reaches anyone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import type { JobAssignment } from '../../shared/protocol.js';
import { MAX_CANDIDATE_CHARS, MAX_SDP_CHARS, type PeerCandidateIn, type PeerDescriptionIn } from '../../shared/replica-protocol.js';
import type { CoordinatorOptions } from '../coordinator.js';
import { connectTestWorker, ManualClock, startCoordinator, waitForEvent, type Running, type TestWorker } from '../../test-support/index.js';

let run: Running;
const sockets: TestWorker[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  await run?.close();
});

interface Member {
  w: TestWorker;
  workerId: string;
  staged: Promise<JobAssignment>;
}

async function join(): Promise<Member> {
  const w = await connectTestWorker(run.url);
  sockets.push(w);
  const staged = new Promise<JobAssignment>((resolve) => w.on('job:assign', (a) => a?.replica && resolve(a)));
  const hello = await w.emitWithAck('worker:hello', { userAgent: 'signalling' });
  if (!hello.ok) throw new Error(hello.message);
  return { w, workerId: hello.workerId, staged };
}

/** A replica of the mlp in 3 stages (flatten | dense1 | output) and a fourth worker waiting. */
async function replicaOfThree(options: CoordinatorOptions = {}): Promise<{ a: Member; b: Member; c: Member; d: Member }> {
  run = await startCoordinator({ model: 'mlp', stages: 3 }, options);
  const a = await join();
  const b = await join();
  const c = await join();
  const staged = await Promise.all([a.staged, b.staged, c.staged]);
  expect(staged.map((s) => s.replica!.stage)).toEqual([0, 1, 2]);
  const d = await join();
  expect(run.job.replicas!.waiting).toEqual([d.workerId]);
  return { a, b, c, d };
}

const sdp = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n';
const candidate = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 };

describe('peer:* signalling between the stages of a replica', () => {
  it('goes from stage k to k + 1 (offer), back (answer), and either way between neighbours (ice)', async () => {
    const { a, b, c } = await replicaOfThree();
    const offer = waitForEvent<PeerDescriptionIn>(b.w, 'peer:offer');
    expect(await a.w.emitWithAck('peer:offer', { replicaId: 'r1', to: b.workerId, sdp })).toEqual({ ok: true });
    expect(await offer).toEqual({ replicaId: 'r1', from: a.workerId, sdp });
    const answer = waitForEvent<PeerDescriptionIn>(a.w, 'peer:answer');
    expect(await b.w.emitWithAck('peer:answer', { replicaId: 'r1', to: a.workerId, sdp: sdp + 'a' })).toEqual({ ok: true });
    expect(await answer).toEqual({ replicaId: 'r1', from: b.workerId, sdp: sdp + 'a' });
    for (const [from, to] of [[b, c], [c, b], [b, a]] as const) {
      const ice = waitForEvent<PeerCandidateIn>(to.w, 'peer:ice');
      expect(await from.w.emitWithAck('peer:ice', { replicaId: 'r1', to: to.workerId, candidate })).toEqual({ ok: true });
      expect(await ice).toEqual({ replicaId: 'r1', from: from.workerId, candidate });
    }
  });

  it('refuses a stranger, a stage two away, the wrong direction and a dissolved replica, and forwards none of them', async () => {
    const { a, b, c, d } = await replicaOfThree();
    const seenByC: unknown[] = [];
    const seenByA: unknown[] = [];
    for (const ev of ['peer:offer', 'peer:answer', 'peer:ice'] as const) {
      c.w.on(ev, (m: unknown) => seenByC.push([ev, m]));
      a.w.on(ev, (m: unknown) => seenByA.push([ev, m]));
    }
    // Stage 0 and stage 2 are not neighbours: their frames go through stage 1.
    expect(await a.w.emitWithAck('peer:offer', { replicaId: 'r1', to: c.workerId, sdp })).toMatchObject({ ok: false, code: ErrorCode.NOT_A_PEER });
    expect(await a.w.emitWithAck('peer:ice', { replicaId: 'r1', to: c.workerId, candidate })).toMatchObject({ ok: false, code: ErrorCode.NOT_A_PEER });
    // Stage 1 answers stage 0 and offers to stage 2, never the other way round.
    expect(await b.w.emitWithAck('peer:offer', { replicaId: 'r1', to: a.workerId, sdp })).toMatchObject({ ok: false, code: ErrorCode.NOT_A_PEER });
    expect(await b.w.emitWithAck('peer:answer', { replicaId: 'r1', to: c.workerId, sdp })).toMatchObject({ ok: false, code: ErrorCode.NOT_A_PEER });
    // A worker of the job waiting for a replica, naming a live one and a member of it.
    expect(await d.w.emitWithAck('peer:offer', { replicaId: 'r1', to: a.workerId, sdp })).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
    expect(await d.w.emitWithAck('peer:ice', { replicaId: 'r1', to: b.workerId, candidate })).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
    expect(await b.w.emitWithAck('peer:ice', { replicaId: 'r9', to: c.workerId, candidate })).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
    // A socket that never said hello.
    const stranger = await connectTestWorker(run.url);
    sockets.push(stranger);
    expect(await stranger.emitWithAck('peer:offer', { replicaId: 'r1', to: b.workerId, sdp })).toMatchObject({ ok: false, code: ErrorCode.NOT_REGISTERED });
    // Nothing of the above reached c or a: the next message each gets is a forwarded one, sent after all of them.
    const ice = waitForEvent<PeerCandidateIn>(c.w, 'peer:ice');
    expect(await b.w.emitWithAck('peer:ice', { replicaId: 'r1', to: c.workerId, candidate })).toEqual({ ok: true });
    await ice;
    const toA = waitForEvent<PeerCandidateIn>(a.w, 'peer:ice');
    expect(await b.w.emitWithAck('peer:ice', { replicaId: 'r1', to: a.workerId, candidate })).toEqual({ ok: true });
    await toA;
    expect(seenByC).toEqual([['peer:ice', { replicaId: 'r1', from: b.workerId, candidate }]]);
    expect(seenByA).toEqual([['peer:ice', { replicaId: 'r1', from: b.workerId, candidate }]]);
    // A stage that leaves dissolves the replica: its former neighbours cannot signal in it any more.
    const dissolved = waitForEvent(a.w, 'replica:dissolve');
    c.w.disconnect();
    await dissolved;
    expect(await a.w.emitWithAck('peer:offer', { replicaId: 'r1', to: b.workerId, sdp })).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_REPLICA });
  });

  it('refuses malformed and oversized messages (BAD_REQUEST) and a flood (RATE_LIMITED)', async () => {
    const clock = new ManualClock();
    const { a, b } = await replicaOfThree({ clock, workerGuard: { messagesPerSecond: 10, burst: 20 } });
    const bad = [
      ['peer:offer', { replicaId: 'r1', to: b.workerId, sdp: 'x'.repeat(MAX_SDP_CHARS + 1) }],
      ['peer:offer', { replicaId: 'r1', to: b.workerId, sdp: '' }],
      ['peer:offer', { replicaId: 'r1', to: b.workerId, sdp, type: 'offer' }],
      ['peer:offer', { replicaId: 'r1', to: b.workerId, sdp: 42 }],
      ['peer:ice', { replicaId: 'r1', to: b.workerId, candidate: { ...candidate, candidate: 'c'.repeat(MAX_CANDIDATE_CHARS + 1) } }],
      ['peer:ice', { replicaId: 'r1', to: b.workerId, candidate: { ...candidate, extra: 1 } }],
      ['peer:ice', { replicaId: 'r1', to: b.workerId, candidate: 'candidate:1' }],
      ['peer:answer', { replicaId: 'r1', sdp }],
    ] as const;
    const untyped = a.w as unknown as { emitWithAck(event: string, msg: unknown): Promise<{ ok: boolean; code?: string }> };
    for (const [event, msg] of bad) expect(await untyped.emitWithAck(event, msg), JSON.stringify(msg).slice(0, 80)).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
    // The clock stands still: what is left of the burst (20, less the hello and the refusals above) is served, the rest refused.
    const left = 20 - 1 - bad.length;
    const answers = await Promise.all(Array.from({ length: 30 }, () => a.w.emitWithAck('peer:ice', { replicaId: 'r1', to: b.workerId, candidate })));
    const codes = answers.map((r) => (r.ok ? 'ok' : r.code));
    expect(codes.filter((c) => c === 'ok').length).toBe(left);
    expect(codes.filter((c) => c === ErrorCode.RATE_LIMITED).length).toBe(30 - left);
  });
});
