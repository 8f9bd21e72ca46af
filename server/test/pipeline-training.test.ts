/**
 * Model parallelism end to end without a browser: a real coordinator on port 0 and
 * stage workers over socket.io (bench/stage-worker.ts: StageTrainer and StageRunner on
 * tfjs cpu, frames over the coordinator's relay). The mlp split in 2 stages trains on
 * real MNIST to well above chance; and with a stage closed mid-epoch (as a tab closes)
 * its replica dissolves, the waiting worker takes its place and the job still trains
 * every shard of every epoch to its end.
 */
import { describe, expect, it, vi } from 'vitest';
import { startStageWorker } from '../../bench/stage-worker.js';
import type { PushAccepted } from '../../shared/protocol.js';
import type { Result } from '../../shared/result.js';
import { acceptedSteps } from '../../test-support/accepted-steps.js';
import { type Running } from '../../test-support/index.js';
import { stageRunHooks } from '../../test-support/stage-run.js';

const { start, workers } = stageRunHooks();
let run: Running;

describe('a model split into 2 stages over the relay', () => {
  it('trains the mlp on MNIST to well above chance within 150 replica steps', { timeout: 180_000 }, async () => {
    run = await start({ model: 'mlp', stages: 2, microbatches: 4, batchSize: 32 });
    const steps = acceptedSteps(150);
    workers.push(await startStageWorker(run.url, { pushed: steps.pushed }), await startStageWorker(run.url, { pushed: steps.pushed }));
    await steps.reached;
    const stages = workers.splice(0);
    for (const w of stages) w.close();
    // 150 steps of 32, fewer where a shard's last batch is short (1000 = 31 × 32 + 8).
    expect(run.job.stats.examplesSeen).toBeGreaterThanOrEqual(150 * 31);
    const rec = await run.job.evaluateIfChanged();
    // Chance is 10 %; the unsplit mlp reaches about 85 % after as many batches.
    expect(rec!.accuracy).toBeGreaterThan(0.6);
    // Activations one way, their gradients the other, through the relay.
    expect(Math.min(...stages.map((w) => w.traffic.bytesReceived))).toBeGreaterThan(0);
  });

  it('in 3 stages (a first stage without weights, a middle stage passing both ways) trains too', { timeout: 180_000 }, async () => {
    run = await start({ model: 'mlp', stages: 3, microbatches: 4, batchSize: 32 });
    const steps = acceptedSteps(60);
    for (let i = 0; i < 3; i++) workers.push(await startStageWorker(run.url, { pushed: steps.pushed }));
    await steps.reached;
    const replica = run.job.replicas!.list()[0]!;
    expect(replica.plan.stages.map((s) => [s.from, s.to])).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
    for (const w of workers.splice(0)) w.close();
    const rec = await run.job.evaluateIfChanged();
    expect(rec!.accuracy).toBeGreaterThan(0.4);
  });

  // Measured: the cnn's early transient comes in some runs and not others, at either depth, because which pull a step
  // starts on depends on when answers come (pushes go beside the work). At depth 2: stage 1's part clipped at steps 17
  // and 18 (0.90, 0.85); at depth 3: stage 0's clipped at step 17, within at 18, over at 19, which the rule before the
  // clip window refused (then the test failed 1 run in 4). So what is asserted is what must hold in every run: no
  // refusal, no bar, r1 still training; the clip rule itself is proven step by step in norm-bound.test.ts.
  it.each([2, 3])('the cnn with the default norm bound and pipelineDepth %i passes its early steps without a refusal or a bar', { timeout: 180_000 }, async (depth) => {
    // The trusted reference stays the initial norm (startCoordinator's 3600 s refresh): the transient is then 17× it.
    run = await start({ model: 'cnn', stages: 2, microbatches: 4, pipelineDepth: depth });
    expect(run.job.spec.normBound).toBe(10);
    const steps = acceptedSteps(30);
    /** Both stages' answers: each carries its own part's clip (the bound judges each stage's part on its own). */
    const answers: { stage: number; r: Result<PushAccepted> }[] = [];
    let refused = () => {};
    // A refusal ends the wait at once.
    const firstRefusal = new Promise<void>((r) => (refused = r));
    const pushed = (r: Result<PushAccepted>, stage: number) => {
      answers.push({ stage, r });
      if (!r.ok) refused();
      steps.pushed(r, stage);
    };
    const staged: boolean[] = [];
    for (let i = 0; i < 2; i++) workers.push(await startStageWorker(run.url, { pushed, staged: (j) => staged.push(j.replica!.depth > 1) }));
    await Promise.race([steps.reached, firstRefusal]);
    expect(staged).toEqual([true, true]);
    expect(answers.filter(({ r }) => !r.ok)).toEqual([]);
    // Whatever was clipped is counted, once per replica step (both stages' answers to a step carry its version). The
    // coordinator counts a step's clip as it commits it, a moment before its answers reach the stages, and the stages
    // train on: the count and the answers agree once the answers in transit are in.
    const clippedSteps = () => new Set(answers.flatMap(({ r }) => (r.ok && r.clipped !== undefined && r.clipped < 1 ? [r.version] : []))).size;
    await vi.waitFor(() => expect(run.job.stats.pushesClipped).toBe(clippedSteps()), { timeout: 30_000, interval: 20 });
    expect(run.job.stats.pushesRejected).toEqual({});
    expect(run.job.replicas!.list().map((r) => r.id)).toEqual(['r1']);
  });

  it('stage 0 runs on across a piece\'s end: it leases the next piece while the current one is in flight, completes each once its pushes are in, and every example is accepted once', { timeout: 180_000 }, async () => {
    // iris: 12 training pieces of 10, 2 mini-batches of 5 each; with 3 mini-batches in flight the next piece is asked for at once.
    run = await start({ model: 'mlp', dataset: 'iris', stages: 2, microbatches: 1, batchSize: 5, shardSize: 10, epochs: 2, normBound: 0 });
    const job = run.job;
    const heldAtGrant: number[] = [];
    const granted: string[] = [];
    const completedLeases: string[] = [];
    // Observed, not replaced: the job's own lease and complete answer.
    const lease = job.lease.bind(job);
    job.lease = (workerId) => {
      const r = lease(workerId);
      if (r.ok && r.lease) {
        heldAtGrant.push(job.ledger.leasesOf(workerId).length);
        granted.push(r.lease.leaseId);
      }
      return r;
    };
    const complete = job.complete.bind(job);
    job.complete = (workerId, leaseId) => {
      const r = complete(workerId, leaseId);
      if (r.ok) completedLeases.push(leaseId);
      return r;
    };
    let resolveDone = () => {};
    const done = new Promise<void>((r) => (resolveDone = r));
    const events = { assigned: (j: unknown) => j === null && resolveDone() };
    workers.push(await startStageWorker(run.url, events), await startStageWorker(run.url, events));
    await done;
    expect(job.state).toBe('done');
    expect(job.ledger.epochsCompleted).toBe(2);
    // Before, stage 0 drained the pipeline and completed a piece before it leased the next: it never held two.
    expect(Math.max(...heldAtGrant)).toBe(2);
    expect(granted).toHaveLength(2 * job.ledger.shardCount);
    // Each completed once, in order; the last one's push ended the job, so its completion may come after the end (refused, not counted).
    expect(completedLeases.length).toBeGreaterThanOrEqual(granted.length - 1);
    expect(completedLeases).toEqual(granted.slice(0, completedLeases.length));
    // Nothing refused, nothing dropped: each example of both epochs accepted exactly once.
    expect(job.stats.examplesSeen).toBe(2 * job.ledger.shardSizes.reduce((a, b) => a + b, 0));
  });

  it('a stage closed mid-epoch dissolves its replica; the waiting worker takes its place and every shard of every epoch is trained', { timeout: 180_000 }, async () => {
    run = await start({ model: 'mlp', dataset: 'iris', stages: 2, microbatches: 2, batchSize: 5, shardSize: 10, epochs: 2 });
    const job = run.job;
    const dissolved: string[] = [];
    let resolveDone = () => {};
    const done = new Promise<void>((r) => (resolveDone = r));
    const early = acceptedSteps(3);
    const events = {
      pushed: early.pushed,
      unstaged: (reason: string) => {
        if (reason.includes('dissolved')) dissolved.push(reason);
      },
      assigned: (j: unknown) => j === null && resolveDone(),
    };
    const a = await startStageWorker(run.url, events);
    const b = await startStageWorker(run.url, events);
    workers.push(a, b);
    await early.reached;
    const firstReplica = job.replicas!.list()[0]!;
    const c = await startStageWorker(run.url, events);
    workers.push(c);
    expect(job.replicas!.waiting).toEqual([c.workerId]);
    // The last stage goes, as a closed tab does, mid-epoch.
    const closed = workers.find((w) => w.workerId === firstReplica.members[1])!;
    closed.close();
    await done;
    // r1 told its remaining stage; r2 told its stages when the job ended (each before its job:assign null); no replica formed after.
    expect(dissolved[0]).toBe('replica r1 dissolved: a stage left');
    expect(new Set(dissolved.slice(1))).toEqual(new Set(['replica r2 dissolved: the job is done']));
    expect(job.state).toBe('done');
    expect(job.ledger.epochsCompleted).toBe(2);
    // Every example of both epochs was accepted at least once (the dropped step was trained again).
    expect(job.stats.examplesSeen).toBeGreaterThanOrEqual(2 * job.ledger.shardSizes.reduce((a, b) => a + b, 0));
    expect(job.replicas!.list().map((r) => r.id)).not.toContain('r1');
  });
});
