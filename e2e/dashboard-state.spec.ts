/**
 * What the dashboard says about itself: while its live connection is down it marks
 * everything as last known rather than "running · 1 worker" as if live; a chart with a
 * single evaluation spans minutes, not years; a stopped job reads "stopped", not "done".
 */
import { expect, test, type Page } from '@playwright/test';
import type { ExtendedError } from 'socket.io';
import { OPERATOR_NAMESPACE } from '../shared/operator-protocol.js';
import { joinAssigned, startCoordinator, type Running, type TestWorker } from '../test-support/index.js';

const TOKEN = 'dashboard-state-token';
let run: Running;
const sockets: TestWorker[] = [];
/** While true, the operator namespace refuses connections (the coordinator "goes away" for the dashboard). */
let refuseDashboards = false;

test.beforeAll(async () => {
  run = await startCoordinator({ model: 'mlp', name: 'state check' }, { operatorToken: TOKEN });
  run.coordinator.io.of(OPERATOR_NAMESPACE).use((_socket, next: (err?: ExtendedError) => void) => next(refuseDashboards ? new Error('refused by the test') : undefined));
  await joinAssigned(run.url, sockets, 'state-check worker');
});
test.afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await run?.close();
});

async function signIn(page: Page): Promise<string[]> {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  await page.goto(`${run.url}/dashboard`);
  await page.getByLabel('Operator token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('#connection')).toHaveText(/connected/);
  return errors;
}

test('while disconnected, the dashboard says its data is the last known, and recovers', async ({ page }) => {
  const errors = await signIn(page);
  const row = page.locator(`.job-select[data-job-id="${run.job.id}"]`);
  await expect(row.locator('.badge')).toHaveText('running');
  await expect(row.locator('.job-stats')).toContainText('· 1 worker ·');
  await expect(page.locator('#stale-banner')).toBeHidden();

  refuseDashboards = true;
  run.coordinator.io.of(OPERATOR_NAMESPACE).disconnectSockets(true);
  await expect(page.locator('#connection')).toHaveText(/^Disconnected/);
  await expect(page.locator('#stale-banner')).toBeVisible();
  await expect(page.locator('#stale-banner')).toContainText('not live');
  await expect(row.locator('.badge')).toHaveText('running?');
  await expect(page.locator('#job-state')).toHaveText('running?');
  await expect(page.locator('#worker-count')).toHaveText('1 connected (last known)');

  refuseDashboards = false;
  await expect(page.locator('#connection')).toHaveText('Live: connected', { timeout: 20_000 });
  await expect(page.locator('#stale-banner')).toBeHidden();
  await expect(row.locator('.badge')).toHaveText('running');
  await expect(page.locator('#worker-count')).toHaveText('1 connected');
  // socket.io logs the refused handshakes itself.
  expect(errors.filter((e) => !/WebSocket connection .* failed|refused by the test/.test(e))).toEqual([]);
});

test('one evaluation spans minutes on the time axis; a stopped job reads stopped', async ({ page }) => {
  const errors = await signIn(page);
  const created = await run.coordinator.createJob({ model: 'mlp', name: 'one point', evalIntervalSeconds: 3600 }, { start: false });
  if (!created.ok) throw new Error(created.message);
  // Stopping evaluates the job once, so it has exactly one evaluation.
  expect(created.job.control('stop').ok).toBe(true);
  await expect.poll(() => created.job.evals.length, { timeout: 60_000 }).toBe(1);

  await page.locator(`.job-select[data-job-id="${created.job.id}"]`).click();
  await expect(page.locator('#job-state')).toHaveText('stopped');
  const chart = page.locator('#chart-test-time');
  await expect(chart).toHaveAttribute('data-points', '1');
  const span = Number(await chart.getAttribute('data-x-span'));
  expect(span, 'seconds on the time axis').toBeGreaterThan(0);
  expect(span, 'seconds on the time axis').toBeLessThanOrEqual(600);
  expect(errors).toEqual([]);
});
