/**
 * A test file's coordinator and in-process stage workers (bench/stage-worker.ts, tfjs
 * cpu), each test's closed after it: the hooks every split-model training test shares.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll } from 'vitest';
import type { StageWorker } from '../bench/stage-worker.js';
import { asBytes } from '../shared/codec.js';
import type { GradientPush } from '../shared/protocol.js';
import { startCoordinator, type Running } from './coordinator.js';

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
 * A stage's push with every value multiplied by `factor`, as a hostile stage sends it
 * (100: its part blown up; −1: its part sign-flipped). The job's codec must be fp32.
 */
export function scaledPush(push: GradientPush, factor: number): GradientPush {
  const values = new Float32Array(asBytes(push.data).slice().buffer);
  for (let i = 0; i < values.length; i++) values[i]! *= factor;
  return { ...push, data: new Uint8Array(values.buffer) };
}
