/**
 * A peer that stops reading what it is sent (its TCP socket paused, as a client that
 * answers pings blindly and reads nothing would) is disconnected once the coordinator
 * holds more than `maxUnreadBytes` for it (a worker asking for pulls it never reads), and a
 * stage's neighbour has its frames dropped once two of the largest wait unread for it.
 * Before, every answer and every frame was kept in the coordinator's memory for it (the
 * rate limit bounds messages, not bytes).
 * Real coordinator on port 0, socket.io clients in this process.
 */
import type { Socket as NetSocket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { JobAssignment } from '../../shared/protocol.js';
import { RELAY_UNREAD_BYTES } from '../worker/replica-neighbour.js';
import { connectTestWorker, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';

const BOUND = 2 * 1024 * 1024;

let run: Running | null = null;
const sockets: TestWorker[] = [];
const paused: NetSocket[] = [];
afterEach(async () => {
  // A paused socket would hold the server's close for its websocket's closing handshake.
  for (const p of paused.splice(0)) p.destroy();
  for (const s of sockets.splice(0)) s.disconnect();
  await run?.close();
  run = null;
});

/** A worker that said hello; its stage (when one forms) by job:assign. */
async function hello(url: string): Promise<{ w: TestWorker; workerId: string; staged: Promise<JobAssignment> }> {
  const w = await connectTestWorker(url);
  sockets.push(w);
  const staged = new Promise<JobAssignment>((resolve) => w.on('job:assign', (a) => a?.replica && resolve(a)));
  const h = await w.emitWithAck('worker:hello', { userAgent: 'unread' });
  if (!h.ok) throw new Error(h.message);
  return { w, workerId: h.workerId, staged };
}

/** Stops reading the worker's TCP socket: what the coordinator sends it stays unread. */
function stopReading(w: TestWorker): void {
  const transport = w.io.engine.transport as unknown as { ws: { _socket: NetSocket } };
  transport.ws._socket.pause();
  paused.push(transport.ws._socket);
}

describe('a peer that does not read', () => {
  it('is disconnected once more than its bound is held for it; an honest worker beside it pulls on', async () => {
    run = await startCoordinator({ model: 'mlp' }, { workerGuard: { maxUnreadBytes: BOUND } });
    const jobId = run.job.id;
    const honest = await hello(run.url);
    const reader = await hello(run.url);
    stopReading(reader.w);
    // ~400 kB each: the kernel's buffers take some megabytes, the coordinator the rest.
    for (let i = 0; i < 120; i++) reader.w.emit('params:pull', { jobId }, () => {});
    await vi.waitFor(() => expect(run!.job.workers.has(reader.workerId)).toBe(false), { timeout: 20_000, interval: 50 });
    expect(run.job.workers.has(honest.workerId)).toBe(true);
    expect(await honest.w.emitWithAck('params:pull', { jobId })).toMatchObject({ ok: true });
  });

  it("as a stage, is sent no more of its neighbour's frames once two of the largest wait unread for it: they are dropped BUSY, and it is not cut off", async () => {
    run = await startCoordinator({ model: 'mlp', stages: 2 });
    const a = await hello(run.url);
    const b = await hello(run.url);
    const [ja] = await Promise.all([a.staged, b.staged]);
    const replicaId = ja.replica!.replicaId;
    stopReading(b.w);
    const frame = new Uint8Array(1024 * 1024);
    const answers: { ok: boolean; code?: string }[] = [];
    for (let i = 0; i < 80 && answers.every((r) => r.ok); i++) answers.push(await a.w.emitWithAck('relay:frame', { replicaId, to: b.workerId, frame }));
    // Before, every frame was kept for it (and a first fix cut the receiver off, which a hostile sender could use on an honest one).
    expect(answers.at(-1)).toMatchObject({ ok: false, code: 'BUSY' });
    expect(answers.length).toBeGreaterThan(RELAY_UNREAD_BYTES / frame.byteLength);
    expect(run.job.workers.has(b.workerId)).toBe(true);
    expect(run.job.replicas!.get(replicaId)).toBeDefined();
  });
});
