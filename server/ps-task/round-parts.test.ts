/**
 * A split job's round on one real ps task (port 0, real socket.io clients): each stage
 * holds its part of a replica's gradient for the open round (`grads:hold`), and the
 * chief's `round:close` names each replica by the parts (stage worker, part number) its
 * accepted step holds here.
 * The replicas' parts, assembled, are combined with the job's rule and applied once;
 * every refusal has its code and changes nothing; the receipt binds the round.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { PsHoldRef, PsRoundMember } from '../../shared/ps-protocol.js';
import { sizeOf } from '../../shared/tensors.js';
import { connectChief, connectPsWorker, jobCreateMessage, startPsTask, type PsControlClient, type PsWorkerClient, type RunningPsTask, taskValues } from '../../test-support/ps-clients.js';
import { chiefCredential } from '../cluster/chief-fence.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { HoldLedger, roundPartNumber } from '../cluster/hold-receipts.js';
import { TicketSigner } from '../cluster/tickets.js';
import { ROUND_HELD_GRADIENTS } from './task-round.js';
import { SPLIT_SLICES, STAGE0_SLICES, STAGE1_SLICES } from '../../test-support/split-slices.js';

const TOKEN = 'round-parts-test-cluster-token-0123456789ab';
const keys = deriveClusterKeys(TOKEN);
const SLICES = SPLIT_SLICES;
const STAGE0 = STAGE0_SLICES;
const STAGE1 = STAGE1_SLICES;
const JOB = 'job-split-sync';
const LR = 0.5;
/** Every slice here filled with `v`. */
const filled = (v: number) => SLICES.map((s) => new Float32Array(sizeOf(s.shape)).fill(v));

