/**
 * A split job's stage parts on one real ps task (port 0, real socket.io clients): a part
 * is checked as a push is and held, nothing applied, until the chief's step:close names
 * holds that cover every slice here exactly once; then one update, one version. Every
 * refusal has its code and changes nothing; only the chief closes or drops, and only a
 * receipt signed for exactly the slices held verifies at the chief.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { PsHoldRef } from '../../shared/ps-protocol.js';
import { sizeOf } from '../../shared/tensors.js';
import { connectChief, connectPsWorker, jobCreateMessage, startPsTask, type PsControlClient, type PsWorkerClient, type RunningPsTask, taskValues } from '../../test-support/ps-clients.js';
import { chiefCredential } from '../cluster/chief-fence.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { HoldLedger } from '../cluster/hold-receipts.js';
import { TicketSigner } from '../cluster/tickets.js';
import { CLOSED_STEPS_KEPT } from './task-stage-holds.js';
import { SPLIT_SLICES } from '../../test-support/split-slices.js';

const TOKEN = 'stage-holds-test-cluster-token-0123456789ab';
const keys = deriveClusterKeys(TOKEN);
const strangerKeys = deriveClusterKeys('a-stranger-with-its-own-token-0123456789ab');
const SLICES = SPLIT_SLICES;
const JOB = 'job-split';

describe('stage parts on a ps task', () => {
  const signer = new TicketSigner(keys, () => Date.now());
  let run: RunningPsTask;
  let chief: PsControlClient;
  let worker: PsWorkerClient;
  const ticket = (w: string) => signer.sign({ worker: w, job: JOB, task: 0 });
  const part = (w: string, names: string[], value: number, baseVersion = 0) => {
    const specs = names.map((n) => SLICES.find((s) => s.name === n)!);
    return { ticket: ticket(w), jobId: JOB, baseVersion, ...encodeTensors(specs.map((s) => ({ ...s, values: new Float32Array(sizeOf(s.shape)).fill(value) }))) };
  };
  const hold = async (w: string, names: string[], value: number, baseVersion = 0) => {
    const r = await worker.emitWithAck('grads:hold', part(w, names, value, baseVersion));
    if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
    return r;
  };
  const control = (event: 'step:close' | 'step:drop', holds: PsHoldRef[], k = keys) => chief.emitWithAck(event as 'step:close', { chief: chiefCredential(k, 1, event, JOB), jobId: JOB, holds });
  const values = () => taskValues(chief, keys, JOB);

  beforeAll(async () => {
    run = await startPsTask({ token: TOKEN });
    chief = await connectChief(run.url);
    worker = await connectPsWorker(run.url);
    const created = await chief.emitWithAck('job:create', {
      ...jobCreateMessage(keys, 1, { jobId: JOB, task: 0, slices: SLICES, initial: SLICES.map((s) => new Float32Array(sizeOf(s.shape))), optimizer: { type: 'sgd', learningRate: 0.5 }, maxStaleness: 2 }),
      split: true,
    });
    expect(created).toEqual({ ok: true, version: 0 });
  });
  afterAll(async () => {
    chief.disconnect();
    worker.disconnect();
    await run.close();
  });

  it('holds each stage part, applies nothing until the close, then applies both as one update', async () => {
    const a = await hold('w-a', ['dense1/bias'], 1);
    const b = await hold('w-b', ['output/kernel', 'output/bias'], 2);
    expect(a).toMatchObject({ version: 0, staleness: 0 });
    expect((await values()).version).toBe(0);
    // The receipt binds the slices held: the chief's check passes for them, fails for any other list.
    const ledger = new HoldLedger(keys, JOB);
    expect(ledger.check({ task: 0, job: JOB, worker: 'w-a', hold: a.hold, slices: ['dense1/bias'] }, a.receipt)).toBeNull();
    expect(ledger.check({ task: 0, job: JOB, worker: 'w-a', hold: a.hold, slices: ['dense1/bias', 'output/bias'] }, a.receipt)).toMatchObject({ code: ErrorCode.BAD_RECEIPT });
    expect(ledger.check({ task: 0, job: JOB, worker: 'w-b', hold: a.hold, slices: ['dense1/bias'] }, a.receipt)).toMatchObject({ code: ErrorCode.BAD_RECEIPT });
    expect(await control('step:close', [{ worker: 'w-a', hold: a.hold }, { worker: 'w-b', hold: b.hold }])).toEqual({ ok: true, version: 1 });
    const after = await values();
    expect(after.version).toBe(1);
    // SGD at 0.5: one step each, from zeros.
    expect([...after.values[0]!]).toEqual([-0.5, -0.5, -0.5, -0.5]);
    expect(after.values[1]!.every((v) => v === -1)).toBe(true);
    // The same close again (a chief that missed the answer) answers the same version and applies nothing.
    expect(await control('step:close', [{ worker: 'w-b', hold: b.hold }, { worker: 'w-a', hold: a.hold }])).toEqual({ ok: true, version: 1 });
    expect(await values()).toEqual(after);
    // Closed holds are gone: a close naming one of them in another step finds nothing.
    expect(await control('step:close', [{ worker: 'w-a', hold: a.hold }])).toMatchObject({ ok: false, code: ErrorCode.CONFLICT });
  });

  it('refuses, with a code and nothing changed, parts that cannot join a step and closes that do not cover the slices once', async () => {
    const before = await values();
    const refused = async (p: object) => worker.emitWithAck('grads:hold', p as ReturnType<typeof part>);
    expect(await refused(part('w-a', ['output/bias', 'dense1/bias'], 1, 1))).toMatchObject({ ok: false, code: ErrorCode.TENSOR_MISMATCH });
    expect(await refused({ ...part('w-a', ['dense1/bias'], 1, 1), manifest: { codec: 'fp32', tensors: [{ name: 'dense2/bias', shape: [4], dtype: 'float32', offset: 0, byteLength: 16 }] } })).toMatchObject({ ok: false, code: ErrorCode.TENSOR_MISMATCH });
    expect(await refused(part('w-a', ['dense1/bias'], Number.NaN, 1))).toMatchObject({ ok: false, code: ErrorCode.NON_FINITE });
    expect(await refused(part('w-a', ['dense1/bias'], 1, 5))).toMatchObject({ ok: false, code: ErrorCode.FUTURE_VERSION });
    expect(await refused({ ...part('w-a', ['dense1/bias'], 1, 1), ticket: new TicketSigner(strangerKeys, () => Date.now()).sign({ worker: 'w-a', job: JOB, task: 0 }) })).toMatchObject({ ok: false, code: ErrorCode.UNAUTHORIZED });
    // A split job takes no whole-slices push.
    expect(await worker.emitWithAck('grads:push', part('w-a', ['dense1/bias', 'output/kernel', 'output/bias'], 1, 1))).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });

    const a = await hold('w-a', ['dense1/bias'], 1, 1);
    const b = await hold('w-b', ['output/kernel', 'output/bias'], 1, 1);
    const c = await hold('w-c', ['output/bias'], 1, 1);
    // A slice no hold covers, a slice two holds cover, a hold of another worker, a stranger's close: each refused.
    expect(await control('step:close', [{ worker: 'w-a', hold: a.hold }])).toMatchObject({ ok: false, code: ErrorCode.CONFLICT });
    expect(await control('step:close', [{ worker: 'w-a', hold: a.hold }, { worker: 'w-b', hold: b.hold }, { worker: 'w-c', hold: c.hold }])).toMatchObject({ ok: false, code: ErrorCode.CONFLICT });
    expect(await control('step:close', [{ worker: 'w-a', hold: a.hold }, { worker: 'w-c', hold: b.hold }])).toMatchObject({ ok: false, code: ErrorCode.CONFLICT });
    expect(await control('step:close', [{ worker: 'w-a', hold: a.hold }, { worker: 'w-b', hold: b.hold }], strangerKeys)).toMatchObject({ ok: false, code: ErrorCode.UNAUTHORIZED });
    expect(await values()).toEqual(before);
    // Dropped holds cannot be closed after.
    expect(await control('step:drop', [{ worker: 'w-a', hold: a.hold }, { worker: 'w-b', hold: b.hold }, { worker: 'w-c', hold: c.hold }])).toEqual({ ok: true });
    expect(await control('step:close', [{ worker: 'w-a', hold: a.hold }, { worker: 'w-b', hold: b.hold }])).toMatchObject({ ok: false, code: ErrorCode.CONFLICT });
    expect(await values()).toEqual(before);
  });

  it('keeps at most 2 holds per worker (an honest stage has one in flight): a third is refused BUSY and nothing held goes for it', async () => {
    const first = await hold('w-a', ['dense1/bias'], 1, 1);
    const second = await hold('w-a', ['dense1/bias'], 1, 1);
    // Before, the oldest went: a stage could let its own part of a step the chief was closing go, and have that step half applied.
    expect(await worker.emitWithAck('grads:hold', part('w-a', ['dense1/bias'], 1, 1))).toMatchObject({ ok: false, code: ErrorCode.BUSY });
    const b = await hold('w-b', ['output/kernel', 'output/bias'], 1, 1);
    expect(await control('step:close', [{ worker: 'w-a', hold: first.hold }, { worker: 'w-b', hold: b.hold }])).toEqual({ ok: true, version: 2 });
    // Its step closed, the worker has room again.
    const third = await hold('w-a', ['dense1/bias'], 1, 2);
    await control('step:drop', [{ worker: 'w-a', hold: second.hold }, { worker: 'w-a', hold: third.hold }]);
  });

  it('pulls only the slices named, in full or as a delta; a slice not held here is TENSOR_MISMATCH', async () => {
    const pulled = await worker.emitWithAck('params:pull', { ticket: ticket('w-b'), jobId: JOB, slices: ['output/kernel', 'output/bias'] });
    expect(pulled).toMatchObject({ ok: true, version: 2 });
    if (!pulled.ok) return;
    expect(pulled.manifest.tensors.map((t) => t.name)).toEqual(['output/kernel', 'output/bias']);
    expect(await worker.emitWithAck('params:pull', { ticket: ticket('w-b'), jobId: JOB, slices: ['dense1/kernel'] })).toMatchObject({ ok: false, code: ErrorCode.TENSOR_MISMATCH });
    expect(await worker.emitWithAck('params:pull', { ticket: ticket('w-b'), jobId: JOB, slices: ['output/bias', 'output/bias'] })).toMatchObject({ ok: false, code: ErrorCode.TENSOR_MISMATCH });
  });

  it(`remembers the last ${CLOSED_STEPS_KEPT} steps it closed: a repeat of any answers its version; an older one is forgotten`, async () => {
    const start = (await values()).version;
    const steps: PsHoldRef[][] = [];
    for (let k = 0; k <= CLOSED_STEPS_KEPT; k++) {
      const version = start + k;
      const refs = [
        { worker: 'w-a', hold: (await hold('w-a', ['dense1/bias'], 0, version)).hold },
        { worker: 'w-b', hold: (await hold('w-b', ['output/kernel', 'output/bias'], 0, version)).hold },
      ];
      expect(await control('step:close', refs)).toEqual({ ok: true, version: version + 1 });
      steps.push(refs);
    }
    const end = await values();
    expect(await control('step:close', steps[1]!)).toEqual({ ok: true, version: start + 2 });
    expect(await control('step:close', steps[CLOSED_STEPS_KEPT]!)).toEqual({ ok: true, version: end.version });
    expect(await control('step:close', steps[0]!)).toMatchObject({ ok: false, code: ErrorCode.CONFLICT });
    expect(await values()).toEqual(end);
  });

  it("holds at most 8 steps' worth of its slices: past that the oldest hold goes", async () => {
    const all = SLICES.map((s) => s.name);
    const v = (await values()).version;
    const held: PsHoldRef[] = [];
    for (let w = 0; w < 5; w++) for (let k = 0; k < 2; k++) if (held.length < 9) held.push({ worker: `w-fill-${w}`, hold: (await hold(`w-fill-${w}`, all, 0, v)).hold });
    // The ninth let the first go: a close naming it is refused, one naming the second applies.
    expect(await control('step:close', [held[0]!])).toMatchObject({ ok: false, code: ErrorCode.CONFLICT });
    expect(await control('step:close', [held[1]!])).toEqual({ ok: true, version: v + 1 });
    await control('step:drop', held);
  });
});
