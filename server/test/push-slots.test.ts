/**
 * Push slots (server/params/push-slots.ts, shared/slot-pusher.ts) through a real
 * coordinator and real sockets: under load a payload goes out only with a grant, and
 * one sent without is refused BUSY before the job sees it; a grant expires on the
 * coordinator's clock (a ManualClock, stepped); light load costs no `grads:slot`; a
 * worker that keeps ignoring slots is disconnected by its socket's guard.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { GradientPush, JobAssignment, ShardLeaseGrant } from '../../shared/protocol.js';
import { SlotPusher } from '../../shared/slot-pusher.js';
import { sizeOf } from '../../shared/tensors.js';
import type { CoordinatorOptions } from '../coordinator.js';
import { joinAssigned, leaseShard, localParameters, ManualClock, startCoordinator, waitForEvent, type Running, type TestWorker } from '../../test-support/index.js';

const LR = 0.1;
const HOLD_MS = 5000;
let run: Running | null = null;
let sockets: TestWorker[] = [];
let clock: ManualClock;

afterEach(async () => {
  for (const s of sockets) s.disconnect();
  sockets = [];
  await run?.close();
  run = null;
});

async function start(options: CoordinatorOptions = {}): Promise<Running> {
  clock = new ManualClock();
  run = await startCoordinator(
    { model: 'mlp', mode: 'async', maxStaleness: 100, optimizer: { type: 'sgd', learningRate: LR }, normBound: 0 },
    { clock, ...options, slots: { window: 1, holdMs: HOLD_MS, ...options.slots } },
  );
  return run;
}

interface Worker {
  w: TestWorker;
  job: JobAssignment;
  lease: ShardLeaseGrant;
}

async function join(r: Running): Promise<Worker> {
  const joined = await joinAssigned(r.url, sockets, 'vitest-slots');
  return { ...joined, lease: await leaseShard(joined.w, joined.job.jobId) };
}

/** The worker's next nPush batches, every value `fill`, on version `baseVersion`; `slot` if granted one. */
function push({ job, lease }: Worker, baseVersion: number, fill: number, slot?: string): GradientPush {
  const payload = encodeTensors(job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(fill) })));
  return { jobId: job.jobId, leaseId: lease.leaseId, baseVersion, batches: job.nPush, loss: 2.3, ...payload, ...(slot ? { slot } : {}) };
}

const ask = (w: Worker) => w.w.emitWithAck('grads:slot', { jobId: w.job.jobId, bytes: 407_080 });
const values = (r: Running) => localParameters(r.job).store.tensors.map((t) => t.values.slice());

/** A grant's slot, failing the test on a refusal. */
async function granted(w: Worker): Promise<string> {
  const g = await ask(w);
  if (!g.ok) throw new Error(`no slot: ${g.code}`);
  return g.slot;
}

describe('push slots under a full window', () => {
  it('refuses a slot BUSY once the window is full and requires slots from then on; a payload without a grant is refused BUSY with nothing changed, and the same push with a grant is accepted', async () => {
    const r = await start();
    const [a, b] = [await join(r), await join(r)];
    const initial = values(r);

    const slotA = await granted(a);
    const refusedSlot = await ask(b);
    expect(refusedSlot).toMatchObject({ ok: false, code: ErrorCode.BUSY, retryAfterMs: 500, slots: true });

    // b, told, sends its payload anyway: BUSY, and neither its lease nor a parameter moved.
    const bare = await b.w.emitWithAck('grads:push', push(b, 0, 2));
    expect(bare).toMatchObject({ ok: false, code: ErrorCode.BUSY, slots: true });
    expect(r.job.version).toBe(0);
    expect(values(r)).toEqual(initial);
    expect(r.coordinator.slots.counts()).toMatchObject({ outstanding: 1, ungranted: 1, required: true });
    expect(r.job.stats.pushesRejected).toEqual({ [ErrorCode.BUSY]: 1 });

    // a's granted push frees the window; its answer says the next one needs a slot too.
    expect(await a.w.emitWithAck('grads:push', push(a, 0, 1, slotA))).toEqual({ ok: true, version: 1, staleness: 0, slots: true });
    // b's lease is intact: the same batches, with a grant, are accepted.
    const slotB = await granted(b);
    expect(await b.w.emitWithAck('grads:push', push(b, 0, 2, slotB))).toEqual({ ok: true, version: 2, staleness: 1, slots: true });
    expect(r.job.stats.pushesAccepted).toBe(2);
    expect(r.coordinator.slots.counts()).toMatchObject({ outstanding: 0, granted: 2, refused: 1, ungranted: 1 });
  });

  it("does not take another socket's grant (another job's: push-slots unit test)", async () => {
    const r = await start();
    const [a, b] = [await join(r), await join(r)];
    const slotA = await granted(a);
    expect(await ask(b)).toMatchObject({ code: ErrorCode.BUSY });
    expect(await b.w.emitWithAck('grads:push', push(b, 0, 1, slotA))).toMatchObject({ ok: false, code: ErrorCode.BUSY, slots: true });
    expect(r.job.version).toBe(0);
    // a's grant is still good for a.
    expect(await a.w.emitWithAck('grads:push', push(a, 0, 1, slotA))).toMatchObject({ ok: true, version: 1 });
  });
});

