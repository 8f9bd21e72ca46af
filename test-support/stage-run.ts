/**
 * A test file's coordinator and in-process stage workers (bench/stage-worker.ts, tfjs
 * cpu), each test's closed after it: the hooks every split-model training test shares.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, expect } from 'vitest';
import { startStageWorker, type StageWorker } from '../bench/stage-worker.js';
import { asBytes } from '../shared/codec.js';
import type { JobSpecInput } from '../shared/job-spec.js';
import type { GradientPush, PushAccepted } from '../shared/protocol.js';
import type { Result } from '../shared/result.js';
import { startCoordinator, type ClusterOption, type Running } from './coordinator.js';

export function stageRunHooks(): { start: typeof startCoordinator; workers: StageWorker[] } {
  let run: Running | null = null;
  const workers: StageWorker[] = [];
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) w.close();
    await run?.close();
    run = null;
  });
  return {
    start: async (...args) => (run = await startCoordinator(...args)),
    workers,
  };
}

/**
 * The mlp in 2 stages × 2 replicas (4 stage workers, M = 4, batch 32) in a round mode
 * (`spec`), until `count` replica steps were accepted; then the workers stop. Answers
 * the running coordinator, the versions the steps were answered with and the codes of
 * the refused ones (stage 0's answers: one per step).
 */
export async function trainSplitRounds(hooks: ReturnType<typeof stageRunHooks>, spec: JobSpecInput, count: number, cluster: ClusterOption = {}): Promise<{ run: Running; versions: Set<number>; refusals: string[] }> {
  const run = await hooks.start({ model: 'mlp', stages: 2, microbatches: 4, batchSize: 32, roundTimeoutSeconds: 20, ...spec }, {}, cluster);
  let accepted = 0;
  const versions = new Set<number>();
  const refusals: string[] = [];
  let resolve = () => {};
  const reached = new Promise<void>((r) => (resolve = r));
  const pushed = (r: Result<PushAccepted>, stage: number) => {
    if (stage !== 0) return;
    if (!r.ok) return void refusals.push(r.code);
    versions.add(r.version);
    if (++accepted === count) resolve();
  };
  for (let i = 0; i < 4; i++) hooks.workers.push(await startStageWorker(run.url, { pushed }));
  await reached;
  expect(run.job.replicas!.list()).toHaveLength(2);
  for (const w of hooks.workers.splice(0)) w.close();
  return { run, versions, refusals };
}

/**
 * A stage's push with every value multiplied by `factor`, as a hostile stage sends it
 * (100: its part blown up; −1: its part sign-flipped). The job's codec must be fp32.
 */
export function scaledPush(push: GradientPush, factor: number): GradientPush {
  const values = new Float32Array(asBytes(push.data).slice().buffer);
  for (let i = 0; i < values.length; i++) values[i]! *= factor;
  return { ...push, data: new Uint8Array(values.buffer) };
}
