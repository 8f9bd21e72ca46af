/**
 * The network cost on the volunteer page (issue 14, defect 2): an estimate per hour
 * before Start, bytes each way per second and per visit while training, a data cap
 * that holds the engine back and is remembered, and "only on unmetered connections"
 * from navigator.connection (a stand-in the test can switch; headless desktop
 * Chromium reports no connection type).
 */
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { startCoordinator, type Running } from '../test-support/index.js';
import { closeAndCheck, openWorker, type WorkerPage } from './workers.js';

let run: Running;
test.beforeAll(async () => {
  // fp32: ~400 kB each push and pull, so a small cap bites within a few batches.
  run = await startCoordinator({ name: 'network cost', model: 'mlp', codec: 'fp32' });
});
test.afterAll(async () => run?.close());

const pushes = async (w: WorkerPage) => (await w.status()).pushesAccepted;

async function trains(w: WorkerPage, by = 2): Promise<void> {
  const from = await pushes(w);
  await expect.poll(() => pushes(w), { timeout: 60_000 }).toBeGreaterThan(from + by);
}

test('before Start the page estimates the cost per hour; while training it counts bytes each way', async ({ context }) => {
  const w = await openWorker(context, run.url, { backend: 'wasm' });
  await expect(w.page.locator('#job-network')).toContainText(/about [\d.]+ (MB|GB) per hour both ways at 1,000 examples\/s/);
  await expect(w.page.locator('#job-network')).toContainText('fp32 updates');
  await w.page.getByRole('button', { name: 'Start' }).click();
  await trains(w);
  const s = await w.status();
  // At least one fp32 push (~407 kB) per accepted push went out, and a pull per batch came in.
  expect(s.bytesSent).toBeGreaterThan(s.pushesAccepted * 400_000);
  expect(s.bytesReceived).toBeGreaterThan(s.pushesAccepted * 400_000);
  await expect(w.page.locator('#net-sent')).toContainText(/[\d.]+ (kB|MB)\/s · [\d.]+ MB this visit/);
  await expect(w.page.locator('#net-received')).toContainText(/MB this visit/);
  // Once trained, the estimate is at this device's rate.
  await expect(w.page.locator('#job-network')).toContainText('at this device’s');
  await closeAndCheck([w]);
});

test('a data cap holds the engine back, says so, and is remembered', async ({ context }) => {
  const w = await openWorker(context, run.url, { backend: 'wasm' });
  await w.page.getByLabel('Data cap').selectOption('20');
  await w.page.getByRole('button', { name: 'Start' }).click();
  // 20 MB/h: a bucket of 256 kB refilled at 5.6 kB/s; one batch (~800 kB) empties it for minutes.
  await expect.poll(async () => (await w.status()).heldByDataCap, { timeout: 60_000 }).toBe(true);
  await expect(w.page.locator('#net-held')).toBeVisible();
  await expect(w.page.locator('#job-network')).toContainText('Your cap of 20 MB per hour slows training to fit');
  const held = await w.status();
  expect(held.pushesAccepted).toBeLessThanOrEqual(2);
  await w.page.reload();
  await expect(w.page.getByLabel('Data cap')).toHaveValue('20');
  await expect.poll(async () => (await w.status()).dataCapMbPerHour).toBe(20); // once the new engine reports
  await w.page.getByLabel('Data cap').selectOption('');
  await expect.poll(async () => (await w.status()).dataCapMbPerHour).toBeNull();
  await trains(w);
  await closeAndCheck([w]);
});

async function fakeConnection(context: BrowserContext, fields: Record<string, unknown>): Promise<void> {
  await context.addInitScript((f) => {
    const connection = Object.assign(new EventTarget(), f);
    (window as unknown as { testConnection: typeof connection }).testConnection = connection;
    Object.defineProperty(Navigator.prototype, 'connection', { get: () => connection, configurable: true });
  }, fields);
}

const setConnection = (page: Page, fields: Record<string, unknown>) =>
  page.evaluate((f) => {
    const c = (window as unknown as { testConnection: EventTarget }).testConnection;
    Object.assign(c, f);
    c.dispatchEvent(new Event('change'));
  }, fields);

test('only on unmetered connections: a cellular link or the data saver pauses, wifi resumes', async ({ context }) => {
  await fakeConnection(context, { type: 'cellular', saveData: false, effectiveType: '4g' });
  const w = await openWorker(context, run.url, { backend: 'wasm' });
  await w.page.getByLabel('Compute only on unmetered connections').check();
  await expect(w.page.locator('#unmetered-note')).toHaveText('(metered now: cellular, speed class 4g)');
  await w.page.getByRole('button', { name: 'Start' }).click();
  await expect(w.page.locator('#state')).toHaveText('auto-paused');
  await expect(w.page.locator('#notice')).toContainText('the connection is metered (cellular');
  expect((await w.status()).state).toBe('stopped'); // never started
  await setConnection(w.page, { type: 'wifi' });
  await trains(w);
  await setConnection(w.page, { saveData: true });
  await expect(w.page.locator('#state')).toHaveText('auto-paused');
  await expect(w.page.locator('#notice')).toContainText('data saver on');
  await closeAndCheck([w]);
});

test('where the browser has no connection API the option says it does nothing, and the tab computes', async ({ context }) => {
  await context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'connection', { get: () => undefined, configurable: true }));
  const w = await openWorker(context, run.url, { backend: 'wasm' });
  await w.page.getByLabel('Compute only on unmetered connections').check();
  await expect(w.page.locator('#unmetered-note')).toContainText('does not say whether its connection is metered');
  await w.page.getByRole('button', { name: 'Start' }).click();
  await trains(w);
  await closeAndCheck([w]);
});
