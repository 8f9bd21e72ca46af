/**
 * Push slots on ps tasks: a real coordinator keeping the mlp on two real ps tasks
 * (port 0, each with its own PushSlots on a stepped ManualClock and a window of one
 * grant), real socket.io workers with the chief's tickets. Under load a task refuses a
 * slot BUSY before any payload is sent; a told worker's payload without a grant is
 * refused BUSY and changes nothing on the task; granted pushes apply. The worker's
 * PsTransport asks each task for its own slot when that task's answers say so, waits
 * out a task's BUSY at that task, and the chief credits the push once every task took
 * its slices.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PsTransport } from '../../client/engine/ps-transport.js';
import { decodeTensors, encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { CheckedRoute } from '../../shared/ps-route.js';
import type { JobAssignment } from '../../shared/protocol.js';
import { sizeOf } from '../../shared/tensors.js';
import { connectTestWorker, leaseShard, ManualClock, startCoordinator, type Running, type TestWorker } from '../../test-support/index.js';
import { connectPsWorker, routeOf, startPsTask, type PsWorkerClient, type RunningPsTask } from '../../test-support/ps-clients.js';

const TOKEN = 'ps-push-slots-test-cluster-token-0123456789';
const HOLD_MS = 5000;

// Tickets carry the chief's wall-clock expiry: the tasks' stepped clocks start at the same time.
const clock = new ManualClock(Date.now());
let tasks: RunningPsTask[] = [];
let run: Running;
const sockets: { disconnect(): unknown }[] = [];
const transports: PsTransport[] = [];

beforeAll(async () => {
  const options = { token: TOKEN, clock, slots: { window: 1, maxWindow: 1, holdMs: HOLD_MS } };
  tasks = [await startPsTask(options), await startPsTask(options)];
  run = await startCoordinator(
    { name: 'push slots on ps tasks', model: 'mlp', normBound: 0, maxStaleness: 100, optimizer: { type: 'sgd', learningRate: 0.1 } },
    { cluster: { endpoints: tasks.map((t) => t.url), token: TOKEN } },
  );
});
afterAll(async () => {
  transports.forEach((t) => t.dispose());
  sockets.forEach((s) => s.disconnect());
  await run?.close();
  await Promise.all(tasks.map((t) => t.close()));
});

interface PsWorker {
  job: JobAssignment;
  route: CheckedRoute;
  worker: TestWorker;
  /** This worker's socket to each task, with its ticket. */
  task: { socket: PsWorkerClient; ticket: string }[];
}

async function psWorker(): Promise<PsWorker> {
  const worker = await connectTestWorker(run.url);
  sockets.push(worker);
  const hello = await worker.emitWithAck('worker:hello', { userAgent: 'vitest-ps-slots' });
  if (!hello.ok || !hello.job) throw new Error('no job');
  const route = routeOf(hello.job);
  const task = await Promise.all(
    route.tasks.map(async (t) => {
      const socket = await connectPsWorker(t.url);
      sockets.push(socket);
      return { socket, ticket: t.ticket };
    }),
  );
  return { job: hello.job, route, worker, task };
}

/** The mlp's placement puts its 401 kB kernel on one task and the few kB left on the other: the large task is where slots matter. */
function largeTask(route: CheckedRoute): number {
  const bytes = route.placement.byTask.map((_, t) => route.placement.specsOf(t).reduce((n, s) => n + sizeOf(s.shape) * 4, 0));
  return bytes.indexOf(Math.max(...bytes));
}

/** `t`'s slices of a gradient, every value `fill`, on that task's version `baseVersion`; with `slot` if granted. */
function slicePush(w: PsWorker, t: number, baseVersion: number, fill: number, slot?: string) {
  const payload = encodeTensors(w.route.placement.specsOf(t).map((s) => ({ ...s, values: new Float32Array(sizeOf(s.shape)).fill(fill) })));
  return { ticket: w.task[t]!.ticket, jobId: w.job.jobId, baseVersion, ...payload, ...(slot ? { slot } : {}) };
}

const BYTES = 401_408;
const ask = (w: PsWorker, t: number) => w.task[t]!.socket.emitWithAck('grads:slot', { ticket: w.task[t]!.ticket, jobId: w.job.jobId, bytes: BYTES });

