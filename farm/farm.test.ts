/**
 * The farm CLI end to end, run as supervisors run it: `npm run farm` in its own process
 * group against a real coordinator, with headless Chromium workers. One page's renderer
 * is killed (a real crash) and the farm restarts it; one SIGTERM to the whole group
 * (which the farm also gets relayed by npm) is one clean stop: exit 0, no Chromium
 * process left, the summary written; so is systemd's stop, which signals the browsers
 * too. A second signal after the burst, while the stop hangs on a frozen browser,
 * exits at once.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, expect, test, vi } from 'vitest';
import { SIGNAL_BURST_MS } from '../server/process/stop-signals.js';
import { startCoordinator, type Running } from '../test-support/index.js';
import { ProcessGroup } from './process-group.js';
import { descendants, isAlive, isBrowserMain, isChromium, isRenderer } from './process-tree.js';
import type { FarmSummary } from './summary.js';

let run: Running;
let farm: ProcessGroup | null = null;
/** Every Chromium PID a test saw, SIGKILLed afterwards in case the test failed before they were closed. */
const seen = new Set<number>();

beforeAll(async () => {
  run = await startCoordinator({ name: 'farm test', model: 'mlp' });
});
afterEach(() => {
  farm?.kill();
  for (const pid of seen) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  seen.clear();
});
afterAll(async () => {
  await run?.close();
});

function startFarm(args: string[]): ProcessGroup {
  farm = new ProcessGroup('farm', ['--url', `${run.url}/`, '--backend', 'wasm', ...args]);
  return farm;
}

function chromiumsOf(group: ProcessGroup): number[] {
  const pids = descendants(group.pid).filter(isChromium).map((p) => p.pid);
  for (const pid of pids) seen.add(pid);
  return pids;
}

const summaryPath = () => join(mkdtempSync(join(tmpdir(), 'downpour-farm-')), 'summary.json');

test('the farm restarts a crashed page, stops cleanly on a SIGTERM to its process group and writes its summary', { timeout: 240_000 }, async () => {
  const summary = summaryPath();
  const group = startFarm(['--workers', '2', '--browsers', '2', '--summary', summary]);
  const pushing = () => run.coordinator.workers.list().filter((w) => w.pushesAccepted > 0);

  // Both pages train.
  await vi.waitFor(() => expect(pushing().length, group.log).toBe(2), { timeout: 120_000, interval: 500 });
  const before = new Set(run.coordinator.workers.list().map((w) => w.id));

  // Crash one page: kill every renderer of the first browser process.
  const tree = descendants(group.pid);
  const browsers = tree.filter(isBrowserMain);
  expect(browsers).toHaveLength(2);
  const victims = descendants(browsers[0]!.pid, tree).filter(isRenderer);
  expect(victims.length).toBeGreaterThan(0);
  for (const v of victims) process.kill(v.pid, 'SIGKILL');

  // A new page (a new worker id) joins and trains again.
  await vi.waitFor(() => expect(pushing().some((w) => !before.has(w.id)), group.log).toBe(true), { timeout: 120_000, interval: 500 });
  await group.waitForLine(/worker \d: restarting/, 5000);

  // SIGTERM to the group: npm relays it too; the farm stops once, closes every browser, exits 0.
  const chromiums = chromiumsOf(group);
  expect(chromiums.length).toBeGreaterThan(2);
  group.signal('SIGTERM');
  expect(await group.exited, group.log).toEqual({ code: 0, signal: null });
  expect(group.log).not.toMatch(/exiting without waiting/);
  await vi.waitFor(() => expect(chromiums.filter(isAlive), 'Chromium processes left behind').toEqual([]), { timeout: 10_000, interval: 200 });

  const figures = JSON.parse(readFileSync(summary, 'utf8')) as FarmSummary;
  expect(figures.workers).toHaveLength(2);
  expect(figures.totals.pushesAccepted).toBeGreaterThan(0);
  expect(figures.totals.examplesContributed).toBeGreaterThan(0);
  expect(figures.totals.restarts).toBeGreaterThanOrEqual(1);
  expect(figures.workers.every((w) => w.backend === 'wasm' && w.pushesAccepted > 0), JSON.stringify(figures) + group.log).toBe(true);
  expect(figures.durationSeconds).toBeGreaterThan(0);
});

test("systemd's stop (SIGTERM to every process of the unit, Chromium too) is one clean stop, not a crash to restart", { timeout: 120_000 }, async () => {
  const summary = summaryPath();
  const group = startFarm(['--workers', '1', '--summary', summary]);
  await group.waitForLine(/workers? started/, 60_000);

  // KillMode=control-group: the browsers get the signal too, in the same instant.
  const chromiums = chromiumsOf(group);
  expect(chromiums.length).toBeGreaterThan(0);
  group.signal('SIGTERM');
  for (const pid of chromiums) process.kill(pid, 'SIGTERM');

  expect(await group.exited, group.log).toEqual({ code: 0, signal: null });
  expect(group.log).not.toMatch(/restarting|exiting without waiting/);
  expect(existsSync(summary)).toBe(true);
  await vi.waitFor(() => expect(chromiums.filter(isAlive), 'Chromium processes left behind').toEqual([]), { timeout: 10_000, interval: 200 });
});

test('a second SIGTERM after the burst exits at once while the clean stop hangs, and kills the browsers', { timeout: 120_000 }, async () => {
  const summary = summaryPath();
  const group = startFarm(['--workers', '1', '--summary', summary]);
  await group.waitForLine(/workers? started/, 60_000);

  // Freeze the browser: its last poll and its close now wait for ever.
  const chromiums = chromiumsOf(group);
  expect(chromiums.length).toBeGreaterThan(0);
  for (const pid of chromiums) process.kill(pid, 'SIGSTOP');

  group.signal('SIGTERM');
  await group.waitForLine(/stopping \(SIGTERM\)/, 10_000);
  // The window is real time in another process, with no clock to step there: wait it out.
  await delay(SIGNAL_BURST_MS + 250);
  expect(group.running, `the first burst was taken as two stops:\n${group.log}`).toBe(true);

  group.signal('SIGTERM');
  expect(await group.exited, group.log).toEqual({ code: 1, signal: null });
  expect(group.log).toMatch(/SIGTERM again after \d+(\.\d+)? s: exiting without waiting/);
  expect(existsSync(summary)).toBe(false);
  // Playwright's exit hook SIGKILLs each browser's process group (a stopped process dies of SIGKILL too).
  await vi.waitFor(() => expect(chromiums.filter(isAlive), 'Chromium processes left behind').toEqual([]), { timeout: 10_000, interval: 200 });
});
