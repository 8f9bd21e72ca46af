/**
 * The norm bound on one real ps task (port 0, real socket.io clients): each push, stage
 * part and round push is judged on this task's slices against factor × the median of
 * the same slices' recent norms here (the chief's reference while fewer than
 * MIN_WORKERS workers have samples): within → as before; a warm worker's transient →
 * scaled down to the bound; otherwise NORM_OUTLIER and nothing changes. A stage part is
 * judged against its own slices' reference, not the task's whole. `job:reference`
 * renews the reference and `job:forget` drops departed workers' samples, fenced and
 * checked like every control message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTensors, encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { PsNormBound, PsSliceSnapshot } from '../../shared/ps-protocol.js';
import { sizeOf } from '../../shared/tensors.js';
import { connectChief, connectPsWorker, jobCreateMessage, startPsTask, type PsControlClient, type PsWorkerClient, type RunningPsTask } from '../../test-support/ps-clients.js';
import { chiefCredential } from '../cluster/chief-fence.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { TicketSigner } from '../cluster/tickets.js';
import { MAX_CLIPS, WARM_PUSHES } from '../params/norm-bound.js';
import { SPLIT_SLICES, STAGE0_SLICES, STAGE1_SLICES } from '../../test-support/split-slices.js';

const TOKEN = 'norm-bound-test-cluster-token-0123456789ab';
const keys = deriveClusterKeys(TOKEN);
const strangerKeys = deriveClusterKeys('a-stranger-with-its-own-token-0123456789ab');
const SLICES = SPLIT_SLICES;
const STAGE0 = STAGE0_SLICES;
const STAGE1 = STAGE1_SLICES;
const FACTOR = 10;
/** The PS's own gradient: every entry 1, so a slice's sum of squares is its size (whole: √19 ≈ 4.36; stage 0's bias: 2). */
const REFERENCE = [SLICES.map((s) => sizeOf(s.shape))];
const LR = 0.5;

