/** The volunteer page computes nothing before Start, and Pause stops its pushes. */
import { expect, test } from '@playwright/test';
import { startCoordinator, type Running } from '../server/test/helpers.js';
import { closeAndCheck, openWorker } from './workers.js';

let run: Running;
test.beforeAll(async () => {
  run = await startCoordinator({ name: 'e2e volunteer', model: 'mlp' });
});
test.afterAll(async () => run?.close());

test('Start begins training, Pause stops it', async ({ context }) => {
  const w = await openWorker(context, run.url, { backend: 'wasm' });
  await expect(w.page.getByRole('heading', { name: 'Downpour' })).toBeVisible();
  // Nothing runs without consent: no worker joined, no version moved.
  await w.page.waitForTimeout(1500);
  expect(run.coordinator.workers.list()).toHaveLength(0);
  expect(run.job.store.version).toBe(0);

  await w.page.getByRole('button', { name: 'Start' }).click();
  await expect(w.page.locator('#job-name')).toHaveText('e2e volunteer');
  await expect.poll(() => run.job.store.version, { timeout: 60_000 }).toBeGreaterThan(20);
  await expect(w.page.locator('#backend')).toHaveText('wasm (forced)');
  await w.page.screenshot({ path: test.info().outputPath('volunteer-desktop.png'), fullPage: true });
  await w.page.setViewportSize({ width: 390, height: 844 });
  await w.page.screenshot({ path: test.info().outputPath('volunteer-phone.png'), fullPage: true });

  await w.page.getByRole('button', { name: 'Pause' }).click();
  await expect(w.page.locator('#state')).toHaveText('paused');
  // At most the batch in flight lands after Pause.
  const atPause = run.job.store.version;
  await w.page.waitForTimeout(1500);
  expect(run.job.store.version).toBeLessThanOrEqual(atPause + 1);
  const settled = run.job.store.version;
  await w.page.waitForTimeout(1500);
  expect(run.job.store.version).toBe(settled);

  await w.page.getByRole('button', { name: 'Start' }).click();
  await expect.poll(() => run.job.store.version, { timeout: 30_000 }).toBeGreaterThan(settled + 5);
  await closeAndCheck([w]);
});
