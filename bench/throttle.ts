/**
 * throttle: does the volunteer's throttle do what it says? The CPU time the tab's
 * renderer spends (Linux /proc utime + stime of the browser's renderer processes: the
 * page's Web Worker runs in its renderer) at 50 % and 25 %, as a share of what it
 * spends at 100 %, on the default job's model and wire (the cnn on wasm, topk-packed:
 * selecting the top k and encoding are CPU a throttle must count too). Target: each
 * share within ±10 points of its setting.
 *
 * Each setting is measured over a number of batches proportional to it (what
 * --window-seconds takes at that share if the throttle is right), so the windows end on
 * the engine's own events and a loaded machine stretches all three alike. A CPU share
 * is only meaningful on an idle machine: the JSON says the load average it ran under.
 */
import { loadavg } from 'node:os';
import { Command } from 'commander';
import { chromium, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, findChromium } from '../farm/chromium.js';
import { buildClientIfNeeded } from '../server/build-client.js';
import { integer } from '../server/cli-args.js';
import { createCoordinator } from '../server/coordinator.js';
import { setLogLevel } from '../server/logger.js';
import { BUILTIN_JOB_WIRE } from '../shared/job-defaults.js';
import { rendererCpuSeconds } from './renderer-cpu.js';

interface Options {
  windowSeconds: number;
  runs: number;
}

/** What the page's status says of the engine (read-only). */
interface EngineStatus {
  batches: number;
  dutyCycle: number;
}
type StatusWindow = { downpour: { status: EngineStatus } };

const TOLERANCE = 0.1;
const log = (msg: string) => process.stderr.write(`[throttle] ${msg}\n`);
const round3 = (x: number) => Math.round(x * 1000) / 1000;

const batchesNow = (page: Page) => page.evaluate(() => ({ batches: (window as unknown as StatusWindow).downpour.status.batches, at: performance.now() }));

async function waitForBatches(page: Page, target: number): Promise<void> {
  await page.waitForFunction((t) => (window as unknown as StatusWindow).downpour.status.batches >= t, target, { timeout: 300_000, polling: 50 });
}

/** Renderer CPU seconds per wall second over the engine's next `batches` batches. */
async function cpuShare(page: Page, batches: number): Promise<{ share: number; wall: number; batchesPerSecond: number }> {
  const from = await batchesNow(page);
  const cpu0 = rendererCpuSeconds();
  await waitForBatches(page, from.batches + batches);
  const cpu1 = rendererCpuSeconds();
  const to = await batchesNow(page);
  const wall = (to.at - from.at) / 1000;
  return { share: (cpu1 - cpu0) / wall, wall, batchesPerSecond: (to.batches - from.batches) / wall };
}

async function setDuty(page: Page, label: '25%' | '50%' | '100%', duty: number): Promise<void> {
  await page.getByLabel(label).check();
  await page.waitForFunction((d) => (window as unknown as StatusWindow).downpour.status.dutyCycle === d, duty, { timeout: 30_000 });
  // The first rest under the new setting passes before measuring.
  await waitForBatches(page, (await batchesNow(page)).batches + 3);
}

async function oneRun(page: Page, windowSeconds: number): Promise<{ full: number; half: number; quarter: number }> {
  await setDuty(page, '100%', 1);
  // A first look at the full rate sizes the windows.
  const probe = await cpuShare(page, 10);
  const n = Math.max(20, Math.round(probe.batchesPerSecond * windowSeconds));
  const full = await cpuShare(page, n);
  await setDuty(page, '50%', 0.5);
  const half = await cpuShare(page, Math.round(n / 2));
  await setDuty(page, '25%', 0.25);
  const quarter = await cpuShare(page, Math.round(n / 4));
  log(`100 %: ${full.share.toFixed(2)} cores over ${full.wall.toFixed(1)} s; 50 %: ${(half.share / full.share).toFixed(2)} of it; 25 %: ${(quarter.share / full.share).toFixed(2)}`);
  return { full: full.share, half: half.share / full.share, quarter: quarter.share / full.share };
}

async function run(o: Options): Promise<void> {
  setLogLevel('warn');
  await buildClientIfNeeded();
  const coordinator = createCoordinator();
  const created = await coordinator.createJob({ name: 'throttle bench', model: 'cnn', evalIntervalSeconds: 3600, ...BUILTIN_JOB_WIRE });
  if (!created.ok) throw new Error(created.message);
  const { url } = await coordinator.listen(0, '127.0.0.1');
  const load = loadavg()[0]!;
  const browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS });
  try {
    // ?autostart=1: the page trains at once, as a farm's or `npm start -- --workers`'s do.
    const page = await browser.newPage();
    await page.goto(`${url}?backend=wasm&autostart=1`);
    await waitForBatches(page, 10);
    const runs = [];
    for (let r = 0; r < o.runs; r++) runs.push(await oneRun(page, o.windowSeconds));
    const within = (share: number, setting: number) => Math.abs(share - setting) <= TOLERANCE;
    const met = runs.every((r) => within(r.half, 0.5) && within(r.quarter, 0.25));
    log(met ? 'target met: every share within ±10 points' : 'TARGET MISSED: a share is more than 10 points from its setting');
    process.stdout.write(
      JSON.stringify({
        bench: 'throttle',
        model: 'cnn',
        backend: 'wasm',
        codec: BUILTIN_JOB_WIRE.codec,
        window_seconds: o.windowSeconds,
        load_average_at_start: round3(load),
        runs: runs.map((r) => ({ full_cores: round3(r.full), share_50: round3(r.half), share_25: round3(r.quarter) })),
        tolerance: TOLERANCE,
        target_met: met,
      }) + '\n',
    );
  } finally {
    await browser.close();
    await coordinator.close();
  }
}

export function throttleCommand(): Command {
  return new Command('throttle')
    .description("the tab's renderer CPU time at 50 % and 25 % as a share of 100 % (default job: cnn, wasm, topk-packed); measure on an idle machine")
    .option('--window-seconds <s>', 'seconds each window would take at its share if the throttle is right', integer(5, 600), 20)
    .option('--runs <n>', 'measurements of all three settings, one after another in one tab', integer(1, 10), 3)
    .action((o: Options) => run(o));
}
