/**
 * Raw TCP against the coordinator and a ps task process, below socket.io: seeded garbage
 * bytes, HTTP upgrades that never complete, websocket frames announcing a huge length
 * or breaking the framing after a real handshake, and many half-open sockets, all at
 * once. Each server stays up, closes every connection whose bytes are not HTTP or
 * whose frame is over its cap or malformed, closes the half-open and stalled ones once
 * they have been silent for its idle bound (here IDLE_MS; before, they were held for
 * ever), and meanwhile an honest worker trains through it (pulls and pushes answered),
 * its websocket outliving the idle bound. The bound is real time: it is the kernel's
 * socket, not a timer on the coordinator's clock.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { seededRandom } from '../../shared/seeded-random.js';
import { sizeOf } from '../../shared/tensors.js';
import { connectPsWorker, jobCreateMessage, connectChief } from '../../test-support/ps-clients.js';
import { MLP } from '../../test-support/ps-fixture.js';
import { forkPsTask, type PsTaskProcess } from '../../test-support/ps-process.js';
import { connectTestWorker, LeasedPusher, startCoordinator, type Running } from '../../test-support/index.js';
import { chiefCredential } from '../cluster/chief-fence.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { signTicket } from '../cluster/tickets.js';

const TOKEN = 'fuzz-raw-tcp-cluster-token-0123456789abcdef';
const keys = deriveClusterKeys(TOKEN);
const HALF_OPEN = 300;
/** The servers' idle-socket bound in this test (70 s by default). */
const IDLE_MS = 1500;

/** A raw connection to `port`, with when the server closed it (null: still open). */
interface Raw {
  socket: Socket;
  closed: Promise<void>;
  received: Buffer[];
}

function raw(port: number): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (d) => received.push(d));
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    // A reset by the server is one way of closing: not an error of the test.
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, closed, received }));
    socket.once('error', reject);
  });
}

/** Resolves true when the server closes `r` within `ms`. */
async function closedWithin(r: Raw, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const closed = await Promise.race([r.closed.then(() => true), timeout]);
  clearTimeout(timer);
  return closed;
}

const UPGRADE = (port: number) =>
  `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n`;

/** A websocket opened by hand: the handshake's 101 received, engine.io's open packet with it or after. */
async function handshaken(port: number): Promise<Raw> {
  const r = await raw(port);
  r.socket.write(UPGRADE(port) + '\r\n');
  for (let i = 0; i < 50 && !Buffer.concat(r.received).toString('latin1').includes('\r\n\r\n'); i++) await new Promise((s) => r.socket.once('data', s));
  expect(Buffer.concat(r.received).toString('latin1')).toMatch(/^HTTP\/1\.1 101/);
  return r;
}

/** A masked client frame header announcing `length` payload bytes (64-bit length field). */
function hugeFrameHeader(length: bigint): Buffer {
  const b = Buffer.alloc(14);
  b[0] = 0x82; // FIN, binary
  b[1] = 0x80 | 127; // masked, 64-bit length follows
  b.writeBigUInt64BE(length, 2);
  randomBytes(4).copy(b, 10);
  return b;
}

/**
 * The attack on one server at `port`, while `honest` (an honest client's work) runs:
 * answers how many of each kind of hostile connection the server closed.
 */
async function attack(port: number, honest: () => Promise<number>) {
  const rand = seededRandom(port);
  const halfOpen = await Promise.all(Array.from({ length: HALF_OPEN }, () => raw(port)));
  const stalled = await Promise.all(
    Array.from({ length: 50 }, async () => {
      const r = await raw(port);
      r.socket.write(UPGRADE(port)); // never the blank line that ends the headers
      return r;
    }),
  );
  const garbage = await Promise.all(
    Array.from({ length: 50 }, async () => {
      const r = await raw(port);
      r.socket.write(Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 4096) }, () => Math.floor(rand() * 256))));
      return r;
    }),
  );
  const huge = await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      const r = await handshaken(port);
      r.socket.write(hugeFrameHeader(i % 2 ? 2n ** 62n : 2n ** 31n));
      return r;
    }),
  );
  const badFrames = await Promise.all(
    Array.from({ length: 20 }, async () => {
      const r = await handshaken(port);
      // Reserved bits and opcodes, unmasked: a protocol error.
      r.socket.write(Buffer.from([0x70 | Math.floor(rand() * 16), Math.floor(rand() * 126), ...Array.from({ length: 64 }, () => Math.floor(rand() * 256))]));
      return r;
    }),
  );
  const trained = await honest();
  const closed = async (rs: Raw[]) => (await Promise.all(rs.map((r) => closedWithin(r, 10_000)))).filter(Boolean).length;
  const result = {
    trained,
    garbage: await closed(garbage),
    huge: await closed(huge),
    badFrames: await closed(badFrames),
    halfOpen: await closed(halfOpen),
    stalled: await closed(stalled),
  };
  for (const r of [...halfOpen, ...stalled, ...garbage, ...huge, ...badFrames]) r.socket.destroy();
  return result;
}

