/**
 * The core promise: two headless Chromium tabs train the MLP on MNIST through the
 * parameter server until the held-out accuracy reaches 95%.
 */
import { expect, test } from '@playwright/test';
import { startCoordinator, type Running } from '../test-support/index.js';
import { closeAndCheck, trainTwoTabsTo95 } from './workers.js';

let run: Running;
test.beforeAll(async () => {
  run = await startCoordinator({ name: 'e2e mlp', model: 'mlp', evalIntervalSeconds: 4, epochs: 50 });
});
test.afterAll(async () => run?.close());

test('two browser workers train the MLP to ≥ 95% test accuracy', async ({ context }) => {
  const workers = await trainTwoTabsTo95(context, run, 'e2e mlp');
  for (const w of workers) {
    const s = await w.status();
    // Automatic selection measured the real backends and never took a fallback (software)
    // WebGPU adapter; a hardware adapter is measured like any backend and may win.
    test.info().annotations.push({ type: 'backend', description: `${s.backend}; adapter ${JSON.stringify(s.adapter)}` });
    const softwareOnly = s.adapter?.isFallbackAdapter !== false; // no adapter, or a fallback one
    expect({ skipped: String(s.measured.webgpu).startsWith('skipped'), picked: s.backend === 'webgpu' }).toEqual(
      softwareOnly ? { skipped: true, picked: false } : { skipped: false, picked: expect.any(Boolean) },
    );
    expect(typeof s.measured.wasm).toBe('number');
  }
  // Every tensor a step creates is disposed: the count is flat across many steps.
  const a = await workers[0]!.status();
  await expect.poll(async () => (await workers[0]!.status()).batches, { timeout: 30_000 }).toBeGreaterThan(a.batches + 50);
  const b = await workers[0]!.status();
  expect(b.numTensors).toBe(a.numTensors);

  const api = (await (await fetch(run.url + '/api/jobs')).json()) as { workers: number; version: number }[];
  expect(api[0]!.workers).toBe(2);
  expect(api[0]!.version).toBeGreaterThan(100);
  await closeAndCheck(workers);
});
