/**
 * The dashboard's placement tables: a job on two ps task processes (started as `npm
 * start -- --ps 2` starts them) shows which tensor or row partition is on which task,
 * and each task's bytes, as the job API has them. The mlp-large (5.8M parameters, more
 * than one task holds) is partitioned: its two big kernels are split by rows over both.
 */
import { expect, test } from '@playwright/test';
import type { JobDetail } from '../shared/operator-protocol.js';
import { startCoordinator, type Running } from '../test-support/index.js';
import { signIn, watchErrors } from './dashboard-session.js';

const TOKEN = 'dashboard-placement-token';
let run: Running;

test.beforeAll(async () => {
  run = await startCoordinator({ model: 'mlp-large', name: 'on two ps tasks' }, { operatorToken: TOKEN }, { ps: 2 });
});
test.afterAll(async () => run?.close());

test('a job on 2 ps tasks shows each tensor or partition with its task, and bytes per task', async ({ page }) => {
  const errors = watchErrors(page);
  await signIn(page, run.url, TOKEN, `/dashboard#job=${run.job.id}`);
  await expect(page.getByRole('heading', { name: 'Placement on ps tasks' })).toBeVisible();

  // Greedy by bytes in the model's order, ties to the lower task; kernels over 1 MiB split in 2 by rows.
  const tasks = page.locator('#placement-tasks tbody tr');
  await expect(tasks).toHaveCount(2);
  await expect(page.locator('#placement-tasks tr[data-task="0"] > *')).toHaveText(['ps0', run.psEndpoints![0]!, '4', '11.1 MB', '50.18 %']);
  await expect(page.locator('#placement-tasks tr[data-task="1"] > *')).toHaveText(['ps1', run.psEndpoints![1]!, '4', '11.1 MB', '49.82 %']);
  const slices = page.locator('#placement-slices tbody tr');
  await expect(slices).toHaveCount(8);
  const row = (name: string) => page.locator(`#placement-slices tr[data-slice="${name}"] > *`);
  await expect(row('dense1/kernel/part_0')).toHaveText(['dense1/kernel/part_0', 'dense1/kernel (1 of 2)', '0–391', '392×2048', '3.1 MB', 'ps0']);
  await expect(row('dense1/kernel/part_1')).toHaveText(['dense1/kernel/part_1', 'dense1/kernel (2 of 2)', '392–783', '392×2048', '3.1 MB', 'ps1']);
  await expect(row('dense1/bias')).toHaveText(['dense1/bias', 'dense1/bias', '0–2,047', '2048', '8.0 KB', 'ps0']);
  await expect(row('dense2/kernel/part_0')).toHaveText(['dense2/kernel/part_0', 'dense2/kernel (1 of 2)', '0–1,023', '1024×2048', '8.0 MB', 'ps1']);
  await expect(row('dense2/kernel/part_1')).toHaveText(['dense2/kernel/part_1', 'dense2/kernel (2 of 2)', '1,024–2,047', '1024×2048', '8.0 MB', 'ps0']);
  await expect(row('output/bias')).toHaveText(['output/bias', 'output/bias', '0–9', '10', '40 B', 'ps1']);

  // The table is the job API's placement, row for row.
  const detail = (await (await page.request.get(`${run.url}/api/jobs/${run.job.id}`)).json()) as JobDetail;
  expect(detail.placement!.tasks.map((t) => t.bytes)).toEqual([11_689_984, 11_608_104]);
  expect(await page.locator('#placement-slices tbody th').allTextContents()).toEqual(detail.placement!.slices.map((s) => s.name));
  expect(errors).toEqual([]);
});
