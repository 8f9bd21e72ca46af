/**
 * The operator dashboard end to end: sign in with the token, create and start a job
 * from the form, watch a real worker page feed the charts and the worker table, then
 * Pause and Resume from the dashboard and see the parameter version stop and go.
 *
 * Needs the server side of shared/operator-protocol.ts (operator token, REST job
 * lifecycle, /operator namespace, `/dashboard` route).
 */
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobDetail } from '../shared/operator-protocol.js';
import type { JobSummary } from '../shared/protocol.js';
import { startCoordinator, type Running } from '../test-support/index.js';
import { signIn, watchErrors } from './dashboard-session.js';
import { closeAndCheck, nextReport, openWorker } from './workers.js';

const TOKEN = 'test-token';
const JOB_NAME = 'e2e dashboard mlp';
const auth = { Authorization: `Bearer ${TOKEN}` };

let run: Running;
let dataDir: string;

test.beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'downpour-dashboard-'));
  run = await startCoordinator({ name: 'e2e default job', model: 'mlp' }, { operatorToken: TOKEN, dataDir });
});
test.afterAll(async () => {
  await run?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function versionOf(request: APIRequestContext, name: string): Promise<number> {
  const res = await request.get(`${run.url}/api/jobs`);
  expect(res.ok()).toBe(true);
  const job = ((await res.json()) as JobSummary[]).find((j) => j.name === name);
  if (!job) throw new Error(`GET /api/jobs has no job named "${name}"`);
  return job.version;
}

const points = (page: Page, chart: string) => async () => Number(await page.locator(`#chart-${chart}`).getAttribute('data-points'));

test('operator signs in, creates a job, watches it train, pauses and resumes it', async ({ context, request }) => {
  // The helper's own job would compete for the worker: stop it so ours gets it.
  const stopped = await request.post(`${run.url}/api/jobs/${run.job.id}/stop`, { headers: auth });
  expect(stopped.ok(), await stopped.text()).toBe(true);

  const dash = await context.newPage();
  const errors = watchErrors(dash);
  await dash.setViewportSize({ width: 1280, height: 800 });
  await signIn(dash, run.url, TOKEN);

  await dash.getByLabel('Name', { exact: true }).fill(JOB_NAME);
  await dash.getByLabel('Model', { exact: true }).selectOption('mlp');
  // Compressed pushes, chosen from the dashboard: the worker encodes top-k with error feedback.
  await dash.getByLabel('Gradient codec').selectOption('topk');
  await expect(dash.getByLabel('Top-k ratio (0–1)')).toBeVisible();
  await dash.getByLabel('Eval interval (seconds)').fill('2');
  await dash.getByLabel('Start now').check();
  await dash.getByRole('button', { name: 'Create job' }).click();
  await expect(dash.locator('#create-status')).toContainText('Created');
  await dash.getByRole('button', { name: new RegExp(`^${JOB_NAME}`) }).click();
  await expect(dash.locator('#job-detail-h')).toHaveText(JOB_NAME);
  await expect(dash.locator('#job-state')).toHaveText('running');

  const worker = await openWorker(context, run.url, { autostart: '1', backend: 'wasm' });

  await expect.poll(points(dash, 'train-loss'), { timeout: 90_000 }).toBeGreaterThan(3);
  await expect.poll(points(dash, 'throughput')).toBeGreaterThan(3);
  await expect.poll(points(dash, 'test-time'), { timeout: 60_000 }).toBeGreaterThan(0);
  await expect.poll(points(dash, 'staleness')).toBeGreaterThan(0);
  const rows = dash.locator('#worker-rows tr[data-worker-id]');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText('wasm');
  await expect(rows.first()).toContainText(JOB_NAME);
  await expect(rows.first().locator('td[data-label="Stage"]')).toHaveText('—');
  await expect(dash.locator(`.job-select:has-text("${JOB_NAME}") .job-stats`)).toContainText('· 1 worker ·');
  const jobs = (await (await request.get(`${run.url}/api/jobs`)).json()) as JobSummary[];
  const detail = (await (await request.get(`${run.url}/api/jobs/${jobs.find((j) => j.name === JOB_NAME)!.id}`)).json()) as JobDetail;
  expect(detail.spec.codec).toBe('topk');
  expect(detail.compressionRatio).toBeGreaterThan(10); // 1 % of the entries, as index + value
  // Top-k under Adagrad moves few entries per version: the browser worker pulls deltas and applies them.
  expect(detail.deltaPulls).toBeGreaterThan(0);
  expect(detail.bytesPerPull).toBeLessThan(detail.parameters * 4);
  await expect(dash.locator('#job-facts')).toContainText('Per pull');

  await dash.screenshot({ path: test.info().outputPath('dashboard-desktop.png'), fullPage: true });
  await dash.setViewportSize({ width: 390, height: 844 });
  // Phone width: charts stack, the worker table's rows become labelled cards: no column is cut off.
  expect(await dash.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  const cells = await rows.first().locator('th, td').evaluateAll((els) => els.map((e) => ({ label: e.getAttribute('data-label'), right: e.getBoundingClientRect().right })));
  expect(cells).toHaveLength(10);
  expect(cells.filter((c) => c.right > 390), 'worker cells past the screen edge').toEqual([]);
  await dash.screenshot({ path: test.info().outputPath('dashboard-phone.png'), fullPage: true });
  await dash.setViewportSize({ width: 1280, height: 800 });

  await dash.getByRole('button', { name: 'Pause', exact: true }).click();
  await expect(dash.locator('#job-state')).toHaveText('paused');
  // The coordinator applies a push as it accepts it and accepts none for a paused job, so
  // the version is final once the state changed. It holds while the worker, handed no
  // job, keeps sending heartbeats on the socket its pushes would travel.
  const settled = await versionOf(request, JOB_NAME);
  await expect.poll(async () => (await worker.status()).state).toBe('waiting-for-job');
  const workerId = (await worker.status()).workerId!;
  await nextReport(run, workerId);
  await nextReport(run, workerId);
  expect(await versionOf(request, JOB_NAME)).toBe(settled);
  // A worker without a job trains nothing: it reports, and the table shows, no examples/s.
  expect(run.coordinator.workers.get(workerId)?.examplesPerSecond).toBe(0);
  await expect(rows.first().locator('td[data-label="Examples/s"]')).toHaveText('0 (idle)');
  await expect(rows.first().locator('td[data-label="Job"]')).toHaveText('idle');

  await dash.getByRole('button', { name: 'Resume', exact: true }).click();
  await expect(dash.locator('#job-state')).toHaveText('running');
  await expect.poll(() => versionOf(request, JOB_NAME), { timeout: 60_000 }).toBeGreaterThan(settled + 5);

  await dash.close();
  expect(errors, 'dashboard page errors').toEqual([]);
  await closeAndCheck([worker]);
});

test('operator creates a sync job with a trimmed mean from the form; a median with top-k is refused next to the field', async ({ context, request }) => {
  const name = 'e2e robust sync draft';
  const dash = await context.newPage();
  const errors = watchErrors(dash);
  await signIn(dash, run.url, TOKEN);

  const aggregation = dash.getByLabel('Round aggregation');
  const trim = dash.getByLabel('Fraction dropped (0 to below 0.5)');
  // Offered only for the round-based modes; the fraction only for a trimmed mean or Multi-Krum.
  await expect(aggregation).toBeHidden();
  await dash.getByLabel('Consistency mode').selectOption('sync');
  await expect(aggregation).toBeVisible();
  await expect(aggregation).toHaveValue('mean');
  await expect(trim).toBeHidden();
  await aggregation.selectOption('trimmed-mean');
  await expect(trim).toBeVisible();
  await trim.fill('0.2');
  await dash.getByLabel('Name', { exact: true }).fill(name);
  await dash.getByLabel('Model', { exact: true }).selectOption('mlp');
  await dash.getByLabel('Start now').uncheck();
  await dash.getByRole('button', { name: 'Create job' }).click();
  await expect(dash.locator('#create-status')).toContainText('Created');
  const jobs = (await (await request.get(`${run.url}/api/jobs`)).json()) as JobSummary[];
  const created = jobs.find((j) => j.name === name);
  expect(created?.state).toBe('draft');
  const detail = (await (await request.get(`${run.url}/api/jobs/${created!.id}`)).json()) as JobDetail;
  expect(detail.spec).toMatchObject({ mode: 'sync', aggregation: 'trimmed-mean', trimFraction: 0.2 });
  await dash.getByRole('button', { name: new RegExp(`^${name}`) }).click();
  await expect(dash.locator('#job-facts')).toContainText('trimmed mean (0.2 dropped per end');

  await aggregation.selectOption('multi-krum');
  await expect(trim).toBeVisible();
  // The server's cross-field refusal lands next to the aggregation select.
  await aggregation.selectOption('median');
  await expect(trim).toBeHidden();
  await dash.getByLabel('Gradient codec').selectOption('topk');
  await dash.getByRole('button', { name: 'Create job' }).click();
  await expect(dash.locator('#create-status')).toHaveText('The job was not created.');
  await expect(dash.locator('#new-aggregation-error')).toContainText('topk');

  await dash.getByLabel('Consistency mode').selectOption('async');
  await expect(aggregation).toBeHidden();
  await dash.close();
  // Chromium logs the refused POST itself; that one line is the refusal this test asked for.
  const refusal = 'console: Failed to load resource: the server responded with a status of 400 (Bad Request)';
  expect(errors, 'dashboard page errors').toEqual([refusal]);
});
