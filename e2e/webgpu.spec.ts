/**
 * A page forced onto WebGPU trains through the PS. Here WebGPU is SwiftShader (a
 * fallback adapter, never chosen automatically); on a real GPU the same path runs on it.
 */
import { expect, test } from '@playwright/test';
import { startCoordinator, type Running } from '../test-support/index.js';
import { closeAndCheck, openWorker } from './workers.js';

let run: Running;
test.beforeAll(async () => {
  run = await startCoordinator({ name: 'e2e webgpu', model: 'mlp' });
});
test.afterAll(async () => run?.close());

test('a page forced to ?backend=webgpu gets accepted pushes', async ({ context }) => {
  const w = await openWorker(context, run.url, { backend: 'webgpu', autostart: '1' });
  await expect.poll(async () => (await w.status()).pushesAccepted, { timeout: 120_000 }).toBeGreaterThanOrEqual(5);
  const s = await w.status();
  expect(s.backend).toBe('webgpu');
  expect(s.adapter).not.toBeNull();
  test.info().annotations.push({ type: 'adapter', description: JSON.stringify(s.adapter) });
  expect(Object.keys(s.pushesRejected)).toEqual([]);
  expect(run.job.stats.pushesAccepted).toBeGreaterThanOrEqual(5);
  await closeAndCheck([w]);
});