/** What task `t` holds of the job, as a worker pulls it: its version and its values' bits. */
async function taskState(w: PsWorker, t: number): Promise<{ version: number; bits: string[] }> {
  const r = await w.task[t]!.socket.emitWithAck('params:pull', { ticket: w.task[t]!.ticket, jobId: w.job.jobId });
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  const values = decodeTensors(r as typeof r & { manifest: { codec: 'fp32' } }, w.route.placement.specsOf(t));
  return { version: r.version, bits: values.map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')) };
}

describe('push slots on a ps task', () => {
  it("refuses a slot BUSY once the task's window is full; a told worker's payload without a grant is refused BUSY and changes nothing; granted pushes apply", async () => {
    const [a, b] = [await psWorker(), await psWorker()];
    const big = largeTask(a.route);
    const small = 1 - big;
    const before = await taskState(a, big);

    const g = await ask(a, big);
    if (!g.ok) throw new Error(`no slot: ${g.code}`);
    expect(await ask(b, big)).toMatchObject({ ok: false, code: ErrorCode.BUSY, retryAfterMs: expect.any(Number), slots: true });

    // b was told (it asked): its payload without a grant is refused before the task's state is touched.
    expect(await b.task[big]!.socket.emitWithAck('grads:push', slicePush(b, big, before.version, 1))).toMatchObject({ ok: false, code: ErrorCode.BUSY, slots: true });
    expect(await taskState(a, big)).toEqual(before);
    expect(tasks[big]!.task.slots.counts()).toMatchObject({ outstanding: 1, refused: 1, ungranted: 1, required: true });

    // Another socket's grant is not b's.
    expect(await b.task[big]!.socket.emitWithAck('grads:push', slicePush(b, big, before.version, 1, g.slot))).toMatchObject({ ok: false, code: ErrorCode.BUSY });
    expect((await taskState(a, big)).version).toBe(before.version);

    // a's granted push applies, and its answer says the next one needs a slot too.
    expect(await a.task[big]!.socket.emitWithAck('grads:push', slicePush(a, big, before.version, 1, g.slot))).toEqual({ ok: true, version: before.version + 1, staleness: 0, receipt: expect.any(String), slots: true });
    // b's same push with a grant of its own applies.
    const gb = await ask(b, big);
    if (!gb.ok) throw new Error(`no slot: ${gb.code}`);
    expect(await b.task[big]!.socket.emitWithAck('grads:push', slicePush(b, big, before.version, 1, gb.slot))).toMatchObject({ ok: true, version: before.version + 2, staleness: 1 });
    const after = await taskState(a, big);
    expect(after.version).toBe(before.version + 2);
    expect(after.bits).not.toEqual(before.bits);

    // The other task's slices are a few kB: they never need a slot there.
    const smallBefore = await taskState(b, small);
    expect(await b.task[small]!.socket.emitWithAck('grads:push', slicePush(b, small, smallBefore.version, 1))).toMatchObject({ ok: true, version: smallBefore.version + 1 });
    expect(tasks[small]!.task.slots.counts()).toMatchObject({ granted: 0, ungranted: 0 });
  });

  it('refuses a slot to a socket without a ticket: UNAUTHORIZED, and no grant is taken', async () => {
    const [a] = [await psWorker()];
    const big = largeTask(a.route);
    const stranger = await connectPsWorker(tasks[big]!.url);
    sockets.push(stranger);
    const granted = tasks[big]!.task.slots.counts().granted;
    expect(await stranger.emitWithAck('grads:slot', { ticket: 'forged', jobId: a.job.jobId, bytes: BYTES })).toMatchObject({ ok: false, code: ErrorCode.UNAUTHORIZED });
    expect(tasks[big]!.task.slots.counts().granted).toBe(granted);
  });

  it("the worker's PsTransport asks each task for its slot when told, waits out that task's BUSY there, and the chief credits the push", async () => {
    const holder = await psWorker();
    const big = largeTask(holder.route);
    // The holder takes the task's one slot: the transport's first ask there is refused.
    const held = await ask(holder, big);
    if (!held.ok) throw new Error(`no slot: ${held.code}`);

    const worker = await connectTestWorker(run.url);
    sockets.push(worker);
    const hello = await worker.emitWithAck('worker:hello', { userAgent: 'vitest-ps-slots' });
    if (!hello.ok || !hello.job) throw new Error('no job');
    const waits: number[] = [];
    const transport = new PsTransport({
      job: hello.job,
      route: routeOf(hello.job),
      chief: (p) => worker.emitWithAck('grads:push', p),
      slots: {
        // Waiting out the BUSY: meanwhile the holder's granted push arrives and frees the slot.
        sleep: async (ms) => {
          waits.push(ms);
          const base = (await taskState(holder, big)).version;
          await holder.task[big]!.socket.emitWithAck('grads:push', slicePush(holder, big, base, 1, held.slot));
        },
      },
    });
    transports.push(transport);
    const { leaseId } = await leaseShard(worker, hello.job.jobId);
    const counts = tasks.map((t) => t.task.slots.counts());
    const pulled = await transport.pull({ jobId: hello.job.jobId });
    if (!pulled.ok) throw new Error(pulled.message);
    const versionBefore = run.job.version;
    const payload = encodeTensors(hello.job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-3) })));
    const ack = await transport.push({ jobId: hello.job.jobId, leaseId, baseVersion: pulled.version, batches: 1, loss: 2, ...payload });
    expect(ack).toMatchObject({ ok: true, version: versionBefore + 1 });
    expect(waits).toHaveLength(1);
    const after = tasks.map((t) => t.task.slots.counts());
    // The large task: one slot refused, then granted; the small one: asked nothing.
    expect(after[big]!.refused - counts[big]!.refused).toBe(1);
    expect(after[big]!.granted - counts[big]!.granted).toBe(1);
    expect(after[1 - big]!.granted - counts[1 - big]!.granted).toBe(0);
    expect(after[1 - big]!.refused - counts[1 - big]!.refused).toBe(0);
  });

  it("stops asking once the task's hold passed without pressure", async () => {
    clock.advance(HOLD_MS);
    const w = await psWorker();
    const big = largeTask(w.route);
    const base = (await taskState(w, big)).version;
    // Not told, not required: a payload without a grant is taken, and the answer asks for no slot.
    expect(await w.task[big]!.socket.emitWithAck('grads:push', slicePush(w, big, base, 1))).toEqual({ ok: true, version: base + 1, staleness: 0, receipt: expect.any(String) });
    expect(tasks[big]!.task.slots.counts()).toMatchObject({ required: false });
  });
});
