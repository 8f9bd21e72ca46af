/**
 * The overhead benchmark's two sides (client/bench.html): the same engine in its Web
 * Worker, with the standalone exchange (the baseline: local optimizer steps, nothing
 * sent to the PS) or the job's exchange (through the PS). If the baseline stopped
 * training, leaked tensors or reached the PS, the bench's ratio would mean nothing.
 */
import { expect, test } from '@playwright/test';
import type { EngineStatus } from '../client/engine/status.js';
import { startCoordinator, type Running } from '../test-support/index.js';
import { closeAndCheck, openWorker, type WorkerPage } from './workers.js';

interface BenchWindow {
  downpour: { status: EngineStatus | null; losses: { loss: number; steps: number }[]; fatal: string | null };
}

let run: Running;
test.beforeAll(async () => {
  run = await startCoordinator({ name: 'e2e standalone', model: 'mlp' });
});
test.afterAll(async () => run?.close());

const losses = (w: WorkerPage) => w.page.evaluate(() => (window as unknown as BenchWindow).downpour.losses);

test('the standalone engine trains the MLP on wasm alone: loss falls, tensors flat, nothing reaches the PS', async ({ context }) => {
  const w = await openWorker(context, `${run.url}/bench.html`, { backend: 'wasm', exchange: 'standalone' });
  await expect.poll(async () => (await w.status()).batches, { timeout: 120_000 }).toBeGreaterThanOrEqual(5);
  const a = await w.status();
  await expect.poll(async () => (await w.status()).batches, { timeout: 120_000 }).toBeGreaterThanOrEqual(a.batches + 40);
  const b = await w.status();

  expect(b.state).toBe('training');
  expect(b.backend).toBe('wasm');
  expect(b.examplesContributed - a.examplesContributed).toBeGreaterThanOrEqual(40 * 32); // shards end in short batches
  expect(b.examplesPerSecond).toBeGreaterThan(0);
  expect(b.numTensors).toBe(a.numTensors);

  // Reported every 10 local steps: from random weights the MLP's loss must fall well within ~40 batches.
  const reported = await losses(w);
  expect(reported.length).toBeGreaterThanOrEqual(4);
  expect(reported.map((r) => r.steps).slice(0, 3)).toEqual([10, 20, 30]);
  const first = reported[0]!.loss;
  const last = reported.at(-1)!.loss;
  test.info().annotations.push({ type: 'loss', description: `${first.toFixed(3)} → ${last.toFixed(3)} over ${reported.at(-1)!.steps} steps` });
  expect(last).toBeLessThan(0.6 * first);

  // Standalone: the PS applied nothing, though the engine leased shards like any worker.
  expect(run.job.summary().version).toBe(0);
  expect(run.job.summary().examplesSeen).toBe(0);
  await closeAndCheck([w]);
});

test("the bench page's distributed side trains through the PS with the job's exchange", async ({ context }) => {
  const w = await openWorker(context, `${run.url}/bench.html`, { backend: 'wasm', exchange: 'job' });
  await expect.poll(async () => (await w.status()).pushesAccepted, { timeout: 120_000 }).toBeGreaterThanOrEqual(10);
  expect(run.job.summary().version).toBeGreaterThanOrEqual(10);
  expect(await losses(w)).toEqual([]);
  await closeAndCheck([w]);
});

test('the bench page refuses an unknown exchange with a coded message', async ({ page }) => {
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${run.url}/bench.html?backend=wasm&exchange=solo`);
  await expect(page.locator('#out')).toHaveText('BAD_REQUEST: ?exchange= must be one of job, standalone, got "solo"');
  expect(errors).toEqual([expect.stringContaining('BAD_REQUEST')]);
});