describe('a split job\'s round on a ps task', () => {
  const signer = new TicketSigner(keys, () => Date.now());
  let run: RunningPsTask;
  let chief: PsControlClient;
  let worker: PsWorkerClient;
  const part = (w: string, names: string[], value: number, baseVersion: number) => {
    const specs = names.map((n) => SLICES.find((s) => s.name === n)!);
    return { ticket: signer.sign({ worker: w, job: JOB, task: 0 }), jobId: JOB, baseVersion, ...encodeTensors(specs.map((s) => ({ ...s, values: new Float32Array(sizeOf(s.shape)).fill(value) }))) };
  };
  /** Each worker's last part number answered: `replica` names those parts. */
  const parts = new Map<string, number>();
  const hold = async (w: string, names: string[], value: number, round: number) => {
    const held = await worker.emitWithAck('grads:hold', part(w, names, value, round));
    if (held.ok) parts.set(w, held.hold);
    return held;
  };
  /** A replica as the close names it: each stage worker's last part held (or `held[w]`). */
  const replica = (...ws: string[]): PsHoldRef[] => ws.map((w) => ({ worker: w, hold: parts.get(w) ?? -1 }));
  const close = (round: number, members: PsRoundMember[]) => chief.emitWithAck('round:close', { chief: chiefCredential(keys, 1, 'round:close', JOB), jobId: JOB, round, members });
  const values = () => taskValues(chief, keys, JOB);

  beforeAll(async () => {
    run = await startPsTask({ token: TOKEN });
    chief = await connectChief(run.url);
    worker = await connectPsWorker(run.url);
    const created = await chief.emitWithAck('job:create', {
      ...jobCreateMessage(keys, 1, { jobId: JOB, task: 0, slices: SLICES, initial: filled(0), optimizer: { type: 'sgd', learningRate: LR }, maxStaleness: 2 }),
      split: true,
      rounds: { aggregation: 'mean', trimFraction: 0 },
    });
    expect(created).toEqual({ ok: true, version: 0 });
  });
  afterAll(async () => {
    chief.disconnect();
    worker.disconnect();
    await run.close();
  });

  it("holds each stage's part for the open round under a round receipt; the close assembles each replica and applies the mean once", async () => {
    const a0 = await hold('r1-s0', STAGE0, 1, 0);
    expect(a0).toMatchObject({ ok: true, version: 0, staleness: 0, hold: roundPartNumber(0, 0) });
    // The receipt binds the part number (round 0's first of this worker) and the slices: the chief's round check passes for them only, and it is no async hold receipt.
    const ledger = new HoldLedger(keys, JOB);
    const fields = { task: 0, job: JOB, worker: 'r1-s0', hold: roundPartNumber(0, 0), slices: STAGE0 };
    if (!a0.ok) throw new Error(a0.message);
    expect(ledger.checkRound(fields, a0.receipt)).toBeNull();
    expect(ledger.checkRound({ ...fields, hold: 1 }, a0.receipt)).toMatchObject({ code: ErrorCode.BAD_RECEIPT });
    expect(ledger.check(fields, a0.receipt)).toMatchObject({ code: ErrorCode.BAD_RECEIPT });
    for (const [w, names, v] of [['r1-s1', STAGE1, 2], ['r2-s0', STAGE0, 3], ['r2-s1', STAGE1, 4]] as const) expect(await hold(w, [...names], v, 0)).toMatchObject({ ok: true, hold: roundPartNumber(0, 0) });
    // A stage part held by a stray worker is not named: it goes with the round.
    expect(await hold('stray', STAGE0, 100, 0)).toMatchObject({ ok: true });
    expect((await values()).version).toBe(0);
    expect(await close(0, [replica('r1-s0', 'r1-s1'), replica('r2-s0', 'r2-s1')])).toEqual({ ok: true, version: 1 });
    // SGD on the mean: dense1/bias (1 + 3) / 2, output/* (2 + 4) / 2.
    const after = await values();
    expect(after.version).toBe(1);
    expect(after.values.map((v) => [...new Set(v)])).toEqual([[-LR * 2], [-LR * 3], [-LR * 3]]);
    // Asked again (a chief that missed the answer): the same version, nothing applied twice; other members CONFLICT.
    expect(await close(0, [replica('r2-s1', 'r2-s0'), replica('r1-s1', 'r1-s0')])).toEqual({ ok: true, version: 1 });
    expect(await close(0, [replica('r1-s0', 'r1-s1')])).toMatchObject({ ok: false, code: ErrorCode.CONFLICT });
    // A replica step's close is the async modes': here the parts close with the round, and the refusal says so.
    const stepClose = await chief.emitWithAck('step:close', { chief: chiefCredential(keys, 1, 'step:close', JOB), jobId: JOB, holds: [{ worker: 'r1-s0', hold: 0 }] });
    expect(stepClose).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST, message: expect.stringContaining('round:close') });
    expect((await values()).values).toEqual(after.values);
  });

  it('refuses, with its code and nothing changed: a part for another round, a re-hold of other slices, a close whose replicas do not cover the slices once', async () => {
    const before = await values();
    const round = before.version;
    expect(await hold('r1-s0', STAGE0, 1, round - 1)).toMatchObject({ ok: false, code: ErrorCode.LATE });
    expect(await hold('r1-s0', STAGE0, 1, round + 1)).toMatchObject({ ok: false, code: ErrorCode.FUTURE_VERSION });
    expect(await hold('r1-s0', STAGE0, 1, round)).toMatchObject({ ok: true });
    // A worker holds one part a round, its slices fixed by the first.
    expect(await hold('r1-s0', ['dense1/bias', 'output/bias'], 1, round)).toMatchObject({ ok: false, code: ErrorCode.CONFLICT });
    expect(await hold('r1-s1', STAGE1, 2, round)).toMatchObject({ ok: true });
    expect(await hold('r1-x', ['output/bias'], 2, round)).toMatchObject({ ok: true });
    // Whole pushes are not taken from a split job's workers.
    expect(await worker.emitWithAck('grads:push', part('r1-s0', SLICES.map((s) => s.name), 1, round))).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
    for (const members of [
      [replica('r1-s0')], // a gap: output/* held by no part
      [replica('r1-s0', 'r1-s1', 'r1-x')], // output/bias twice
      [replica('r1-s0', 'nobody')], // a part not held here
      [[{ worker: 'r1-s0', hold: parts.get('r1-s0')! + 1 }, ...replica('r1-s1')]], // a part number not given
      [replica('r1-s0', 'r1-s1'), replica('r1-s0', 'r1-s1')], // a worker in two members
      [],
    ] as PsRoundMember[][]) {
      expect(await close(round, members), JSON.stringify(members)).toMatchObject({ ok: false, code: expect.stringMatching(/^(CONFLICT|BAD_REQUEST)$/) });
    }
    expect(await close(round, [replica('r1-s0', 'r1-s1'), 'r1-x'])).toMatchObject({ ok: false, code: ErrorCode.BAD_REQUEST });
    expect(await values()).toEqual(before);
    // The parts were kept through the refusals: a good close applies them.
    expect(await close(round, [replica('r1-s1', 'r1-s0')])).toEqual({ ok: true, version: round + 1 });
  });

  /** The values after SGD on one replica's gradient of `stage0` on dense1/bias and `stage1` on output/*, from `before`. */
  const stepped = (before: Float32Array[], stage0: number, stage1: number) => before.map((v, i) => v.map((x) => Math.fround(x - Math.fround(LR * (i === 0 ? stage0 : stage1)))));

  it("a joined step's parts are what the close applies: a stage worker's later part in the round (its replica re-formed) does not stand in for them", async () => {
    const before = await values();
    const round = before.version;
    await hold('r1-s0', STAGE0, 1, round);
    await hold('r1-s1', STAGE1, 2, round);
    // The chief accepted replica 1's step with these parts; then it dissolved.
    const accepted = replica('r1-s0', 'r1-s1');
    // r1-s0 re-forms with r3-s1 and holds a new part for the same round (the chief answers that step ALREADY_PUSHED).
    const rejoined = await hold('r1-s0', STAGE0, 50, round);
    expect(rejoined).toMatchObject({ ok: true, hold: roundPartNumber(round, 1) });
    expect(await hold('r3-s1', STAGE1, 60, round)).toMatchObject({ ok: true });
    // The new part's receipt is not the accepted part's: the chief could not take one for the other.
    if (!rejoined.ok) throw new Error(rejoined.message);
    expect(new HoldLedger(keys, JOB).checkRound({ task: 0, job: JOB, worker: 'r1-s0', hold: accepted[0]!.hold, slices: STAGE0 }, rejoined.receipt)).toMatchObject({ code: ErrorCode.BAD_RECEIPT });
    expect(await close(round, [accepted])).toEqual({ ok: true, version: round + 1 });
    expect((await values()).values).toEqual(stepped(before.values, 1, 2));
  });

  it('a hostile stage cannot swap its accepted part: the close applies the accepted one, and a third part in the round is BUSY, so the accepted one stays', async () => {
    const before = await values();
    const round = before.version;
    await hold('h-s0', STAGE0, 1, round);
    await hold('h-s1', STAGE1, 2, round);
    const accepted = replica('h-s0', 'h-s1');
    expect(await hold('h-s0', STAGE0, 1000, round)).toMatchObject({ ok: true });
    expect(await close(round, [accepted])).toEqual({ ok: true, version: round + 1 });
    const once = await values();
    expect(once.values).toEqual(stepped(before.values, 1, 2));
    // Swapping again: a worker holds 2 parts a round, a third is refused and none goes for it (an evicted accepted part would have the close refused, the job rolled back).
    await hold('h-s0', STAGE0, 1, round + 1);
    await hold('h-s1', STAGE1, 2, round + 1);
    const next = replica('h-s0', 'h-s1');
    expect(await hold('h-s0', STAGE0, 1000, round + 1)).toMatchObject({ ok: true });
    expect(await hold('h-s0', STAGE0, 2000, round + 1)).toMatchObject({ ok: false, code: ErrorCode.BUSY });
    expect(await values()).toEqual(once);
    expect(await close(round + 1, [next])).toEqual({ ok: true, version: round + 2 });
    expect((await values()).values).toEqual(stepped(once.values, 1, 2));
  });

  it(`a round holds at most ${ROUND_HELD_GRADIENTS} whole gradients' worth of parts here: beyond, a new part is BUSY and nothing is held`, async () => {
    const before = await values();
    const round = before.version;
    const workers = Array.from({ length: ROUND_HELD_GRADIENTS }, (_, i) => `full-${i}`);
    for (const w of workers) expect(await hold(w, SLICES.map((s) => s.name), 1, round)).toMatchObject({ ok: true });
    // Another worker id (a volunteer rejoining under a new one), and a second part of a worker holding one: both would pass the bound.
    expect(await hold('full-extra', STAGE0, 1, round)).toMatchObject({ ok: false, code: ErrorCode.BUSY });
    expect(await hold(workers[0]!, SLICES.map((s) => s.name), 9, round)).toMatchObject({ ok: false, code: ErrorCode.BUSY });
    expect(await values()).toEqual(before);
    // Nothing of the refused parts is held: the close of the parts held applies their mean.
    expect(await close(round, [...workers.map((w) => replica(w))])).toEqual({ ok: true, version: round + 1 });
    expect((await values()).values).toEqual(stepped(before.values, 1, 1));
    // The round closed, its room is free again.
    expect(await hold('full-extra', SLICES.map((s) => s.name), 1, round + 1)).toMatchObject({ ok: true });
  });
});

