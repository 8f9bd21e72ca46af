/**
 * The farm CLI end to end: a real coordinator, `farm/cli.ts` as its own process with
 * 2 workers in 2 headless Chromiums. One page's renderer is killed (a real crash) and
 * the farm restarts it; SIGTERM leaves none of its Chromium processes behind; the
 * summary file holds the figures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { startCoordinator, type Running } from '../test-support/index.js';
import { descendants, isAlive, isBrowserMain, isChromium, isRenderer } from './process-tree.js';
import type { FarmSummary } from './summary.js';

let run: Running;
let farm: ChildProcess | null = null;
beforeAll(async () => {
  run = await startCoordinator({ name: 'farm test', model: 'mlp' });
});
afterAll(async () => {
  if (farm && farm.exitCode === null) farm.kill('SIGKILL');
  await run?.close();
});

test('the farm restarts a crashed page, exits cleanly on SIGTERM and writes its summary', { timeout: 240_000 }, async () => {
  const summaryPath = join(mkdtempSync(join(tmpdir(), 'downpour-farm-')), 'summary.json');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'farm/cli.ts', '--url', `${run.url}/`, '--workers', '2', '--browsers', '2', '--backend', 'wasm', '--summary', summaryPath],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  farm = child;
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const pid = child.pid!;
  const pushing = () => run.coordinator.workers.list().filter((w) => w.pushesAccepted > 0);

  // Both pages train.
  await vi.waitFor(() => expect(pushing().length, log).toBe(2), { timeout: 120_000, interval: 500 });
  const before = new Set(run.coordinator.workers.list().map((w) => w.id));

  // Crash one page: kill every renderer of the first browser process.
  const tree = descendants(pid);
  const browsers = tree.filter(isBrowserMain);
  expect(browsers).toHaveLength(2);
  const victims = descendants(browsers[0]!.pid, tree).filter(isRenderer);
  expect(victims.length).toBeGreaterThan(0);
  for (const v of victims) process.kill(v.pid, 'SIGKILL');

  // A new page (a new worker id) joins and trains again.
  await vi.waitFor(() => expect(pushing().some((w) => !before.has(w.id)), log).toBe(true), { timeout: 120_000, interval: 500 });
  await vi.waitFor(() => expect(log).toMatch(/worker \d: restarting/), { timeout: 5000 });

  // SIGTERM: the farm closes every browser it started and exits 0.
  const chromiums = descendants(pid).filter(isChromium).map((p) => p.pid);
  expect(chromiums.length).toBeGreaterThan(2);
  child.kill('SIGTERM');
  expect(await exited, log).toBe(0);
  await vi.waitFor(() => expect(chromiums.filter(isAlive), 'Chromium processes left behind').toEqual([]), { timeout: 10_000, interval: 200 });

  const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as FarmSummary;
  expect(summary.workers).toHaveLength(2);
  expect(summary.totals.pushesAccepted).toBeGreaterThan(0);
  expect(summary.totals.examplesContributed).toBeGreaterThan(0);
  expect(summary.totals.restarts).toBeGreaterThanOrEqual(1);
  expect(summary.workers.every((w) => w.backend === 'wasm' && w.pushesAccepted > 0), JSON.stringify(summary) + log).toBe(true);
  expect(summary.durationSeconds).toBeGreaterThan(0);
});
