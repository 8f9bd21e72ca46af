/**
 * WebGL inside the training Web Worker: tfjs draws on an OffscreenCanvas (WebGL2)
 * there. Where the browser has no WebGL at all (headless without a GPU, no
 * SwiftShader WebGL), the engine must say so clearly instead of failing silently.
 */
import { expect, test } from '@playwright/test';
import { startCoordinator, type Running } from '../test-support/index.js';
import { closeAndCheck, openWorker } from './workers.js';

let run: Running;
test.beforeAll(async () => {
  run = await startCoordinator({ name: 'e2e webgl', model: 'mlp' });
});
test.afterAll(async () => run?.close());

test('a worker forced to ?backend=webgl trains on OffscreenCanvas, or reports why it cannot', async ({ context }) => {
  const w = await openWorker(context, run.url, { backend: 'webgl', autostart: '1' });
  const webgl2 = await w.page.evaluate(() => {
    const code = 'postMessage(typeof OffscreenCanvas !== "undefined" && !!new OffscreenCanvas(1, 1).getContext("webgl2"))';
    const worker = new Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })));
    return new Promise<boolean>((r) => worker.addEventListener('message', (e) => r(e.data as boolean)));
  });
  test.info().annotations.push({ type: 'webgl2 in a worker', description: String(webgl2) });
  if (webgl2) {
    await expect.poll(async () => (await w.status()).pushesAccepted, { timeout: 120_000 }).toBeGreaterThanOrEqual(5);
    expect((await w.status()).backend).toBe('webgl');
  } else {
    await expect.poll(async () => (await w.status()).message ?? '', { timeout: 60_000 }).toContain('"webgl" could not be initialised');
  }
  await closeAndCheck([w], webgl2 ? [] : [/WebGL|webgl/]);
});
