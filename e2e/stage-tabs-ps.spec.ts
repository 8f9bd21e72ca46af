/**
 * Model parallelism on ps tasks in the browser: two headless Chromium tabs form one
 * replica of the mlp split in 2 stages whose parameters are on two ps task processes
 * (as `npm start -- --ps 2` starts them). Each tab's stage pulls and holds only its own
 * slices on the tasks (stage-ps-transport.ts), the chief closes each replica step on
 * both tasks at once, and the two train it to ≥ 95 % test accuracy.
 */
import { expect, test } from '@playwright/test';
import { startCoordinator, type Running } from '../test-support/index.js';
import { closeAndCheck, openWorker, type WorkerPage } from './workers.js';

let run: Running;
test.afterEach(async () => run?.close());

test('two tabs, one replica of the mlp in 2 stages on 2 ps tasks, train it to ≥ 95 %', async ({ context }) => {
  // As e2e/stage-tabs.spec.ts: few, large steps with Adam, since each step waits for both stages' holds and the close.
  run = await startCoordinator(
    { name: 'e2e stages on ps tasks', model: 'mlp', stages: 2, batchSize: 512, microbatches: 4, optimizer: { type: 'adam', learningRate: 0.008 }, evalIntervalSeconds: 4, epochs: 50 },
    {},
    { ps: 2 },
  );
  const tabs: WorkerPage[] = [];
  for (let i = 0; i < 2; i++) tabs.push(await openWorker(context, run.url, { autostart: '1', backend: 'wasm' }));
  await expect.poll(async () => (await Promise.all(tabs.map(async (t) => (await t.status()).stage?.stage ?? null))).sort(), { timeout: 60_000 }).toEqual([0, 1]);
  const started = Date.now();
  try {
    await expect.poll(() => run.job.summary().lastEval?.accuracy ?? 0, { timeout: 4 * 60_000, intervals: [2000] }).toBeGreaterThanOrEqual(0.95);
  } finally {
    test.info().annotations.push({ type: 'progress', description: `${(Date.now() - started) / 1000} s: ${JSON.stringify(run.job.summary())}` });
  }
  for (const t of tabs) expect((await t.status()).pushesAccepted).toBeGreaterThan(10);
  // Every replica step the chief credited was closed on both tasks: one global step each.
  expect(run.job.stats.pushesAccepted).toBe(run.job.version);
  expect(run.psEndpoints).toHaveLength(2);
  await closeAndCheck(tabs);
});
