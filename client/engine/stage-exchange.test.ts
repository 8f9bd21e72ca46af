/**
 * The overlap of a stage's pushes and pulls with its computing (stage-exchange.ts), on a
 * real StageTrainer (the mlp's output layer, tfjs cpu) whose gradient comes from a real
 * backward pass. The coordinator's answers are held by the test (each push and pull is
 * answered when the test says), because what is checked is the order of events around
 * an answer that has not come yet; server/test/pipeline-training.test.ts runs the same
 * code against the real coordinator.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCodec, encodeTensors } from '../../shared/codec.js';
import { diffParams } from '../../shared/param-delta.js';
import type { GradientPush, ParamsSnapshot, PullRequest, PushAccepted } from '../../shared/protocol.js';
import { ok, type Result } from '../../shared/result.js';
import { MODEL_PRESETS, tensorSpecsOf } from '../../shared/models.js';
import { GradientAccumulator } from './gradient-accumulator.js';
import { StageExchange, type ExchangeServer } from './stage-exchange.js';
import { StageTrainer } from './stage-trainer.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

interface Held<T> {
  what: T;
  answer: (r: Result<object>) => void;
}

/** A server whose every request waits for the test to answer it. */
function heldServer() {
  const pushes: Held<GradientPush>[] = [];
  const pulls: Held<PullRequest>[] = [];
  const server: ExchangeServer = {
    push: (what) => new Promise((answer) => pushes.push({ what, answer: answer as Held<GradientPush>['answer'] })),
    pull: (what) => new Promise((answer) => pulls.push({ what, answer: answer as Held<PullRequest>['answer'] })),
  };
  return { server, pushes, pulls };
}

/** The mlp's last layer (dense1's 128 outputs → 10 classes) as the last stage, and its gradient for one micro-batch of 4. */
async function lastStage() {
  const m = MODEL_PRESETS.mlp.build([28, 28, 1], 10, 7);
  const topology = m.toJSON(undefined, false) as object;
  const specs = tensorSpecsOf(m);
  m.dispose();
  const trainer = await StageTrainer.create(topology, specs, { from: 2, to: 3, inputShape: [128] }, 10);
  const work = () => trainer.lossAndBackward(Float32Array.from({ length: 4 * 128 }, (_, i) => Math.sin(i)), Uint8Array.of(1, 2, 3, 4), 4);
  return { trainer, work, specs: trainer.specs };
}

const accepted = (version: number): Result<PushAccepted> => ok({ version, staleness: 0 });
const tick = () => new Promise<void>((r) => setImmediate(r));

function snapshot(specs: { name: string; shape: number[] }[], version: number, fill: number): Result<ParamsSnapshot> {
  const values = specs.map((s) => ({ name: s.name, shape: s.shape, values: new Float32Array(s.shape.reduce((a, b) => a * b, 1)).fill(fill) }));
  const payload = encodeTensors(values);
  return ok({ jobId: 'j', version, ...payload });
}