describe("a round's whole pushes on a ps task", () => {
  it(`are bounded as parts are: ${ROUND_HELD_GRADIENTS} workers' pushes held, a new worker's BUSY, a held worker's next push replaces its own`, async () => {
    const run = await startPsTask({ token: TOKEN });
    const chief = await connectChief(run.url);
    const worker = await connectPsWorker(run.url);
    const signer = new TicketSigner(keys, () => Date.now());
    const job = 'job-sync-whole';
    try {
      const created = await chief.emitWithAck('job:create', {
        ...jobCreateMessage(keys, 1, { jobId: job, task: 0, slices: SLICES, initial: filled(0), optimizer: { type: 'sgd', learningRate: LR }, maxStaleness: 2 }),
        rounds: { aggregation: 'mean', trimFraction: 0 },
      });
      expect(created).toEqual({ ok: true, version: 0 });
      const push = (w: string, v: number) =>
        worker.emitWithAck('grads:push', { ticket: signer.sign({ worker: w, job, task: 0 }), jobId: job, baseVersion: 0, ...encodeTensors(SLICES.map((s) => ({ ...s, values: new Float32Array(sizeOf(s.shape)).fill(v) }))) });
      const workers = Array.from({ length: ROUND_HELD_GRADIENTS }, (_, i) => `w-${i}`);
      for (const w of workers) expect(await push(w, 1)).toMatchObject({ ok: true });
      expect(await push('w-extra', 1)).toMatchObject({ ok: false, code: ErrorCode.BUSY });
      expect(await push(workers[0]!, 1)).toMatchObject({ ok: true });
      const closed = await chief.emitWithAck('round:close', { chief: chiefCredential(keys, 1, 'round:close', job), jobId: job, round: 0, members: workers });
      expect(closed).toEqual({ ok: true, version: 1 });
    } finally {
      chief.disconnect();
      worker.disconnect();
      await run.close();
    }
  });
});
