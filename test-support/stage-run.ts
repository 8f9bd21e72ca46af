/**
 * A test file's coordinator and in-process stage workers (bench/stage-worker.ts, tfjs
 * cpu), each test's closed after it: the hooks every split-model training test shares.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll } from 'vitest';
import type { StageWorker } from '../bench/stage-worker.js';
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