describe('StageExchange', () => {
  it('takes a push and goes on without its answer; the next push is not sent before that answer; the pull after it is taken at the next mini-batch', async () => {
    const { trainer, work, specs } = await lastStage();
    const { server, pushes, pulls } = heldServer();
    const answered: number[] = [];
    const ex = new StageExchange('j', specs.map((s) => s.name), 1, trainer, new GradientAccumulator(specs, createCodec('fp32')), server, (r) => r.ok && answered.push(r.version));

    const first = ex.pullNow();
    await tick();
    pulls.shift()!.answer(snapshot(specs, 5, 0.01));
    expect((await first).ok).toBe(true);

    // Step 0: push() resolves once the gradient is taken, with no answer yet (the stage goes on to the next mini-batch).
    expect(await ex.fresh(0)).toBeNull();
    await work();
    const p0 = await ex.push({ leaseId: 'r1', batches: 1, examples: 4, through: 0 });
    await tick();
    expect(pushes.map((p) => [p.what.replicaStep, p.what.baseVersion])).toEqual([[0, 5]]);

    // Step 1 is computed while step 0's commit is on its way; its push is taken but not sent before step 0's answer.
    expect(await ex.fresh(1)).toBeNull();
    await work();
    const p1 = await ex.push({ leaseId: 'r1', batches: 1, examples: 4, through: 1 });
    for (let i = 0; i < 5; i++) await tick();
    expect(pushes).toHaveLength(1);
    expect(pulls).toHaveLength(0);
    pushes.shift()!.answer(accepted(6));
    expect(await p0.answer).toEqual(accepted(6));
    expect(answered).toEqual([6]);
    for (let i = 0; i < 5; i++) await tick();
    // Step 1 was computed on version 5 (one step stale); the pull was asked for after step 0's answer.
    expect(pushes.map((p) => [p.what.replicaStep, p.what.baseVersion])).toEqual([[1, 5]]);
    expect(pulls.map((p) => p.what.tensors)).toEqual([specs.map((s) => s.name)]);

    // The next mini-batch starts with the pulled parameters (version 6), whatever it waits for.
    const fresh = ex.fresh(2);
    pulls.shift()!.answer(snapshot(specs, 6, 0.5));
    expect((await fresh)!.ok).toBe(true);
    pushes.shift()!.answer(accepted(7));
    await ex.settle();
    expect(await p1.answer).toEqual(accepted(7));
    await work();
    await ex.push({ leaseId: 'r1', batches: 1, examples: 4, through: 2 });
    await tick();
    await tick();
    expect(pushes.map((p) => [p.what.replicaStep, p.what.baseVersion])).toEqual([[2, 6]]);
    // Computed on the pulled parameters: every weight 0.5 makes every class equally likely, a loss of ln 10.
    expect(pushes[0]!.what.loss).toBeCloseTo(Math.log(10), 5);
    trainer.dispose();
  });

  it('one in flight (depth 1): the next mini-batch does not start before the answer to the push before it, and starts on the pull after it', async () => {
    const { trainer, work, specs } = await lastStage();
    const { server, pushes, pulls } = heldServer();
    const ex = new StageExchange('j', specs.map((s) => s.name), 1, trainer, new GradientAccumulator(specs, createCodec('fp32')), server, () => {}, 1);
    const first = ex.pullNow();
    await tick();
    pulls.shift()!.answer(snapshot(specs, 5, 0.01));
    await first;

    await ex.fresh(0);
    await work();
    const p0 = await ex.push({ leaseId: 'r1', batches: 1, examples: 4, through: 0 });
    let started = false;
    const next = ex.fresh(1).then((r) => ((started = true), r));
    for (let i = 0; i < 5; i++) await tick();
    // The stage does not go on while its step's commit is unanswered: no step is computed stale.
    expect(started).toBe(false);
    pushes.shift()!.answer(accepted(6));
    expect(await p0.answer).toEqual(accepted(6));
    for (let i = 0; i < 5; i++) await tick();
    pulls.shift()!.answer(snapshot(specs, 6, 0.5));
    expect((await next)!.ok).toBe(true);
    await work();
    await ex.push({ leaseId: 'r1', batches: 1, examples: 4, through: 1 });
    await tick();
    await tick();
    expect(pushes.map((p) => [p.what.replicaStep, p.what.baseVersion])).toEqual([[1, 6]]);
    trainer.dispose();
  });

  it.each([2, 3])('across the flush at depth %i, mini-batch n + depth does not start before the answer to the push n closed, and takes the pull after it; those before it do not wait', async (depth) => {
    const { trainer, work, specs } = await lastStage();
    const { server, pushes, pulls } = heldServer();
    const ex = new StageExchange('j', specs.map((s) => s.name), 1, trainer, new GradientAccumulator(specs, createCodec('fp32')), server, () => {}, depth);
    const first = ex.pullNow();
    await tick();
    pulls.shift()!.answer(snapshot(specs, 5, 0.01));
    await first;
    // Mini-batch 0 done and pushed (its push closes it: through 0); mini-batches 1 … depth − 1 go forward without its answer.
    await work();
    await ex.push({ leaseId: 'r1', batches: 1, examples: 4, through: 0 });
    for (let step = 1; step < depth; step++) expect(await ex.fresh(step)).toBeNull();
    let started = false;
    const next = ex.fresh(depth).then((r) => ((started = true), r));
    for (let i = 0; i < 5; i++) await tick();
    expect(started).toBe(false);
    pushes.shift()!.answer(accepted(6));
    for (let i = 0; i < 5; i++) await tick();
    // Answered; now the pull issued after it is awaited, and taken.
    expect(started).toBe(false);
    pulls.shift()!.answer(snapshot(specs, 6, 0.5));
    expect((await next)!.ok).toBe(true);
    await ex.settle();
    // Mini-batch 1 went forward on version 5: its push says so, though the layers now hold 6.
    await work();
    await ex.push({ leaseId: 'r1', batches: 1, examples: 4, through: 1 });
    await tick();
    await tick();
    expect(pushes.map((p) => [p.what.replicaStep, p.what.baseVersion])).toEqual([[1, 5]]);
    trainer.dispose();
  });

  it('pulls every nFetch answered pushes only', async () => {
    const { trainer, work, specs } = await lastStage();
    const { server, pushes, pulls } = heldServer();
    const ex = new StageExchange('j', specs.map((s) => s.name), 2, trainer, new GradientAccumulator(specs, createCodec('fp32')), server, () => {});
    for (let step = 0; step < 4; step++) {
      await work();
      // The previous push was answered, so this one goes out before push() resolves.
      await ex.push({ leaseId: 'r1', batches: 1, examples: 4 });
      pushes.shift()!.answer(accepted(step));
      await ex.settle();
    }
    // Answers to steps 0 … 3 came: pulls after the 2nd and the 4th.
    expect(pulls).toHaveLength(2);
    trainer.dispose();
  });

  it("asks for its tensors in the answer of a push a pull follows, takes them from it at the next mini-batch and sends no pull; an answer without them is pulled after", async () => {
    const { trainer, work, specs } = await lastStage();
    const { server, pushes, pulls } = heldServer();
    const names = specs.map((s) => s.name);
    const ex = new StageExchange('j', names, 2, trainer, new GradientAccumulator(specs, createCodec('fp32')), server, () => {});
    const asked: (string[] | null)[] = [];
    for (let step = 0; step < 2; step++) {
      await work();
      await ex.push({ leaseId: 'r1', batches: 1, examples: 4 });
      const push = pushes.shift()!;
      asked.push(push.what.pull?.tensors ?? null);
      // The second push's answer brings the tensors (every weight 0.5), as the coordinator's does.
      const snap = snapshot(specs, 9, 0.5);
      const { ok: _, ...params } = snap as Extract<typeof snap, { ok: true }>;
      push.answer(step === 1 ? ok({ version: 9, staleness: 0, params }) : accepted(8));
      await ex.settle();
    }
    expect(asked).toEqual([null, names]);
    const taken = await ex.fresh();
    expect(taken).toMatchObject({ ok: true, version: 9 });
    expect(pulls).toHaveLength(0);
    // Taken into the layers: every weight 0.5 makes every class equally likely, a loss of ln 10.
    await work();
    void ex.push({ leaseId: 'r1', batches: 1, examples: 4 });
    await tick();
    await tick();
    expect(pushes[0]!.what).toMatchObject({ baseVersion: 9 });
    expect(pushes[0]!.what.pull).toBeUndefined();
    expect(pushes[0]!.what.loss).toBeCloseTo(Math.log(10), 5);
    pushes.shift()!.answer(accepted(10));
    await ex.settle();
    await work();
    await ex.push({ leaseId: 'r1', batches: 1, examples: 4 });
    await tick();
    // It holds version 9 exactly as it came: the answer may be a delta since then.
    expect(pushes[0]!.what.pull).toEqual({ tensors: names, have: 9 });
    // Answered without them (a coordinator that does not hold them): the stage pulls after the answer.
    pushes.shift()!.answer(accepted(11));
    await ex.settle();
    expect(pulls.map((p) => p.what.tensors)).toEqual([names]);
    trainer.dispose();
  });

  it('takes an answer that is a delta since the version it holds, and pulls whole a delta since one it no longer holds', async () => {
    const { trainer, work, specs } = await lastStage();
    const { server, pushes, pulls } = heldServer();
    const names = specs.map((s) => s.name);
    const ex = new StageExchange('j', names, 1, trainer, new GradientAccumulator(specs, createCodec('fp32')), server, () => {});
    const base = snapshot(specs, 5, 0.01) as Extract<ReturnType<typeof snapshot>, { ok: true }>;
    const first = ex.pullNow();
    await tick();
    pulls.shift()!.answer(base);
    await first;
    // Version 6 changes one entry of the first tensor: the answer carries that entry only.
    const six = specs.map((s) => new Float32Array(s.shape.reduce((a, b) => a * b, 1)).fill(0.01));
    six[0]![3] = 0.25;
    const delta = diffParams(base as Parameters<typeof diffParams>[0], six, 5, { indices: new Uint32Array(0) })!;
    await work();
    await ex.push({ leaseId: 'r1', batches: 1, examples: 4, through: 0 });
    await tick();
    expect(pushes[0]!.what.pull).toEqual({ tensors: names, have: 5 });
    pushes.shift()!.answer(ok({ version: 6, staleness: 0, params: { jobId: 'j', version: 6, ...delta } }));
    await ex.settle();
    expect(await ex.fresh(1)).toMatchObject({ ok: true, version: 6 });
    const [kernel] = await trainer.readParams();
    expect(kernel![3]).toBeCloseTo(0.25, 6);
    expect(kernel![2]).toBeCloseTo(0.01, 6);
    expect(pulls).toHaveLength(0);

    // A delta since 5 when it holds 6: not applied; the stage pulls every tensor whole.
    await work();
    await ex.push({ leaseId: 'r1', batches: 1, examples: 4, through: 1 });
    await tick();
    pushes.shift()!.answer(ok({ version: 7, staleness: 0, params: { jobId: 'j', version: 7, ...delta } }));
    await ex.settle();
    const next = ex.fresh(2);
    for (let i = 0; i < 5; i++) await tick();
    expect(pulls.map((p) => p.what)).toEqual([{ jobId: 'j', tensors: names }]);
    pulls.shift()!.answer(snapshot(specs, 7, 0.5));
    expect(await next).toMatchObject({ ok: true, version: 7 });
    expect((await trainer.readParams())[0]![3]).toBeCloseTo(0.5, 6);
    trainer.dispose();
  });
});