describe('the norm bound on a ps task', () => {
  const signer = new TicketSigner(keys, () => Date.now());
  let run: RunningPsTask;
  let chief: PsControlClient;
  let worker: PsWorkerClient;
  const slicesFilled = (names: readonly string[], v: number) => encodeTensors(names.map((n) => SLICES.find((s) => s.name === n)!).map((s) => ({ ...s, values: new Float32Array(sizeOf(s.shape)).fill(v) })));
  const push = (job: string, w: string, v: number, baseVersion = 0) =>
    worker.emitWithAck('grads:push', { ticket: signer.sign({ worker: w, job, task: 0 }), jobId: job, baseVersion, ...slicesFilled(SLICES.map((s) => s.name), v) });
  const hold = (job: string, w: string, names: readonly string[], v: number, baseVersion = 0) =>
    worker.emitWithAck('grads:hold', { ticket: signer.sign({ worker: w, job, task: 0 }), jobId: job, baseVersion, ...slicesFilled(names, v) });
  const create = (job: string, extra: object, normBound: PsNormBound = { factor: FACTOR, batches: 1, reference: REFERENCE }) =>
    chief.emitWithAck('job:create', {
      ...jobCreateMessage(keys, 1, { jobId: job, task: 0, slices: SLICES, initial: SLICES.map((s) => new Float32Array(sizeOf(s.shape))), optimizer: { type: 'sgd', learningRate: LR }, maxStaleness: 1000 }),
      normBound,
      ...extra,
    });
  const reference = (job: string, rows: number[][], k = keys) => chief.emitWithAck('job:reference', { chief: chiefCredential(k, 1, 'job:reference', job), jobId: job, reference: rows });
  const values = async (job: string) => {
    const snap = await chief.emitWithAck('params:snapshot', { chief: chiefCredential(keys, 1, 'params:snapshot', job), jobId: job });
    if (!snap.ok) throw new Error(snap.message);
    const s = snap as { ok: true } & PsSliceSnapshot;
    return { version: s.version, values: decodeTensors(s, SLICES).map((v) => [...v]) };
  };

  beforeAll(async () => {
    run = await startPsTask({ token: TOKEN });
    chief = await connectChief(run.url);
    worker = await connectPsWorker(run.url);
  });
  afterAll(async () => {
    chief.disconnect();
    worker.disconnect();
    await run.close();
  });

  it('refuses a reference that does not fit the slices, at creation and renewal, and a stranger\'s renewal; changes nothing', async () => {
    expect(await create('job-bad-ref', {}, { factor: FACTOR, batches: 1, reference: [[1, 2]] })).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST, message: expect.stringContaining('3 slices') });
    expect(await create('job-bad-factor', {}, { factor: 0, batches: 1, reference: REFERENCE })).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
    expect(await create('job-ref', {})).toEqual({ ok: true, version: 0 });
    expect(await reference('job-ref', [[1, 2]])).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
    expect(await reference('job-ref', [[1, Number.NaN, 1]])).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
    expect(await reference('job-ref', REFERENCE.map((r) => r.map((x) => x * 1e4)), strangerKeys)).toMatchObject({ ok: false, code: ErrorCode.UNAUTHORIZED });
    expect(await reference('job-none', REFERENCE)).toMatchObject({ ok: false, code: ErrorCode.UNKNOWN_JOB });
    // The bound is still the first reference's: 100× its norm is refused.
    expect(await push('job-ref', 'w-x', 100)).toMatchObject({ ok: false, code: ErrorCode.NORM_OUTLIER });
  });

  it('a push: within applies; 100× is NORM_OUTLIER with nothing applied; a renewed reference moves the bound', async () => {
    expect(await create('job-async', {})).toEqual({ ok: true, version: 0 });
    expect(await push('job-async', 'w-a', 1)).toMatchObject({ ok: true, version: 1 });
    const before = await values('job-async');
    for (let i = 0; i < 3; i++) expect(await push('job-async', 'w-b', 100, 1)).toMatchObject({ ok: false, code: ErrorCode.NORM_OUTLIER });
    expect(await values('job-async')).toEqual(before);
    // The PS's gradient grew 100× (its squares 10⁴×): the same push is within the new bound.
    expect(await reference('job-async', REFERENCE.map((r) => r.map((x) => x * 1e4)))).toEqual({ ok: true });
    expect(await push('job-async', 'w-b', 100, 1)).toMatchObject({ ok: true, version: 2 });
  });

  it(`a warm worker's ${MAX_CLIPS} over-bound pushes are scaled down to the bound, then it is refused`, async () => {
    expect(await create('job-warm', {})).toEqual({ ok: true, version: 0 });
    for (let i = 0; i < WARM_PUSHES; i++) expect(await push('job-warm', 'w-warm', 1, i)).toMatchObject({ ok: true, version: i + 1 });
    for (let i = 0; i < MAX_CLIPS; i++) {
      const before = await values('job-warm');
      const r = (await push('job-warm', 'w-warm', 100, before.version)) as { ok: boolean; clipped?: number };
      // The bound is 10 × √19; the push is 100 × √19.
      expect(r).toMatchObject({ ok: true, version: before.version + 1 });
      expect(r.clipped).toBeCloseTo(0.1, 6);
      const after = await values('job-warm');
      // SGD on the clipped gradient (100 × 0.1 per entry), not on the one pushed.
      expect(before.values[0]![0]! - after.values[0]![0]!).toBeCloseTo(LR * 10, 4);
    }
    const before = await values('job-warm');
    expect(await push('job-warm', 'w-warm', 100, before.version)).toMatchObject({ ok: false, code: ErrorCode.NORM_OUTLIER, message: expect.stringContaining('clipped') });
    expect(await values('job-warm')).toEqual(before);
  });

  it("forgets the workers the chief says left: their tiny norms no longer drag the median; a stranger's word changes nothing", async () => {
    expect(await create('job-forget', {})).toEqual({ ok: true, version: 0 });
    const tiny = ['w-t1', 'w-t2', 'w-t3'];
    for (const [i, w] of tiny.entries()) expect(await push('job-forget', w, 0.01, i)).toMatchObject({ ok: true });
    // Three workers with samples: their median (0.01 × √19) is the bound's, and an honest push is 100× over it.
    expect(await push('job-forget', 'w-h', 1, 3)).toMatchObject({ ok: false, code: ErrorCode.NORM_OUTLIER });
    const forget = (k = keys) => chief.emitWithAck('job:forget', { chief: chiefCredential(k, 1, 'job:forget', 'job-forget'), jobId: 'job-forget', workers: tiny });
    expect(await forget(strangerKeys)).toMatchObject({ ok: false, code: ErrorCode.UNAUTHORIZED });
    expect(await push('job-forget', 'w-h', 1, 3)).toMatchObject({ ok: false, code: ErrorCode.NORM_OUTLIER });
    expect(await forget()).toEqual({ ok: true });
    // Gone: fewer than MIN_WORKERS samples, so the chief's reference is the median again.
    expect(await push('job-forget', 'w-h', 1, 3)).toMatchObject({ ok: true, version: 4 });
  });

  it('a round push is judged before it is held', async () => {
    expect(await create('job-sync', { rounds: { aggregation: 'mean', trimFraction: 0 } })).toEqual({ ok: true, version: 0 });
    expect(await push('job-sync', 'w-a', 100)).toMatchObject({ ok: false, code: ErrorCode.NORM_OUTLIER });
    expect(await push('job-sync', 'w-a', 1)).toMatchObject({ ok: true, version: 0 });
  });

  it("a stage part is judged against its own slices' bound, held or held for the round only within it", async () => {
    for (const [job, extra] of [['job-split', { split: true }], ['job-split-sync', { split: true, rounds: { aggregation: 'mean', trimFraction: 0 } }]] as const) {
      expect(await create(job, extra)).toEqual({ ok: true, version: 0 });
      // Stage 0's bias: its own bound is 10 × 2 = 20; 15 per entry (norm 30) is within the task's whole bound (43.6) but not its own.
      expect(await hold(job, 's0', STAGE0, 15), job).toMatchObject({ ok: false, code: ErrorCode.NORM_OUTLIER });
      expect(await hold(job, 's0', STAGE0, 8), job).toMatchObject({ ok: true });
      expect(await hold(job, 's1', STAGE1, 100), job).toMatchObject({ ok: false, code: ErrorCode.NORM_OUTLIER });
      expect(await hold(job, 's1', STAGE1, 1), job).toMatchObject({ ok: true });
      expect((await values(job)).version).toBe(0);
    }
  });
});
