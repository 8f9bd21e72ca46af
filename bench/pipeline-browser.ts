/**
 * The pipeline bench's browser run (bench/pipeline.ts): two headless Chromium tabs
 * (wasm) form one replica of the model in 2 stages and link by WebRTC, as volunteers'
 * tabs do. After both stages report the `webrtc` path and the job has counted
 * WARM_UP_EXAMPLES, over `seconds`: examples/s from the job's own count of accepted
 * examples; bubble (each stage's and the bottleneck's) and bytes per boundary per
 * example from the stages' replica:report as the coordinator holds them, differenced
 * over the window (bench/replica-window.ts), so the warm-up does not count.
 *
 * The tabs are two Chromiums, a tab each, either with no DevTools protocol client (`bare`,
 * the default: as volunteers' browsers are, bench/bare-chromium.ts) or driven by
 * Playwright (as the farm's and the e2e tests' tabs are), whose every WebSocket frame Chromium
 * copies to Playwright: a 400 kB push's round trip takes about three times as long so.
 */
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM_ARGS, findChromium } from '../farm/chromium.js';
import { buildClientIfNeeded } from '../server/build-client.js';
import type { JobSpecInput, ModelPresetName } from '../shared/job-spec.js';
import type { JobDetail } from '../shared/operator-protocol.js';
import { startCoordinator } from '../test-support/coordinator.js';
import type { PhaseTotals } from '../shared/replica-protocol.js';
import { launchBareChromium } from './bare-chromium.js';
import { busyShare, machineCpu } from './proc-cpu.js';
import { gpipeBound, snapshotAfter, snapshotWhen, windowFigures } from './replica-window.js';

const WARM_UP_EXAMPLES = 2000;
const POLL_MS = 250;

export type TabDriver = 'bare' | 'playwright';

export interface BrowserPipelineResult {
  model: ModelPresetName;
  /** How the tabs were run. */
  tabs: TabDriver;
  replicas: 1;
  stages: 2;
  microbatches: number;
  path: 'webrtc';
  examples_per_s: number;
  bubble: number;
  bottleneck_bubble: number;
  bubble_target: number;
  target_met: boolean;
  stage_bubbles: number[];
  boundary_bytes_per_example: number | null;
  gpipe_bound: number;
  /** Each tab's stage's time per phase as a share of its wall time over the window (from its replica:report). */
  stage_phases: PhaseTotals[];
  /** The share of all the machine's cores busy over the window (bench/proc-cpu.ts): the two browsers, the coordinator and the bench share them. */
  machine_cpu_busy: number | null;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `read` until it gives a value (a benchmark waits on the job's own figures; no test depends on the interval). */
async function until<T>(what: string, read: () => Promise<T | null> | T | null, timeoutMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (v !== null) return v;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

/** Two tabs on `url`; page errors go to `errors` where a driver sees them (a bare tab's show as no progress). */
async function openTabs(driver: TabDriver, url: string, errors: string[]): Promise<{ close(): Promise<void> }> {
  if (driver === 'bare') {
    // Two browsers, a tab each: a headless Chromium opens one page from its command line.
    const browsers = [launchBareChromium(url), launchBareChromium(url)];
    for (const b of browsers) b.exited.catch((e: Error) => errors.push(e.message));
    return { close: async () => void (await Promise.all(browsers.map((b) => b.close()))) };
  }
  // Two browsers too, a page each: the two kinds differ only in the driver.
  const browsers: Browser[] = [];
  for (let i = 0; i < 2; i++) {
    const browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS });
    browsers.push(browser);
    const page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
  }
  return { close: async () => void (await Promise.all(browsers.map((b) => b.close()))) };
}

export async function browserStaged(
  model: ModelPresetName,
  microbatches: number,
  seconds: number,
  wire: Pick<JobSpecInput, 'codec' | 'topkRatio' | 'batchSize' | 'pipelineDepth'> = { codec: 'fp32' },
  driver: TabDriver = 'bare',
): Promise<BrowserPipelineResult> {
  await buildClientIfNeeded();
  const run = await startCoordinator({ model, stages: 2, microbatches, epochs: 100, normBound: 0, ...wire });
  const detail = async () => (await (await fetch(`${run.url}/api/jobs/${run.job.id}`)).json()) as JobDetail;
  const errors: string[] = [];
  let tabs: { close(): Promise<void> } | null = null;
  try {
    tabs = await openTabs(driver, `${run.url}/?autostart=1&backend=wasm`, errors);
    await until('both stages on WebRTC', async () => ((await detail()).replicas?.replicas[0]?.path === 'webrtc' ? true : null), 120_000);
    await until('the warm-up', () => (run.job.summary().examplesSeen >= WARM_UP_EXAMPLES ? true : null), 120_000);
    const a = await snapshotWhen(run.job, (_, __, r) => r.wallMs > 0);
    const before = run.job.summary().examplesSeen;
    const cpuBefore = machineCpu();
    const t0 = performance.now();
    const b = await snapshotAfter(run.job, a, seconds * 1000);
    const examples = run.job.summary().examplesSeen - before;
    const elapsed = (performance.now() - t0) / 1000;
    const cpuBusy = busyShare(cpuBefore, machineCpu());
    const replica = (await detail()).replicas!.replicas[0]!;
    if (replica.path !== 'webrtc') throw new Error(`the replica's path became ${String(replica.path)}`);
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
    const f = windowFigures(a, b);
    const stageBubbles = f.stageBubbles[0]!;
    const { bound, target } = gpipeBound(2, microbatches);
    return {
      model,
      tabs: driver,
      replicas: 1,
      stages: 2,
      microbatches,
      path: 'webrtc',
      examples_per_s: examples / elapsed,
      bubble: stageBubbles.reduce((a, b) => a + b, 0) / stageBubbles.length,
      bottleneck_bubble: f.bottleneckBubbles[0]!,
      bubble_target: target,
      target_met: f.bottleneckBubbles[0]! <= target,
      stage_bubbles: stageBubbles,
      boundary_bytes_per_example: f.boundaryBytesPerExample,
      gpipe_bound: bound,
      stage_phases: f.stagePhases[0]!,
      machine_cpu_busy: cpuBusy,
    };
  } finally {
    await tabs?.close();
    await run.close();
  }
}
