/** E2E helpers: worker pages that fail the test on any page error. */
import { expect, type BrowserContext, type Page } from '@playwright/test';
import type { EngineStatus } from '../client/engine/status.js';

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
    status: () => page.evaluate(() => (window as unknown as { downpour: { status: EngineStatus } }).downpour.status),
  };
}

/** Mini-batches per second the page's engine completes over `ms` (timed in the page). */
export function batchesPerSecond(page: Page, ms: number): Promise<number> {
  return page.evaluate(async (ms) => {
    const batches = () => (window as unknown as { downpour: { status: EngineStatus } }).downpour.status.batches;
    const a = batches();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, ms));
    return ((batches() - a) * 1000) / (performance.now() - t0);
  }, ms);
}

/** Closes the pages first (so their sockets do not log errors) and checks none had errors. */
export async function closeAndCheck(workers: WorkerPage[], allowed: RegExp[] = []): Promise<void> {
  for (const w of workers) await w.page.close();
  for (const w of workers) expect(w.errors.filter((e) => !allowed.some((a) => a.test(e))), 'page errors').toEqual([]);
}
