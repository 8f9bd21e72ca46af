/**
 * A real ps task on port 0 and real socket.io clients: the chief on /ps-control, workers
 * (and strangers) on /ps-worker. Only a ticket the chief signed for this worker, this
 * job and this task moves the parameters; only the current chief's credential changes
 * what the task holds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codecOf, decodeTensors, encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { optimizerSpecSchema } from '../../shared/job-spec.js';
import { applyParamDelta, type DeltaManifest } from '../../shared/param-delta.js';
import type { PsSliceSnapshot } from '../../shared/ps-protocol.js';
import { seededRandom } from '../../shared/seeded-random.js';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';
import { ManualClock } from '../../test-support/manual-clock.js';
import { connectChief, connectPsWorker, jobCreateMessage, startPsTask, type PsControlClient, type PsWorkerClient, type RunningPsTask } from '../../test-support/ps-clients.js';
import { chiefCredential } from '../cluster/chief-fence.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { Placement } from '../cluster/placement.js';
import { DEFAULT_TICKET_TTL_MS, signTicket, TicketSigner } from '../cluster/tickets.js';
import { GradientGate } from '../params/gradient-gate.js';
import { createOptimizer } from '../params/optimizers.js';
import { ParameterStore } from '../params/parameter-store.js';

const TOKEN = 'ps-task-test-cluster-token-0123456789abcdef';
const keys = deriveClusterKeys(TOKEN);
const strangerKeys = deriveClusterKeys('a-stranger-with-its-own-token-0123456789ab');

const MODEL: TensorSpec[] = [
  { name: 'dense1/kernel', shape: [20, 16] },
  { name: 'dense1/bias', shape: [16] },
  { name: 'output/kernel', shape: [16, 3] },
  { name: 'output/bias', shape: [3] },
];
const placement = Placement.of(MODEL, { tasks: 2, partitionBytes: 256 });
const TASK = 1;
const SLICES = placement.specsOf(TASK);
const random = (seed: number, n: number, scale = 1) => {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: n }, () => (rand() - 0.5) * scale);
};
const INITIAL = placement.splitTensors(MODEL.map((s, i) => random(i + 1, sizeOf(s.shape))))[TASK]!.map((v) => v.slice());
const OPTIMIZER = optimizerSpecSchema.parse({ type: 'adagrad', learningRate: 0.1 });
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const gradient = (seed: number) => encodeTensors(SLICES.map((s, i) => ({ ...s, values: random(seed * 10 + i, sizeOf(s.shape), 0.2) })));
const snapshotValues = (snap: { ok: true } & PsSliceSnapshot) => decodeTensors(snap, snap.manifest.tensors.map((t) => ({ name: t.name, shape: t.shape })));

describe('a ps task', () => {
  const clock = new ManualClock();
  const signer = new TicketSigner(keys, () => clock.now());
  let run: RunningPsTask;
  let chief: PsControlClient;
  let worker: PsWorkerClient;
  const sockets: { disconnect(): unknown }[] = [];
  const ticket = (job = 'job-1', task = TASK) => signer.sign({ worker: 'w-1', job, task });
  /** The job's slices as the task holds them, values and optimizer state, bit for bit. */
  const state = async () => {
    const snap = await chief.emitWithAck('params:snapshot', { chief: chiefCredential(keys, 1, 'params:snapshot', 'job-1'), jobId: 'job-1' });
    if (!snap.ok) throw new Error(snap.message);
    return { version: snap.version, bits: snapshotValues(snap).map(bits) };
  };

  beforeAll(async () => {
    run = await startPsTask({ token: TOKEN, clock, admission: { maxLoopDelayMs: 100, random: () => 0 } });
    chief = await connectChief(run.url);
    worker = await connectPsWorker(run.url);
    sockets.push(chief, worker);
    const created = await chief.emitWithAck('job:create', jobCreateMessage(keys, 1, { jobId: 'job-1', task: TASK, slices: SLICES, initial: INITIAL, optimizer: OPTIMIZER, maxStaleness: 4 }));
    expect(created).toEqual({ ok: true, version: 0 });
  });
  afterAll(async () => {
    sockets.forEach((s) => s.disconnect());
    await run.close();
  });

  it('serves its slices to a worker with a ticket', async () => {
    const pulled = await worker.emitWithAck('params:pull', { ticket: ticket(), jobId: 'job-1' });
    if (!pulled.ok) throw new Error(pulled.message);
    expect(pulled.version).toBe(0);
    expect(decodeTensors(pulled as typeof pulled & { manifest: { codec: 'fp32' } }, SLICES).map(bits)).toEqual(INITIAL.map(bits));
  });

  it("applies a ticketed push exactly as a ParameterStore over the same slices does, with this task's staleness", async () => {
    const local = new ParameterStore(SLICES, INITIAL, createOptimizer(OPTIMIZER));
    const gate = new GradientGate(local, codecOf({ codec: 'fp32', topkRatio: 0.01 }), 0, null);
    const before = await state();
    try {
      for (const [seed, baseVersion, staleness] of [[1, 0, 0], [2, 0, 1], [3, 2, 0]] as const) {
        const push = gradient(seed);
        const base = before.version + baseVersion;
        expect(await worker.emitWithAck('grads:push', { ticket: ticket(), jobId: 'job-1', baseVersion: base, ...push })).toEqual({ ok: true, version: base + staleness + 1, staleness, receipt: expect.any(String) });
        const decoded = gate.check({ ...push, batches: 1 }, 'w');
        if ('ok' in decoded) throw new Error(`the gate refused the push: ${decoded.code} ${decoded.message}`);
        local.apply(decoded);
      }
      const snap = local.snapshot();
      const after = await state();
      expect(after.version).toBe(before.version + 3);
      // Per slice: values, then the adagrad accumulator.
      expect(after.bits).toEqual(snap.tensors.flatMap((t) => [bits(t.values), ...t.slots.map(bits)]));
    } finally {
      local.dispose();
    }
  });

  describe('refuses anyone without a valid ticket, and nothing changes', () => {
    const refusals: [string, () => unknown][] = [
      ['no ticket', () => undefined],
      ['a made-up ticket', () => 'eyJ4IjoxfQ.' + 'A'.repeat(43)],
      ["another cluster's ticket", () => signTicket(strangerKeys, { worker: 'w-1', job: 'job-1', task: TASK, expires: clock.now() + 60_000 })],
      ["the ticket for this job's slices on task 0", () => ticket('job-1', 0)],
      ['a ticket for another job', () => ticket('job-2')],
      ['an expired ticket', () => signTicket(keys, { worker: 'w-1', job: 'job-1', task: TASK, expires: clock.now() })],
    ];
    for (const [who, make] of refusals) {
      it(`${who}: UNAUTHORIZED for pushes and pulls`, async () => {
        const stranger = await connectPsWorker(run.url);
        sockets.push(stranger);
        const before = await state();
        const push = await stranger.emitWithAck('grads:push', { ticket: make() as string, jobId: 'job-1', baseVersion: before.version, ...gradient(7) });
        expect(push).toMatchObject({ ok: false, code: ErrorCode.UNAUTHORIZED, message: expect.stringMatching(/^Ticket refused: /) });
        expect(await stranger.emitWithAck('params:pull', { ticket: make() as string, jobId: 'job-1' })).toMatchObject({ ok: false, code: ErrorCode.UNAUTHORIZED });
        expect(await state()).toEqual(before);
      });
    }

    it('a ticket that expired while its worker trained', async () => {
      const held = ticket();
      const before = await state();
      clock.advance(DEFAULT_TICKET_TTL_MS);
      expect(await worker.emitWithAck('grads:push', { ticket: held, jobId: 'job-1', baseVersion: before.version, ...gradient(8) })).toMatchObject({ code: ErrorCode.UNAUTHORIZED, message: expect.stringMatching(/expired/) });
      expect(await state()).toEqual(before);
    });

    it('a stranger whose payload is garbage hears UNAUTHORIZED, not what is wrong with it', async () => {
      for (const payload of [null, 42, 'x', [], { jobId: 7 }, { ticket: 1, jobId: 'job-1' }]) {
        expect(await worker.emitWithAck('grads:push', payload as never), JSON.stringify(payload)).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
      }
    });
  });

  it('checks a ticketed push like the coordinator: staleness against its own version, layout, finiteness', async () => {
    // Past maxStaleness (4) first, with honest pushes.
    for (let v = (await state()).version; v < 5; v++) {
      expect(await worker.emitWithAck('grads:push', { ticket: ticket(), jobId: 'job-1', baseVersion: v, ...gradient(20 + v) })).toMatchObject({ ok: true, version: v + 1 });
    }
    const { version } = await state();
    const push = (over: object) => worker.emitWithAck('grads:push', { ticket: ticket(), jobId: 'job-1', baseVersion: version, ...gradient(9), ...over });
    expect(await push({ baseVersion: version + 1 })).toMatchObject({ code: ErrorCode.FUTURE_VERSION });
    expect(await push({ baseVersion: version - 5 })).toMatchObject({ code: ErrorCode.STALE });
    const wrongSlices = encodeTensors(MODEL.slice(0, 1).map((s) => ({ ...s, values: new Float32Array(sizeOf(s.shape)) })));
    expect(await push(wrongSlices)).toMatchObject({ code: ErrorCode.TENSOR_MISMATCH });
    const nan = encodeTensors(SLICES.map((s) => ({ ...s, values: new Float32Array(sizeOf(s.shape)).fill(Number.NaN) })));
    expect(await push(nan)).toMatchObject({ code: ErrorCode.NON_FINITE });
    expect(await push({ extra: 1 })).toMatchObject({ code: ErrorCode.BAD_REQUEST });
    expect(await push({ data: 'not binary' })).toMatchObject({ code: ErrorCode.BAD_REQUEST });
    expect((await state()).version).toBe(version);
  });

  it('answers BUSY at once while its event loop runs late, as the coordinator does, changing nothing; the same push is taken once the loop is on time', async () => {
    const before = await state();
    const push = { ticket: ticket(), jobId: 'job-1', baseVersion: before.version, ...gradient(30) };
    // Two long loop turns in a row: the admission's sampling timer runs late twice.
    for (const turn of [0, 1]) {
      clock.stall(500);
      clock.advance(turn);
    }
    expect(await worker.emitWithAck('grads:push', push)).toMatchObject({ ok: false, code: ErrorCode.BUSY, retryAfterMs: expect.any(Number) });
    expect(await state()).toEqual(before);
    clock.advance(40); // the admission's sampling timer on time again
    expect(await worker.emitWithAck('grads:push', push)).toEqual({ ok: true, version: before.version + 1, staleness: 0, receipt: expect.any(String) });
  });

  it('answers a pull with a delta since the version the worker holds, under sparse updates', async () => {
    const epoch = run.task.chiefEpoch;
    const sgd = optimizerSpecSchema.parse({ type: 'sgd', learningRate: 0.1 });
    const msg = jobCreateMessage(keys, epoch, { jobId: 'job-sparse', task: TASK, slices: SLICES, initial: INITIAL, optimizer: sgd, codec: 'topk', topkRatio: 0.01, keepVersions: 4 });
    expect(await chief.emitWithAck('job:create', msg)).toEqual({ ok: true, version: 0 });
    const t = ticket('job-sparse');
    const full = await worker.emitWithAck('params:pull', { ticket: t, jobId: 'job-sparse' });
    expect(full).toMatchObject({ ok: true, version: 0, manifest: { codec: 'fp32' } });
    const grads = SLICES.map((s, i) => random(50 + i, sizeOf(s.shape), 0.2));
    const push = encodeTensors(SLICES.map((s, i) => ({ ...s, values: grads[i]! })), codecOf({ codec: 'topk', topkRatio: 0.01 }));
    expect(await worker.emitWithAck('grads:push', { ticket: t, jobId: 'job-sparse', baseVersion: 0, ...push })).toEqual({ ok: true, version: 1, staleness: 0, receipt: expect.any(String) });
    const delta = await worker.emitWithAck('params:pull', { ticket: t, jobId: 'job-sparse', have: 0 });
    if (!delta.ok || !full.ok) throw new Error('pull refused');
    expect(delta.manifest).toMatchObject({ codec: 'delta', since: 0 });
    const after = decodeTensors(full as typeof full & { manifest: { codec: 'fp32' } }, SLICES);
    expect(applyParamDelta(delta.manifest as DeltaManifest, delta.data, after)).toBeNull();
    const fresh = await worker.emitWithAck('params:pull', { ticket: t, jobId: 'job-sparse' });
    if (!fresh.ok) throw new Error(fresh.message);
    expect(after.map(bits)).toEqual(decodeTensors(fresh as typeof fresh & { manifest: { codec: 'fp32' } }, SLICES).map(bits));
    expect(await chief.emitWithAck('job:delete', { chief: chiefCredential(keys, epoch, 'job:delete', 'job-sparse'), jobId: 'job-sparse' })).toEqual({ ok: true });
  });

  it('staleness-aware: a push τ of its versions old applies with the learning rate over τ, as the coordinator does', async () => {
    const epoch = run.task.chiefEpoch;
    const sgd = optimizerSpecSchema.parse({ type: 'sgd', learningRate: 0.1 });
    const msg = jobCreateMessage(keys, epoch, { jobId: 'job-sa', task: TASK, slices: SLICES, initial: INITIAL, optimizer: sgd, stalenessAware: true });
    expect(await chief.emitWithAck('job:create', msg)).toEqual({ ok: true, version: 0 });
    const local = new ParameterStore(SLICES, INITIAL, createOptimizer(sgd));
    const gate = new GradientGate(local, codecOf({ codec: 'fp32', topkRatio: 0.01 }), 0, null);
    try {
      // All computed on version 0: staleness 0, 1, 2, 3 → scales 1, 1, 1/2, 1/3.
      for (const [seed, staleness] of [[31, 0], [32, 1], [33, 2], [34, 3]] as const) {
        const push = gradient(seed);
        expect(await worker.emitWithAck('grads:push', { ticket: ticket('job-sa'), jobId: 'job-sa', baseVersion: 0, ...push })).toEqual({ ok: true, version: staleness + 1, staleness, receipt: expect.any(String) });
        const decoded = gate.check({ ...push, batches: 1 }, 'w');
        if ('ok' in decoded) throw new Error(decoded.message);
        local.apply(decoded, 1 / Math.max(1, staleness));
      }
      const snap = await chief.emitWithAck('params:snapshot', { chief: chiefCredential(keys, epoch, 'params:snapshot', 'job-sa'), jobId: 'job-sa' });
      if (!snap.ok) throw new Error(snap.message);
      expect(snapshotValues(snap).map(bits)).toEqual(local.snapshot().tensors.map((t) => bits(t.values)));
    } finally {
      local.dispose();
      await chief.emitWithAck('job:delete', { chief: chiefCredential(keys, epoch, 'job:delete', 'job-sa'), jobId: 'job-sa' });
    }
  });

  it('answers UNKNOWN_EVENT for an event it does not serve', async () => {
    const raw = worker as unknown as { emitWithAck(e: string, p: unknown): Promise<unknown> };
    expect(await raw.emitWithAck('worker:hello', {})).toMatchObject({ code: ErrorCode.UNKNOWN_EVENT });
  });

  describe('the control channel', () => {
    it("refuses a stranger's control messages, whatever epoch it claims, and changes nothing", async () => {
      const stranger = await connectChief(run.url);
      sockets.push(stranger);
      const epoch = run.task.chiefEpoch;
      const forged = (event: string, jobId: string | null = null) => chiefCredential(strangerKeys, 1_000, event, jobId);
      expect(await stranger.emitWithAck('job:delete', { chief: forged('job:delete', 'job-1'), jobId: 'job-1' })).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
      expect(await stranger.emitWithAck('params:snapshot', { chief: forged('params:snapshot', 'job-1'), jobId: 'job-1' })).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
      const create = jobCreateMessage(strangerKeys, 1_000, { jobId: 'job-9', task: 0, slices: SLICES, initial: INITIAL });
      expect(await stranger.emitWithAck('job:create', create)).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
      expect(await stranger.emitWithAck('task:status', { chief: { epoch: 5, proof: 'x' } })).toMatchObject({ code: ErrorCode.UNAUTHORIZED, message: 'Not a chief credential' });
      expect(await stranger.emitWithAck('task:status', {} as never)).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
      // A proof the chief sent for one message does not carry another.
      const seen = chiefCredential(keys, epoch, 'params:snapshot', 'job-1');
      expect(await stranger.emitWithAck('job:delete', { chief: seen, jobId: 'job-1' })).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
      expect(run.task.chiefEpoch).toBe(epoch);
      const status = await chief.emitWithAck('task:status', { chief: chiefCredential(keys, epoch, 'task:status') });
      expect(status).toMatchObject({ ok: true, epoch, jobs: [{ jobId: 'job-1', task: TASK, slices: SLICES.length }] });
    });

    it('follows a newer chief and refuses the deposed one: STALE_CHIEF, and the job stays', async () => {
      const successor = await connectChief(run.url);
      sockets.push(successor);
      const old = run.task.chiefEpoch;
      expect(await successor.emitWithAck('task:status', { chief: chiefCredential(keys, old + 1, 'task:status') })).toMatchObject({ ok: true, epoch: old + 1 });
      expect(run.task.chiefEpoch).toBe(old + 1);
      const stale = await chief.emitWithAck('job:delete', { chief: chiefCredential(keys, old, 'job:delete', 'job-1'), jobId: 'job-1' });
      expect(stale).toEqual({ ok: false, code: ErrorCode.STALE_CHIEF, message: `Chief epoch ${old} is older than ${old + 1}: a newer chief has taken over this task` });
      const status = await successor.emitWithAck('task:status', { chief: chiefCredential(keys, old + 1, 'task:status') });
      expect(status.ok && status.jobs.map((j) => j.jobId)).toEqual(['job-1']);
      // Workers' tickets do not depend on the chief's epoch.
      expect(await worker.emitWithAck('params:pull', { ticket: ticket(), jobId: 'job-1' })).toMatchObject({ ok: true });
    });

    it('checks what the chief sends before holding anything', async () => {
      const epoch = run.task.chiefEpoch;
      const create = (over: Partial<Parameters<typeof jobCreateMessage>[2]>, edit: (m: ReturnType<typeof jobCreateMessage>) => object = (m) => m) =>
        chief.emitWithAck('job:create', edit(jobCreateMessage(keys, epoch, { jobId: 'job-2', task: 0, slices: SLICES, initial: INITIAL, ...over })) as never);
      expect(await create({ jobId: 'job-1' })).toMatchObject({ code: ErrorCode.CONFLICT });
      const bytes = (m: ReturnType<typeof jobCreateMessage>) => m.initial.data as Uint8Array;
      expect(await create({}, (m) => ({ ...m, initial: { ...m.initial, data: bytes(m).subarray(4) } }))).toMatchObject({ code: ErrorCode.BYTE_LENGTH_MISMATCH });
      expect(await create({}, (m) => ({ ...m, initial: { ...m.initial, data: Buffer.concat([bytes(m), Buffer.alloc(4)]) } }))).toMatchObject({ code: ErrorCode.BYTE_LENGTH_MISMATCH });
      const shifted = (m: ReturnType<typeof jobCreateMessage>) => m.initial.manifest.tensors.map((t, i) => (i === 1 ? { ...t, offset: t.offset + 4 } : t));
      expect(await create({}, (m) => ({ ...m, initial: { ...m.initial, manifest: { ...m.initial.manifest, tensors: shifted(m) } } }))).toMatchObject({ code: ErrorCode.BYTE_LENGTH_MISMATCH });
      expect(await create({ initial: [INITIAL[0]!.map(() => Number.POSITIVE_INFINITY), INITIAL[1]!] })).toMatchObject({ code: ErrorCode.NON_FINITE });
      expect(await create({}, (m) => ({ ...m, slices: [...m.slices].reverse() }))).toMatchObject({ code: ErrorCode.TENSOR_MISMATCH });
      expect(await create({}, (m) => ({ ...m, slices: [m.slices[0], m.slices[0]] }))).toMatchObject({ code: ErrorCode.BAD_REQUEST, message: 'slices: two slices share a name' });
      expect(await create({}, (m) => ({ ...m, slices: [{ name: 'huge', shape: [4001, 1000] }] }))).toMatchObject({ code: ErrorCode.MODEL_TOO_LARGE });
      expect(await create({}, (m) => ({ ...m, optimizer: { type: 'rmsprop' } }))).toMatchObject({ code: ErrorCode.BAD_REQUEST, message: expect.stringMatching(/^optimizer\.type/) });
      expect(await create({}, (m) => ({ ...m, initial: { ...m.initial, manifest: { ...m.initial.manifest, codec: 'fp16' } } }))).toMatchObject({ code: ErrorCode.UNKNOWN_CODEC });
      const status = await chief.emitWithAck('task:status', { chief: chiefCredential(keys, epoch, 'task:status') });
      expect(status.ok && status.jobs.map((j) => j.jobId)).toEqual(['job-1']);
    });

    it('deletes a job: its workers hear UNKNOWN_JOB, strangers still UNAUTHORIZED', async () => {
      const epoch = run.task.chiefEpoch;
      const msg = jobCreateMessage(keys, epoch, { jobId: 'job-3', task: TASK, slices: SLICES, initial: INITIAL });
      expect(await chief.emitWithAck('job:create', msg)).toEqual({ ok: true, version: 0 });
      expect(await chief.emitWithAck('job:delete', { chief: chiefCredential(keys, epoch, 'job:delete', 'job-3'), jobId: 'job-3' })).toEqual({ ok: true });
      expect(await worker.emitWithAck('params:pull', { ticket: ticket('job-3'), jobId: 'job-3' })).toMatchObject({ code: ErrorCode.UNKNOWN_JOB });
      expect(await worker.emitWithAck('params:pull', { ticket: ticket('job-1'), jobId: 'job-3' })).toMatchObject({ code: ErrorCode.UNAUTHORIZED });
      expect(await chief.emitWithAck('job:delete', { chief: chiefCredential(keys, epoch, 'job:delete', 'job-3'), jobId: 'job-3' })).toMatchObject({ code: ErrorCode.UNKNOWN_JOB });
    });
  });

  it('serves nothing over plain HTTP', async () => {
    const res = await fetch(`${run.url}/`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ ok: false, code: 'NOT_FOUND' });
  });
});
