/**
 * The throttle does what it says (issue 14, defect 3): the CPU time the tab's renderer
 * spends (Linux /proc utime + stime of the browser's renderer processes: the page's
 * Web Worker runs in its renderer) at 50 % and 25 % is that share, ±10 points, of what
 * it spends at 100 %. The default job's model and wire (the cnn on wasm, topk-packed:
 * selecting the top k and encoding are CPU the old throttle did not count).
 *
 * Each setting is measured over a number of batches proportional to it (what ~20 s
 * takes at that share if the throttle is right), so the windows end on the engine's own
 * events and a loaded machine stretches all three alike.
 */
import { expect, test, type Page } from '@playwright/test';
import { BUILTIN_JOB_WIRE } from '../shared/job-defaults.js';
import { startCoordinator, type Running } from '../test-support/index.js';
import { rendererCpuSeconds } from './renderer-cpu.js';
import { closeAndCheck, openWorker, type DownpourWindow } from './workers.js';

// A measurement of CPU shares, not a pass/fail CI check: on a shared 2-core machine the
// load moves between the three windows and runs of the same code gave 0.33-0.70 at 50 %.
// Run it on an idle machine: DOWNPOUR_MEASURE=1 npx playwright test e2e/throttle-cpu.spec.ts
test.skip(process.env.DOWNPOUR_MEASURE !== '1', 'a CPU-share measurement for an idle machine: set DOWNPOUR_MEASURE=1');

let run: Running;
test.beforeAll(async () => {
  run = await startCoordinator({ name: 'throttle cpu', model: 'cnn', ...BUILTIN_JOB_WIRE });
});
test.afterAll(async () => run?.close());

const WINDOW_S = 20;

/** The engine's batch count and the page's clock. */
const batchesNow = (page: Page) => page.evaluate(() => ({ batches: (window as unknown as DownpourWindow).downpour.status.batches, at: performance.now() }));

/** Renderer CPU seconds per wall second over the engine's next `batches` batches. */
async function cpuShare(page: Page, batches: number): Promise<{ share: number; wall: number; batchesPerSecond: number; work: number; rtt: number }> {
  const from = await batchesNow(page);
  const cpu0 = rendererCpuSeconds();
  await page.waitForFunction((target) => (window as unknown as DownpourWindow).downpour.status.batches >= target, from.batches + batches, { timeout: 180_000, polling: 50 });
  const cpu1 = rendererCpuSeconds();
  const to = await batchesNow(page);
  const wall = (to.at - from.at) / 1000;
  const t = await page.evaluate(() => (window as unknown as DownpourWindow).downpour.status.throttle);
  return { share: (cpu1 - cpu0) / wall, wall, batchesPerSecond: (to.batches - from.batches) / wall, work: t.workMs, rtt: t.roundTripMs };
}

async function setDuty(page: Page, label: '25%' | '50%' | '100%', duty: number): Promise<void> {
  await page.getByLabel(label).check();
  await expect.poll(() => page.evaluate(() => (window as unknown as DownpourWindow).downpour.status.dutyCycle)).toBe(duty);
  // Let the first rest under the new setting pass before measuring.
  const { batches } = await batchesNow(page);
  await page.waitForFunction((t) => (window as unknown as DownpourWindow).downpour.status.batches >= t, batches + 3, { timeout: 60_000 });
}

test('at 50 % and 25 % the renderer spends that share of its 100 % CPU time', async ({ context }) => {
  test.setTimeout(5 * 60_000);
  const w = await openWorker(context, run.url, { backend: 'wasm', autostart: '1' });
  await expect.poll(async () => (await w.status()).batches, { timeout: 60_000 }).toBeGreaterThan(10);
  // A first look at the full rate sizes the windows.
  const probe = await cpuShare(w.page, 10);
  const n = Math.max(20, Math.round(probe.batchesPerSecond * WINDOW_S));
  const full = await cpuShare(w.page, n);
  await setDuty(w.page, '50%', 0.5);
  const half = await cpuShare(w.page, Math.round(n / 2));
  await setDuty(w.page, '25%', 0.25);
  const quarter = await cpuShare(w.page, Math.round(n / 4));
  const said = (m: Awaited<ReturnType<typeof cpuShare>>) =>
    `${m.share.toFixed(2)} cores over ${m.wall.toFixed(1)} s (${m.batchesPerSecond.toFixed(1)} batches/s, last work ${m.work.toFixed(0)} ms, round trip ${m.rtt.toFixed(0)} ms)`;
  const summary = `100%: ${said(full)}; 50%: ${said(half)} = ${(half.share / full.share).toFixed(2)}; 25%: ${said(quarter)} = ${(quarter.share / full.share).toFixed(2)}`;
  test.info().annotations.push({ type: 'renderer CPU', description: summary });
  process.stderr.write(`[throttle-cpu] ${summary}\n`);
  expect(half.share / full.share).toBeGreaterThanOrEqual(0.4);
  expect(half.share / full.share).toBeLessThanOrEqual(0.6);
  expect(quarter.share / full.share).toBeGreaterThanOrEqual(0.15);
  expect(quarter.share / full.share).toBeLessThanOrEqual(0.35);
  await closeAndCheck([w]);
});
