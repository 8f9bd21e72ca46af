/**
 * Every page at 390, 768, 1280 and 1920 px (e2e/layout.ts): no sideways scrolling, no
 * control under 120 px or outside the viewport. The create-job form once stretched to
 * ~2,060 px at 1280 with ~18 px inputs. The bench page is a tool, not a page people use.
 */
import { expect, test, type Page } from '@playwright/test';
import { encodeTensors } from '../shared/codec.js';
import { sizeOf } from '../shared/tensors.js';
import { LeasedPusher, joinAssigned, startCoordinator, type Running, type TestWorker } from '../test-support/index.js';
import { checkLayout } from './layout.js';

const TOKEN = 'layout-token';
let run: Running;
const sockets: TestWorker[] = [];

test.beforeAll(async () => {
  run = await startCoordinator(
    {
      name: 'Layout check: a job with a rather long name that wraps on phones',
      description: 'A description long enough to wrap over several lines at phone width, as operators write them for volunteers.',
      model: 'mlp',
    },
    { operatorToken: TOKEN },
  );
  // One accepted push and one evaluation, so the charts, facts and worker table have content.
  const { w, job } = await joinAssigned(run.url, sockets, 'layout-check worker');
  const payload = encodeTensors(job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-3) })));
  const pushed = await new LeasedPusher(w, job.jobId).push({ baseVersion: 0, loss: 2.3, ...payload });
  if (!pushed.ok) throw new Error(pushed.message);
  w.emit('worker:report', { backend: 'wasm', adapter: null, examplesPerSecond: 1234.5 });
  await run.job.evaluateIfChanged();
});
test.afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await run?.close();
});

function failOnErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  return errors;
}

/** Opens every disclosure, so what it hides is checked too. */
async function openDetails(page: Page): Promise<void> {
  await page.evaluate(() => document.querySelectorAll('details').forEach((d) => (d.open = true)));
}

test('every page fits every width', async ({ page, request }) => {
  const errors = failOnErrors(page);

  await page.goto(run.url);
  await expect(page.getByRole('button', { name: 'Start' })).toBeVisible();
  await checkLayout(page, 'volunteer');

  await page.goto(`${run.url}/dashboard`);
  await expect(page.getByLabel('Operator token')).toBeVisible();
  await checkLayout(page, 'dashboard-signed-out');

  await page.getByLabel('Operator token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('#connection')).toHaveText(/connected/);
  await expect(page.locator('#job-detail-h')).toHaveText(/^Layout check/);
  await expect(page.locator('#worker-rows tr[data-worker-id]')).toHaveCount(1);
  await expect.poll(async () => Number(await page.locator('#chart-test-time').getAttribute('data-points'))).toBe(1);
  await checkLayout(page, 'dashboard-signed-in', openDetails);

  // The volunteer engineer's leaderboard, once it exists on the branch under test.
  for (const path of ['/leaderboard', '/leaderboard.html']) {
    const res = await request.get(run.url + path);
    if (!res.ok() || !(res.headers()['content-type'] ?? '').startsWith('text/html')) continue;
    await page.goto(run.url + path);
    await checkLayout(page, 'leaderboard');
    break;
  }

  expect(errors, 'page errors').toEqual([]);
});