describe('raw TCP', () => {
  let run: Running;
  let root: string;
  let task: PsTaskProcess;
  beforeAll(async () => {
    run = await startCoordinator({ model: 'mlp' }, { idleSocketMs: IDLE_MS });
    root = mkdtempSync(join(tmpdir(), 'downpour-raw-tcp-'));
    writeFileSync(join(root, 'token'), TOKEN);
    task = await forkPsTask(join(root, 'data'), join(root, 'token'), 0, ['--idle-socket-ms', String(IDLE_MS)]);
  }, 90_000);
  afterAll(async () => {
    await run?.close();
    await task?.kill();
    rmSync(root, { recursive: true, force: true });
  });

  it('the coordinator closes garbage, bad frames and half-open sockets once silent, and an honest worker trains meanwhile', async () => {
    const port = Number(new URL(run.url).port);
    const versionBefore = run.job.version;
    const r = await attack(port, async () => {
      const w = await connectTestWorker(run.url);
      const hello = await w.emitWithAck('worker:hello', { userAgent: 'honest' });
      if (!hello.ok || !hello.job) throw new Error('no job');
      const pusher = new LeasedPusher(w, hello.job.jobId);
      let accepted = 0;
      for (let i = 0; i < 5; i++) {
        const snap = await w.emitWithAck('params:pull', { jobId: hello.job.jobId });
        if (!snap.ok) continue;
        const g = encodeTensors(hello.job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-4) })));
        if ((await pusher.push({ baseVersion: snap.version, loss: 1, ...g })).ok) accepted++;
      }
      // Its websocket outlives the idle bound: ws cleared the socket's timeout, engine.io pings it.
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS * 2));
      const still = await w.emitWithAck('params:pull', { jobId: hello.job.jobId });
      w.disconnect();
      return still.ok ? accepted : -1;
    });
    expect(r).toEqual({ trained: 5, garbage: 50, huge: 20, badFrames: 20, halfOpen: HALF_OPEN, stalled: 50 });
    expect(run.job.version).toBe(versionBefore + 5);
    expect((await (await fetch(run.url + '/api/health')).json()).ok).toBe(true);
  }, 120_000);

  it('a ps task closes garbage, bad frames and half-open sockets once silent, and an honest worker pushes meanwhile', async () => {
    const chief = await connectChief(task.url);
    const created = await chief.emitWithAck('job:create', { ...jobCreateMessage(keys, 1, { jobId: 'job-1', task: 0, slices: MLP, initial: MLP.map((s) => new Float32Array(sizeOf(s.shape))) }) });
    expect(created).toEqual({ ok: true, version: 0 });
    const ticket = signTicket(keys, { worker: 'w-honest', job: 'job-1', task: 0, expires: Date.now() + 3_600_000 });
    const r = await attack(Number(new URL(task.url).port), async () => {
      const w = await connectPsWorker(task.url);
      let accepted = 0;
      for (let i = 0; i < 5; i++) {
        const pulled = await w.emitWithAck('params:pull', { ticket, jobId: 'job-1' });
        if (!pulled.ok) continue;
        const g = encodeTensors(MLP.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-4) })));
        if ((await w.emitWithAck('grads:push', { ticket, jobId: 'job-1', baseVersion: pulled.version, ...g })).ok) accepted++;
      }
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS * 2));
      const still = await w.emitWithAck('params:pull', { ticket, jobId: 'job-1' });
      w.disconnect();
      return still.ok ? accepted : -1;
    });
    expect(r).toEqual({ trained: 5, garbage: 50, huge: 20, badFrames: 20, halfOpen: HALF_OPEN, stalled: 50 });
    const status = await chief.emitWithAck('task:status', { chief: chiefCredential(keys, 1, 'task:status') });
    expect(status).toMatchObject({ ok: true, jobs: [{ jobId: 'job-1', version: 5 }] });
    expect(task.child.exitCode).toBeNull();
    chief.disconnect();
  }, 120_000);
});
