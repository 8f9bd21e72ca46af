/**
 * The norm bound on a job whose parameters are on 2 ps task processes (as `npm start --
 * --ps 2` starts them): each task judges its slices of every push against its own
 * bound, anchored by the chief's reference gradient per slice. Workers compute real
 * gradients of the mlp on MNIST (the browser's ModelTrainer) and push them through both
 * tasks (PsTransport); a 100×-scaled one is refused NORM_OUTLIER by the tasks, the chief
 * counts the refusal as a fault and bars the worker, and no task applies any of it.
 * Before this, such a job was refused PS_UNSUPPORTED at creation.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { joinAsGradientWorker, startCoordinator, type GradientWorker, type Running } from '../../test-support/index.js';
import { bits } from '../../test-support/ps-fixture.js';
import { pullFromTasks } from '../../test-support/ps-clients.js';
import { MAX_FAULTS_IN_A_ROW } from '../jobs/push-accounting.js';
import { MAX_CLIPS, WARM_PUSHES } from '../params/norm-bound.js';

let run: Running;
const workers: GradientWorker[] = [];

beforeAll(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
  // The spec's default bound (the test helper turns it off on ps tasks unless told).
  run = await startCoordinator({ model: 'mlp', normBound: 10 }, {}, { ps: 2 });
}, 120_000);
afterAll(async () => {
  workers.forEach((w) => w.close());
  await run?.close();
});

async function join(): Promise<GradientWorker> {
  const w = await joinAsGradientWorker(run.url);
  workers.push(w);
  return w;
}

/** What both tasks hold, as exact bits. */
const held = async (w: GradientWorker) => (await pullFromTasks(w.joined.job)).map(bits);

const lease = (w: GradientWorker) => w.joined.worker.emitWithAck('shard:lease', { jobId: w.joined.job.jobId });

describe('the norm bound on 2 ps tasks', () => {
  it('a 100×-scaled gradient from its first push is refused NORM_OUTLIER by the tasks, the worker barred at the chief, nothing applied', { timeout: 120_000 }, async () => {
    const bad = await join();
    expect(run.psEndpoints).toHaveLength(2);
    const before = await held(bad);
    const rejected = run.job.stats.pushesRejected[ErrorCode.NORM_OUTLIER] ?? 0;
    for (let i = 0; i < MAX_FAULTS_IN_A_ROW; i++) {
      expect(await bad.push(await bad.gradientAtPulled(100)), `push ${i}`).toMatchObject({ ok: false, code: ErrorCode.NORM_OUTLIER });
    }
    expect(run.job.stats.pushesRejected[ErrorCode.NORM_OUTLIER]).toBe(rejected + MAX_FAULTS_IN_A_ROW);
    expect(await lease(bad)).toMatchObject({ ok: false, code: ErrorCode.WORKER_BARRED });
    expect(run.job.version).toBe(0);
    expect(await held(bad)).toEqual(before);
  });

  it(`a warm worker turning to 100×: at most ${MAX_CLIPS} pushes clipped to the bound, then refused and barred, the refused pushes applied nowhere`, { timeout: 120_000 }, async () => {
    const w = await join();
    for (let i = 0; i < WARM_PUSHES; i++) {
      const r = await w.push(await w.gradientAtPulled());
      expect(r, `honest push ${i}`).toMatchObject({ ok: true });
      expect((r as { clipped?: number }).clipped, `honest push ${i} clipped`).toBeUndefined();
    }
    let clips = 0;
    let refused = 0;
    while (refused < MAX_FAULTS_IN_A_ROW) {
      const g = await w.gradientAtPulled(100);
      const before = await held(w);
      const r = await w.push(g);
      if (r.ok) {
        // Accepted only as a transient scaled down to the bound, never once refusals began.
        expect(refused).toBe(0);
        expect(r.clipped).toBeLessThan(0.2);
        clips += 1;
        continue;
      }
      expect(r).toMatchObject({ ok: false, code: ErrorCode.NORM_OUTLIER });
      expect(await held(w)).toEqual(before);
      refused += 1;
    }
    expect(clips).toBeGreaterThan(0);
    expect(clips).toBeLessThanOrEqual(MAX_CLIPS);
    expect(await lease(w)).toMatchObject({ ok: false, code: ErrorCode.WORKER_BARRED });
  });
});
