/**
 * A model split into stages, in a round mode, on ps tasks (docs/model-parallelism.md,
 * "Split jobs in round modes", "On ps tasks"): a real coordinator over 2 ps task
 * processes (as `npm start -- --ps 2` starts them) and four in-process Node stage
 * workers (bench/stage-worker.ts, tfjs cpu, frames over the relay) forming 2 replicas of
 * the mlp in 2 stages, on real MNIST. Each stage holds its part of a round on the tasks
 * of its own slices; a round's members are the replicas, closed on both tasks by the
 * chief. Before this, both jobs were refused PS_UNSUPPORTED at creation.
 */
import { describe, expect, it } from 'vitest';
import { stageRunHooks, trainSplitRounds } from '../../test-support/stage-run.js';

// No test here times itself (speed is the benchmarks' business, as in pipeline-rounds): the timeouts
// are loose enough for a loaded 2-core CI machine running 2 task processes beside the four stage workers.
const hooks = stageRunHooks();

describe('a model split into 2 stages, 2 replicas, in a round mode on 2 ps tasks', () => {
  it("sync: each round closes on both tasks with the replicas' complete steps, and the mlp trains", { timeout: 240_000 }, async () => {
    const { run, versions } = await trainSplitRounds(hooks, { mode: 'sync' }, 120, { ps: 2 });
    const counters = run.job.parameters.counters();
    // Every round closed on its quorum (both replicas, or the one formed yet at the start), none by its deadline.
    expect(counters.timedOut).toBe(0);
    expect(counters.rounds).toBeLessThanOrEqual(72);
    expect(versions.size).toBeLessThanOrEqual(72);
    // One global step a round: every close reached both tasks (a close that did not would have held the job).
    expect(run.job.version).toBe(counters.rounds);
    const rec = await run.job.evaluateIfChanged();
    // Chance is 10 %.
    expect(rec!.accuracy).toBeGreaterThan(0.6);
  });

  it("local: each stage takes its local steps and holds its delta on the tasks; the rounds average the replicas' and the mlp trains", { timeout: 240_000 }, async () => {
    // Rounds of 4 local steps: 128 steps of 32 per replica in 32 rounds.
    const { run } = await trainSplitRounds(hooks, { mode: 'local', localSteps: 4 }, 64, { ps: 2 });
    const counters = run.job.parameters.counters();
    expect(counters.timedOut).toBe(0);
    expect(counters.rounds).toBeLessThanOrEqual(40);
    const rec = await run.job.evaluateIfChanged();
    expect(rec!.accuracy).toBeGreaterThan(0.6);
  });
});