describe('a grant expires', () => {
  it('frees its slot after grantMs plus its upload time on the coordinator clock, and its push is then refused BUSY', async () => {
    const r = await start({ slots: { grantMs: 1000, uploadBytesPerSecond: 407_080 } });
    const [a, b] = [await join(r), await join(r)];
    const g = await ask(a);
    expect(g).toEqual({ ok: true, slot: expect.any(String), ttlMs: 2000 });
    const slotA = (g as { slot: string }).slot;
    clock.advance(1999);
    expect(await ask(b)).toMatchObject({ code: ErrorCode.BUSY });
    clock.advance(1);
    const slotB = await granted(b);
    expect(r.coordinator.slots.counts()).toMatchObject({ outstanding: 1, expired: 1 });

    expect(await a.w.emitWithAck('grads:push', push(a, 0, 1, slotA))).toMatchObject({ ok: false, code: ErrorCode.BUSY, slots: true });
    expect(r.job.version).toBe(0);
    expect(await b.w.emitWithAck('grads:push', push(b, 0, 1, slotB))).toMatchObject({ ok: true, version: 1 });
  });
});

describe('light load', () => {
  it('needs no grads:slot after the first push: a worker honouring slots asks once on joining, then pushes straight out, asks while answers require slots, and stops asking once they no longer do', async () => {
    const r = await start();
    const [a, b] = [await join(r), await join(r)];
    let asks = 0;
    const pusher = new SlotPusher({ sleep: async () => {} });
    const channel = {
      ask: (req: { jobId: string; bytes: number }) => {
        asks++;
        return a.w.emitWithAck('grads:slot', req);
      },
      send: (p: GradientPush) => a.w.emitWithAck('grads:push', p),
    };
    // The first push asks (no answer has said yet whether the coordinator is under load); the next goes straight out.
    expect(await pusher.push(push(a, 0, 1), channel)).toEqual({ ok: true, version: 1, staleness: 0 });
    expect(await pusher.push(push(a, 1, 1), channel)).toEqual({ ok: true, version: 2, staleness: 0 });
    expect(asks).toBe(1);

    // Load: b holds the one slot and another is refused. a's next answer tells it; the push after asks first.
    const slotB = await granted(b);
    expect(await ask(b)).toMatchObject({ code: ErrorCode.BUSY });
    expect(await b.w.emitWithAck('grads:push', push(b, 2, 1, slotB))).toMatchObject({ ok: true, slots: true });
    expect(await pusher.push(push(a, 3, 1), channel)).toEqual({ ok: true, version: 4, staleness: 0, slots: true });
    expect(await pusher.push(push(a, 4, 1), channel)).toMatchObject({ ok: true, version: 5 });
    expect(asks).toBe(2);

    // holdMs without pressure: the next answer no longer asks for slots (that push still asked:
    // the answer before said so), and the worker stops asking.
    clock.advance(HOLD_MS);
    expect(await pusher.push(push(a, 5, 1), channel)).toEqual({ ok: true, version: 6, staleness: 0 });
    expect(asks).toBe(3);
    expect(await pusher.push(push(a, 6, 1), channel)).toEqual({ ok: true, version: 7, staleness: 0 });
    expect(await pusher.push(push(a, 7, 1), channel)).toEqual({ ok: true, version: 8, staleness: 0 });
    expect(asks).toBe(3);
    expect(r.coordinator.slots.counts()).toMatchObject({ required: false, granted: 4 });
  });

  it('takes a payload sent before its socket was told that slots are required, and tells it', async () => {
    const r = await start();
    const [a, b] = [await join(r), await join(r)];
    await granted(b);
    expect(await ask(b)).toMatchObject({ code: ErrorCode.BUSY });
    expect(await a.w.emitWithAck('grads:push', push(a, 0, 1))).toEqual({ ok: true, version: 1, staleness: 0, slots: true });
    expect(await a.w.emitWithAck('grads:push', push(a, 1, 1))).toMatchObject({ ok: false, code: ErrorCode.BUSY, slots: true });
  });
});

describe('a worker that ignores slots', () => {
  it('is disconnected by its socket guard once its pushes without a grant pass maxStrikes', async () => {
    const r = await start({ workerGuard: { maxStrikes: 3 } });
    const [a, cheat] = [await join(r), await join(r)];
    await granted(a);
    expect(await ask(cheat)).toMatchObject({ code: ErrorCode.BUSY });
    const gone = waitForEvent(cheat.w, 'disconnect', 5000);
    for (let i = 0; i < 3; i++) expect(await cheat.w.emitWithAck('grads:push', push(cheat, 0, 1))).toMatchObject({ code: ErrorCode.BUSY, slots: true });
    cheat.w.emit('grads:push', push(cheat, 0, 1), () => {});
    await gone;
    expect(r.job.version).toBe(0);
    expect(r.coordinator.slots.counts()).toMatchObject({ ungranted: 4 });
  });
});
