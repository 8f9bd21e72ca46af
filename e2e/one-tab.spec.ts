/**
 * One browser trains in one tab (issue 14, defect 5): a second tab of the same browser
 * waits and says so, may take over (the first then yields and says it was taken over),
 * and carries on by itself when the trainer tab closes. Run over both ways a tab learns
 * of the others: Web Locks, and the BroadcastChannel protocol used where the browser
 * has no Web Locks (plain http on a LAN address). Pages the machine's owner launched
 * (?autostart=1) are exempt.
 */
import { expect, test, type BrowserContext } from '@playwright/test';
import { startCoordinator, type Running } from '../test-support/index.js';
import { closeAndCheck, openWorker, type WorkerPage } from './workers.js';

let run: Running;
test.beforeAll(async () => {
  run = await startCoordinator({ name: 'one tab', model: 'mlp' });
});
test.afterAll(async () => run?.close());

interface TabWindow {
  downpour: { trainerLock: string | null };
}

const lockKind = (w: WorkerPage) => w.page.evaluate(() => (window as unknown as TabWindow).downpour.trainerLock);
const pushes = async (w: WorkerPage) => (await w.status()).pushesAccepted;

async function withoutWebLocks(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined, configurable: true }));
}

for (const kind of ['web-locks', 'broadcast-channel'] as const) {
  test(`${kind}: a second tab waits and says so; take-over moves training; closing the trainer hands it back`, async ({ context }) => {
    if (kind === 'broadcast-channel') await withoutWebLocks(context);
    const a = await openWorker(context, run.url, { backend: 'wasm' });
    await a.page.getByRole('button', { name: 'Start' }).click();
    await expect.poll(() => pushes(a), { timeout: 60_000 }).toBeGreaterThan(0);

    // The volunteer consented in this browser, so the second tab wants to train too: it
    // waits (it used to start at once). A carries on meanwhile; B's engine never starts.
    const b = await openWorker(context, run.url, { backend: 'wasm' });
    const atB = await pushes(a);
    await expect.poll(() => pushes(a), { timeout: 30_000 }).toBeGreaterThan(atB + 3);
    expect(await b.status()).toMatchObject({ state: 'stopped', workerId: null, pushesAccepted: 0 });
    await expect(b.page.locator('#state')).toHaveText('another tab is training');
    await expect(b.page.locator('#tab-notice')).toBeVisible();
    await expect(b.page.locator('#tab-notice')).toContainText('Another tab of this browser is already training');
    expect(await lockKind(b)).toBe(kind);

    // Take-over: B trains, A yields and says why.
    await b.page.getByRole('button', { name: 'Train in this tab instead' }).click();
    await expect.poll(() => pushes(b), { timeout: 60_000 }).toBeGreaterThan(0);
    await expect(a.page.locator('#tab-notice')).toContainText('took over training');
    await expect(a.page.locator('#state')).toHaveText('another tab is training');
    await expect.poll(async () => (await a.status()).state).toBe('paused');
    const atTakeOver = await pushes(a);
    const bNow = await pushes(b);
    await expect.poll(() => pushes(b), { timeout: 30_000 }).toBeGreaterThan(bNow + 5);
    expect(await pushes(a)).toBeLessThanOrEqual(atTakeOver + 1); // at most the batch in flight
    await expect(b.page.locator('#tab-notice')).toBeHidden();

    // The trainer tab closes: the waiting one carries on by itself.
    await closeAndCheck([b]);
    const before = await pushes(a);
    await expect.poll(() => pushes(a), { timeout: 60_000 }).toBeGreaterThan(before + 3);
    await expect(a.page.locator('#tab-notice')).toBeHidden();
    await closeAndCheck([a]);
  });
}

for (const kind of ['web-locks', 'broadcast-channel'] as const) {
  test(`${kind}: a Pause in the trainer tab pauses the browser; Start in the other tab trains there`, async ({ context }) => {
    if (kind === 'broadcast-channel') await withoutWebLocks(context);
    const a = await openWorker(context, run.url, { backend: 'wasm' });
    await a.page.getByRole('button', { name: 'Start' }).click();
    await expect.poll(() => pushes(a), { timeout: 60_000 }).toBeGreaterThan(0);
    const b = await openWorker(context, run.url, { backend: 'wasm' });
    await expect(b.page.locator('#state')).toHaveText('another tab is training');

    await a.page.getByRole('button', { name: 'Pause' }).click();
    await expect(b.page.locator('#state')).toHaveText('paused');
    await expect(b.page.getByRole('button', { name: 'Start' })).toBeEnabled();
    expect((await b.status()).state).toBe('stopped');
    // Start in the waiting tab makes it the trainer, although the paused tab reads the
    // same stored Start and asks for the role at the same moment.
    await b.page.getByRole('button', { name: 'Start' }).click();
    await expect.poll(() => pushes(b), { timeout: 60_000 }).toBeGreaterThan(0);
    await expect(a.page.locator('#state')).toHaveText('another tab is training');
    const aNow = await pushes(a);
    const bNow = await pushes(b);
    await expect.poll(() => pushes(b), { timeout: 30_000 }).toBeGreaterThan(bNow + 3);
    expect(await pushes(a)).toBe(aNow);
    await closeAndCheck([a, b]);
  });
}

test('pages the machine owner launched (?autostart=1) are exempt: both train', async ({ context }) => {
  const pages = [await openWorker(context, run.url, { backend: 'wasm', autostart: '1' }), await openWorker(context, run.url, { backend: 'wasm', autostart: '1' })];
  for (const w of pages) {
    expect(await lockKind(w)).toBeNull();
    await expect.poll(() => pushes(w), { timeout: 60_000 }).toBeGreaterThan(0);
  }
  await closeAndCheck(pages);
});
