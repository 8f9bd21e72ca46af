/**
 * Overlap across the flush end to end (docs/model-parallelism.md, "Overlap across the
 * flush"): a real coordinator on port 0, stage workers over socket.io and the relay
 * (bench/stage-worker.ts, tfjs cpu), a job without the norm bound so its replicas
 * overlap (ReplicaAssignment.depth). Stage 0 and a middle stage start mini-batch n + 1
 * while n is still in flight there, up to pipelineDepth − 1 beside it at stage 0; every
 * committed step is at most pipelineDepth − 1 steps stale (its replica's own steps,
 * nothing else pushing) and the bound is reached; the mlp in 3 stages still trains.
 * And a stage closed with two mini-batches in flight drops both cleanly: every shard of
 * every epoch is still trained.
 */
import { describe, expect, it } from 'vitest';
import { startStageWorker } from '../../bench/stage-worker.js';
import type { PushAccepted } from '../../shared/protocol.js';
import type { Result } from '../../shared/result.js';
import { acceptedSteps } from '../../test-support/accepted-steps.js';
import { type Running } from '../../test-support/index.js';
import { stageRunHooks } from '../../test-support/stage-run.js';

const { start, workers } = stageRunHooks();
let run: Running;

describe('across the flush (a job without the norm bound)', () => {
  it.each([2, 3])('pipelineDepth %i: stage 0 and a middle stage start a mini-batch while earlier ones are in flight; every step is at most depth − 1 stale; the mlp in 3 stages trains', { timeout: 180_000 }, async (depth) => {
    run = await start({ model: 'mlp', stages: 3, microbatches: 4, batchSize: 32, normBound: 0, pipelineDepth: depth });
    const steps = acceptedSteps(120);
    const staleness: number[] = [];
    /** Per stage: mini-batches started, and those started with an earlier one still in flight there. */
    const starts = [0, 0, 0];
    const overlapped = [0, 0, 0];
    /** Per stage: the most mini-batches in flight beside one starting. */
    const beside = [0, 0, 0];
    const events = {
      pushed: (r: Result<PushAccepted>, stage: number) => {
        steps.pushed(r, stage);
        if (r.ok && stage === 0) staleness.push(r.staleness);
      },
      started: (_step: number, earlier: number, stage: number) => {
        starts[stage]! += 1;
        if (earlier > 0) overlapped[stage]! += 1;
        beside[stage] = Math.max(beside[stage]!, earlier);
      },
    };
    for (let i = 0; i < 3; i++) workers.push(await startStageWorker(run.url, events));
    await steps.reached;
    for (const w of workers.splice(0)) w.close();
    // Across the flush at the stages that send forward: most mini-batches start beside the one before.
    expect(overlapped[0]!).toBeGreaterThan(starts[0]! / 2);
    expect(overlapped[1]!).toBeGreaterThan(0);
    // The last stage finishes each micro-batch as it comes: nothing of it is left when the next starts.
    expect(overlapped[2]).toBe(0);
    expect(beside[0]).toBe(depth - 1);
    // depth − 1 steps stale at most, and the overlap reaches the bound.
    expect(Math.max(...staleness)).toBe(depth - 1);
    const rec = await run.job.evaluateIfChanged();
    expect(rec!.accuracy).toBeGreaterThan(0.5);
  });

  it('a stage closed with two mini-batches in flight dissolves its replica cleanly; every shard of every epoch is trained', { timeout: 180_000 }, async () => {
    run = await start({ model: 'mlp', dataset: 'iris', stages: 2, microbatches: 2, batchSize: 5, shardSize: 10, epochs: 2, normBound: 0 });
    const job = run.job;
    let resolveDone = () => {};
    const done = new Promise<void>((r) => (resolveDone = r));
    const early = acceptedSteps(3);
    let overlapped = 0;
    const events = {
      pushed: early.pushed,
      started: (_step: number, earlier: number) => (overlapped += earlier > 0 ? 1 : 0),
      assigned: (j: unknown) => j === null && resolveDone(),
    };
    const a = await startStageWorker(run.url, events);
    const b = await startStageWorker(run.url, events);
    workers.push(a, b);
    await early.reached;
    const first = job.replicas!.list()[0]!;
    workers.push(await startStageWorker(run.url, events));
    workers.find((w) => w.workerId === first.members[1])!.close();
    await done;
    expect(overlapped).toBeGreaterThan(0);
    expect(job.state).toBe('done');
    expect(job.ledger.epochsCompleted).toBe(2);
    expect(job.stats.examplesSeen).toBeGreaterThanOrEqual(2 * job.ledger.shardSizes.reduce((x, y) => x + y, 0));
  });
});
