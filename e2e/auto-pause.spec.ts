/**
 * "Compute only when I am away" and "only while charging" (what BOINC volunteers
 * expect): device-wide idleness through the real Idle Detection API where the browser
 * permits it (driven here by Chromium's idle emulation), else this tab's own input
 * (time stepped by Playwright's clock, not waited for); the charging state from the
 * Battery Status API, and what the page says where the browser has none.
 */
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { startCoordinator, type Running } from '../test-support/index.js';
import { closeAndCheck, openWorker, type WorkerPage } from './workers.js';

let run: Running;
test.beforeAll(async () => {
  run = await startCoordinator({ name: 'auto-pause', model: 'mlp' });
});
test.afterAll(async () => run?.close());

const pushes = async (w: WorkerPage) => (await w.status()).pushesAccepted;

/** Waits until the tab trains: accepted pushes grow by more than `by`. */
async function trains(w: WorkerPage, by = 2): Promise<void> {
  const from = await pushes(w);
  await expect.poll(() => pushes(w), { timeout: 60_000 }).toBeGreaterThan(from + by);
}

/** Waits until the engine is held still, then checks the pushes stay put (at most the batch in flight lands). */
async function holds(w: WorkerPage): Promise<void> {
  await expect.poll(async () => (await w.status()).state).toMatch(/^(paused|stopped)$/);
  const at = await pushes(w);
  await expect(w.page.locator('#state')).toHaveText('auto-paused');
  expect(await pushes(w)).toBeLessThanOrEqual(at + 1);
}

test('only when away, by this tab: computes after the chosen minutes without input, stops at the next input', async ({ context }) => {
  await context.clock.install();
  const w = await openWorker(context, run.url, { backend: 'wasm' });
  await w.page.getByLabel('no input for').selectOption('1');
  await w.page.getByLabel('Compute only when I am away').check();
  await expect(w.page.locator('#idle-note')).toContainText('only input in this tab counts');
  await w.page.getByRole('button', { name: 'Start' }).click();
  await expect(w.page.locator('#state')).toHaveText('auto-paused');
  await expect(w.page.locator('#notice')).toContainText('this tab was used in the last 1 min');
  expect((await w.status()).state).toBe('stopped'); // never started

  await context.clock.fastForward('01:01');
  await expect(w.page.locator('#state')).not.toHaveText('auto-paused');
  await trains(w);
  await w.page.mouse.move(20, 20);
  await w.page.mouse.move(40, 60);
  await holds(w);
  await closeAndCheck([w]);
});

test('only when away, device-wide: the Idle Detection API decides where it is permitted', async ({ context }) => {
  const w = await openWorker(context, run.url, { backend: 'wasm' });
  const cdp = await context.newCDPSession(w.page);
  const { targetInfo } = (await cdp.send('Target.getTargetInfo')) as { targetInfo: { browserContextId: string } };
  // The permission a volunteer grants at the browser's prompt; Playwright has no name for it.
  await cdp.send('Browser.grantPermissions', { permissions: ['idleDetection'], origin: run.url, browserContextId: targetInfo.browserContextId } as never);
  const idle = (isUserActive: boolean) => cdp.send('Emulation.setIdleOverride', { isUserActive, isScreenUnlocked: true });
  await idle(true);
  await w.page.getByLabel('Compute only when I am away').check();
  await expect(w.page.locator('#idle-note')).toContainText('any input on this device counts');
  await w.page.getByRole('button', { name: 'Start' }).click();
  await expect(w.page.locator('#notice')).toContainText('the device was used in the last 5 min');

  await idle(false);
  await trains(w);
  await idle(true);
  await holds(w);
  await closeAndCheck([w]);
});

async function fakeBattery(context: BrowserContext): Promise<void> {
  // Headless Chromium's battery is always full and charging: a stand-in the test can unplug.
  await context.addInitScript(() => {
    const battery = Object.assign(new EventTarget(), { level: 0.9, charging: true });
    (window as unknown as { testBattery: typeof battery }).testBattery = battery;
    Object.defineProperty(Navigator.prototype, 'getBattery', { value: () => Promise.resolve(battery), configurable: true });
  });
}

const plug = (page: Page, charging: boolean) =>
  page.evaluate((c) => {
    const b = (window as unknown as { testBattery: EventTarget & { charging: boolean } }).testBattery;
    b.charging = c;
    b.dispatchEvent(new Event('chargingchange'));
  }, charging);

test('only while charging: unplugging pauses, plugging in resumes', async ({ context }) => {
  await fakeBattery(context);
  const w = await openWorker(context, run.url, { backend: 'wasm' });
  await w.page.getByLabel('Compute only while charging').check();
  await expect(w.page.locator('#charging-note')).toHaveText('(charging now)');
  await w.page.getByRole('button', { name: 'Start' }).click();
  await trains(w);
  await plug(w.page, false);
  await expect(w.page.locator('#notice')).toContainText('the device is not charging');
  await holds(w);
  await plug(w.page, true);
  await trains(w);
  await closeAndCheck([w]);
});

test('where the browser does not report its battery the page says so, and computes', async ({ context }) => {
  await context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'getBattery', { value: undefined, configurable: true }));
  const w = await openWorker(context, run.url, { backend: 'wasm' });
  await w.page.getByLabel('Compute only while charging').check();
  await expect(w.page.locator('#charging-note')).toContainText('does not say whether it is charging');
  await w.page.getByRole('button', { name: 'Start' }).click();
  await trains(w);
  await closeAndCheck([w]);
});
