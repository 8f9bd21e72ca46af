/**
 * A model split into stages in the round modes (docs/model-parallelism.md, "Split jobs in
 * round modes"): a real coordinator on port 0, four in-process stage workers
 * (bench/stage-worker.ts, tfjs cpu, frames over the relay) forming 2 replicas of the mlp
 * in 2 stages, on real MNIST. A round's members are the replicas: it closes when both
 * replicas' steps are complete, by its quorum, never by its deadline (with the workers
 * as members it would wait for the later stages, which never push for a round of their
 * own, until its deadline every time).
 */
import { describe, expect, it } from 'vitest';
import type { JobSpecInput } from '../../shared/job-spec.js';
import { type Running } from '../../test-support/index.js';
import { stageRunHooks, trainSplitRounds } from '../../test-support/stage-run.js';

// No test here times itself (speed is the benchmarks' business): the timeouts are loose enough
// for a loaded 2-core CI machine, where the four in-process stage workers share the cores.
const hooks = stageRunHooks();
let run: Running;

/** Starts 4 stage workers (2 replicas × 2 stages) and resolves once `count` replica steps were accepted. */
async function trainSplit(spec: JobSpecInput, count: number): Promise<{ versions: Set<number>; refusals: string[] }> {
  const trained = await trainSplitRounds(hooks, spec, count);
  run = trained.run;
  return trained;
}

describe('a model split into stages, in a round mode, 2 replicas × 2 stages', () => {
  it('sync: each round closes on both replicas\' complete steps, and the mlp trains', { timeout: 240_000 }, async () => {
    const { versions } = await trainSplit({ mode: 'sync' }, 160);
    const counters = run!.job.parameters.counters();
    // Every round closed on its quorum; each held both replicas' steps (the first ones may hold one, before the second replica formed).
    expect(counters.timedOut).toBe(0);
    expect(counters.rounds).toBeLessThanOrEqual(95);
    // Both replicas' steps of a round are answered with the round's one version.
    expect(versions.size).toBeLessThanOrEqual(95);
    const rec = await run!.job.evaluateIfChanged();
    expect(rec!.accuracy).toBeGreaterThan(0.6);
  });

  it('local: each stage takes its local steps on its own layers and pushes its delta; the rounds average the replicas\' and the mlp trains', { timeout: 240_000 }, async () => {
    // Rounds of 4 local steps: 160 steps of 32 per replica in 40 rounds.
    await trainSplit({ mode: 'local', localSteps: 4 }, 80);
    const counters = run!.job.parameters.counters();
    expect(counters.timedOut).toBe(0);
    expect(counters.rounds).toBeLessThanOrEqual(48);
    const rec = await run!.job.evaluateIfChanged();
    expect(rec!.accuracy).toBeGreaterThan(0.6);
  });
});
