/** E2E helpers: worker pages that fail the test on any page error. */
import { expect, type BrowserContext, type Page } from '@playwright/test';
import type { EngineStatus } from '../client/engine/status.js';
import { waitForEvent, type Running } from '../test-support/index.js';

/** What the volunteer page exposes to scripts and tests. */
export interface DownpourWindow {
  downpour: { status: EngineStatus };
}

export interface WorkerPage {
  page: Page;
  errors: string[];
  status(): Promise<EngineStatus>;
}

export async function openWorker(context: BrowserContext, url: string, query: Record<string, string> = {}): Promise<WorkerPage> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  const u = new URL(url);
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  await page.goto(u.toString());
  return {
    page,
    errors,
    status: () => page.evaluate(() => (window as unknown as DownpourWindow).downpour.status),
  };
}

/**
 * Mini-batches per second over the engine's next `batches` batches, timed in the page
 * from the status it reports (read once per frame).
 */
export async function batchesPerSecond(page: Page, batches: number): Promise<number> {
  const from = await page.evaluate(() => ({ batches: (window as unknown as DownpourWindow).downpour.status.batches, at: performance.now() }));
  const reached = await page.waitForFunction(
    (target) => {
      const done = (window as unknown as DownpourWindow).downpour.status.batches;
      return done >= target && { batches: done, at: performance.now() };
    },
    from.batches + batches,
    { timeout: 120_000 },
  );
  const to = (await reached.jsonValue()) as { batches: number; at: number };
  return ((to.batches - from.batches) * 1000) / (to.at - from.at);
}

/**
 * Resolves when the coordinator receives the worker's next `worker:report`: the
 * engine's heartbeat, every 2 s on the socket its pushes travel, so anything the engine
 * sent before it has arrived.
 */
export async function nextReport(run: Running, workerId: string): Promise<void> {
  const socket = [...run.coordinator.workerNamespace.sockets.values()].find((s) => s.data.workerId === workerId);
  if (!socket) throw new Error(`worker ${workerId} has no socket on the coordinator`);
  await waitForEvent(socket, 'worker:report', 30_000);
}

/** Closes the pages first (so their sockets do not log errors) and checks none had errors. */
export async function closeAndCheck(workers: WorkerPage[], allowed: RegExp[] = []): Promise<void> {
  for (const w of workers) await w.page.close();
  for (const w of workers) expect(w.errors.filter((e) => !allowed.some((a) => a.test(e))), 'page errors').toEqual([]);
}

/**
 * Two autostarted tabs train `run`'s job (named `jobName`) until its held-out accuracy is
 * at least 95 %, each having pushed more than 10 accepted gradients; the tabs, to check further.
 */
export async function trainTwoTabsTo95(context: BrowserContext, run: Running, jobName: string): Promise<WorkerPage[]> {
  const workers: WorkerPage[] = [];
  for (let i = 0; i < 2; i++) workers.push(await openWorker(context, run.url, { autostart: '1' }));
  await expect.poll(async () => (await workers[0]!.status()).state, { timeout: 60_000 }).toBe('training');
  await expect
    .poll(() => run.job.summary().lastEval?.accuracy ?? 0, { timeout: 4 * 60_000, intervals: [2000] })
    .toBeGreaterThanOrEqual(0.95);
  for (const w of workers) {
    const s = await w.status();
    expect(s.pushesAccepted).toBeGreaterThan(10);
    expect(s.jobName).toBe(jobName);
  }
  return workers;
}
