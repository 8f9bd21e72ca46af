/**
 * What operators who know Weights & Biases or TensorBoard expect, in a real browser
 * against a real coordinator whose two jobs have real evaluations: the full
 * configuration, clone with changes, several jobs on one chart, smoothing and log
 * scale, metrics export, the model archive, an estimated finish and the accuracy of
 * each class with the confusion matrix.
 */
import { expect, test, type Download, type Page } from '@playwright/test';
import { readFile } from 'node:fs/promises';
import { encodeTensors } from '../shared/codec.js';
import type { JobDetail } from '../shared/operator-protocol.js';
import { sizeOf } from '../shared/tensors.js';
import type { Job } from '../server/jobs/job.js';
import { LeasedPusher, connectTestWorker, startCoordinator, unzip, type Running, type TestWorker } from '../test-support/index.js';
import { smooth } from '../client/dashboard/smoothing.js';

const TOKEN = 'dashboard-tools-token';
let run: Running;
let jobA: Job;
let jobB: Job;
const sockets: TestWorker[] = [];

/** A worker on `job` pushes `pushes` gradients (a different pattern each) and the job is evaluated after each. */
async function train(job: Job, pushes: number): Promise<void> {
  const w = await connectTestWorker(run.url);
  sockets.push(w);
  // The coordinator gives a new worker the running job with the fewest workers (the older on a tie).
  const hello = await w.emitWithAck('worker:hello', { userAgent: `tools ${job.id}` });
  if (!hello.ok || hello.job?.jobId !== job.id) throw new Error(`the worker was assigned ${hello.ok ? hello.job?.jobId : hello.code}, not ${job.id}`);
  const tensors = hello.job.tensors;
  const pusher = new LeasedPusher(w, job.id);
  for (let p = 0; p < pushes; p++) {
    const payload = encodeTensors(tensors.map((t) => ({ ...t, values: Float32Array.from({ length: sizeOf(t.shape) }, (_, i) => (((i * (p + 3)) % 11) - 5) * 2e-3) })));
    const r = await pusher.push({ baseVersion: job.store.version, loss: 2 - p * 0.1, ...payload });
    if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
    await job.evaluateIfChanged();
  }
}

test.beforeAll(async () => {
  run = await startCoordinator(
    { name: 'tools A', model: 'mlp', optimizer: { learningRate: 0.02 }, seed: 7, shardSize: 500, targetAccuracy: 0.99 },
    { operatorToken: TOKEN },
  );
  jobA = run.job;
  const b = await run.coordinator.createJob({ name: 'tools B', model: 'mlp', optimizer: { type: 'sgd', learningRate: 0.1 }, evalIntervalSeconds: 3600 });
  if (!b.ok) throw new Error(b.message);
  jobB = b.job;
  await train(jobA, 4);
  await train(jobB, 3);
});
test.afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await run?.close();
});

async function signIn(page: Page, jobId: string): Promise<string[]> {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${run.url}/dashboard#job=${jobId}`);
  await page.getByLabel('Operator token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('#connection')).toHaveText(/connected/);
  await expect(page.locator('#job-detail-h')).toHaveText(jobId === jobA.id ? 'tools A' : 'tools B');
  return errors;
}

async function downloaded(page: Page, click: () => Promise<void>): Promise<{ name: string; data: Buffer }> {
  const [download] = (await Promise.all([page.waitForEvent('download'), click()])) as [Download, void];
  return { name: download.suggestedFilename(), data: await readFile((await download.path())!) };
}

test('the job detail shows the full configuration, the estimate, each class, and exports metrics and the model', async ({ page }) => {
  const errors = await signIn(page, jobA.id);

  await page.getByText('Full configuration').click();
  const config = page.locator('#job-config-body');
  await expect(config.locator('dd[data-path="seed"]')).toHaveText('7');
  await expect(config.locator('dd[data-path="shardSize"]')).toHaveText('500');
  await expect(config.locator('dd[data-path="batchSize"]')).toHaveText('64default');
  await expect(config.locator('dd[data-path="optimizer.learningRate"]')).toHaveText('0.02');
  await expect(config.locator('dd[data-path="backupWorkers"]')).toContainText('not read by mode async');
  await expect(config.locator('dd[data-path="optimizer.beta1"]')).toContainText('not read by adagrad');
  // Every field of the spec, grouped.
  expect(await config.locator('dd[data-path]').count()).toBe(Object.keys(jobA.spec).length - 1 + Object.keys(jobA.spec.optimizer).length);

  // Recent pushes give the job a rate; the estimate says what it rests on.
  await train(jobA, 1);
  await expect(page.locator('#job-facts')).toContainText(/Estimated finish\s*in ~.* at [\d,]+ examples\/s; epochs: ~/);
  await expect(page.locator('#job-facts')).toContainText('target 99.00 %');

  // The latest evaluation by class, named by the dataset's classes.
  const version = jobA.confusion!.version;
  await expect(page.locator('#confusion-h')).toHaveText(`By class (evaluation of version ${version})`);
  await expect(page.locator('#per-class tbody tr')).toHaveCount(10);
  await expect(page.locator('#confusion-matrix tbody tr')).toHaveCount(10);
  const row3 = jobA.confusion!.matrix[3]!;
  const acc3 = row3[3]! / row3.reduce((a, b) => a + b, 0);
  await expect(page.locator('#per-class tr[data-class="3"] td').first()).toHaveText(`${(acc3 * 100).toFixed(2)} %`);

  const json = await downloaded(page, () => page.getByRole('button', { name: 'Metrics (JSON)' }).click());
  expect(json.name).toBe(`tools-a-${jobA.id}-metrics.json`);
  const exported = JSON.parse(json.data.toString('utf8')) as { evals: { confusion?: number[][] }[]; history: unknown[] };
  expect(exported.evals).toHaveLength(jobA.evals.length);
  expect(exported.evals.at(-1)?.confusion).toEqual(jobA.confusion!.matrix);
  const csv = await downloaded(page, () => page.getByRole('button', { name: 'Evaluations (CSV)' }).click());
  expect(csv.name).toBe(`tools-a-${jobA.id}-evals.csv`);
  expect(csv.data.toString('utf8').split('\r\n')[0]).toMatch(/^time,at_ms,version,examples_seen,accuracy,loss,accuracy_0,.*accuracy_9$/);
  const history = await downloaded(page, () => page.getByRole('button', { name: 'History (CSV)' }).click());
  expect(history.data.toString('utf8')).toMatch(/^time,at_ms,version,examples_seen,examples_per_second/);

  // One archive, self-consistent whatever the browser calls a second copy.
  for (let i = 0; i < 2; i++) {
    const zip = await downloaded(page, () => page.getByRole('button', { name: /Download trained model/ }).click());
    const base = `tools-a-${jobA.id}-v${jobA.store.version}`;
    expect(zip.name).toBe(`${base}.zip`);
    const files = unzip(zip.data);
    expect([...files.keys()]).toEqual([`${base}/model.json`, `${base}/weights.bin`, `${base}/README.txt`]);
    expect((JSON.parse(files.get(`${base}/model.json`)!.toString('utf8')) as { weightsManifest: { paths: string[] }[] }).weightsManifest[0]!.paths).toEqual(['weights.bin']);
  }
  expect(errors).toEqual([]);
});

test('clone with changes prefills the form from a job and keeps the settings the form does not show', async ({ page, request }) => {
  const errors = await signIn(page, jobA.id);
  await page.getByRole('button', { name: 'Clone with changes' }).click();
  await expect(page.getByLabel('Name', { exact: true })).toHaveValue('tools A (copy)');
  await expect(page.getByLabel('Name', { exact: true })).toBeFocused();
  await expect(page.getByLabel('Learning rate', { exact: true })).toHaveValue('0.02');
  await expect(page.getByLabel('Target accuracy (0–1, optional)')).toHaveValue('0.99');
  await expect(page.locator('#clone-text')).toContainText(`Cloned from "tools A" (${jobA.id})`);
  await expect(page.locator('#clone-text')).toContainText('seed 7');
  await expect(page.locator('#clone-text')).toContainText('shardSize 500');

  await page.getByLabel('Learning rate', { exact: true }).fill('0.03');
  await page.getByLabel('Start now').uncheck();
  await page.getByRole('button', { name: 'Create job' }).click();
  await expect(page.locator('#create-status')).toContainText('Created "tools A (copy)"');
  await expect(page.locator('#clone-note')).toBeHidden();
  const created = run.coordinator.jobs.list().find((j) => j.spec.name === 'tools A (copy)')!;
  const detail = (await (await request.get(`${run.url}/api/jobs/${created.id}`)).json()) as JobDetail;
  expect(detail.spec).toEqual({ ...jobA.spec, name: 'tools A (copy)', optimizer: { ...jobA.spec.optimizer, learningRate: 0.03 } });
  expect(errors).toEqual([]);
});

test('several jobs on one chart; smoothing and log scale change what the charts plot', async ({ page }) => {
  const errors = await signIn(page, jobA.id);
  const compare = page.locator('#chart-compare');
  // The selected job is ticked; tick the other.
  await expect(page.locator(`#compare-jobs input[data-job-id="${jobA.id}"]`)).toBeChecked();
  await page.locator(`#compare-jobs input[data-job-id="${jobB.id}"]`).check();
  await expect.poll(async () => JSON.parse((await compare.getAttribute('data-last')) ?? '[]').length).toBe(2);
  await expect.poll(async () => Number(await compare.getAttribute('data-points'))).toBe(new Set([...jobA.evals, ...jobB.evals].map((e) => e.examplesSeen)).size);
  const last = JSON.parse((await compare.getAttribute('data-last'))!) as number[];
  expect(last).toEqual([jobA.evals.at(-1)!.accuracy, jobB.evals.at(-1)!.accuracy]);
  await page.getByLabel('Metric', { exact: true }).selectOption('loss');
  await expect.poll(async () => JSON.parse((await compare.getAttribute('data-last')) ?? '[]')).toEqual([jobA.evals.at(-1)!.loss, jobB.evals.at(-1)!.loss]);

  // TensorBoard's smoothing: the debiased moving average of the job's own evaluations.
  await page.getByLabel('Smoothing').fill('0.6');
  await expect(page.locator('#chart-smoothing-value')).toHaveText('0.60');
  const accuracies = jobA.evals.map((e) => e.accuracy);
  const expected = smooth(accuracies, 0.6).at(-1)!;
  await expect.poll(async () => (JSON.parse((await page.locator('#chart-test-time').getAttribute('data-last'))!) as number[])[0]).toBeCloseTo(expected, 9);
  expect(expected).not.toBeCloseTo(accuracies.at(-1)!, 6);
  await expect(page.locator('#chart-test-time figcaption')).toContainText('(smoothed)');

  await page.getByLabel('Log scale for losses').check();
  await expect(page.locator('#chart-test-time')).toHaveAttribute('data-log-scales', 'loss');
  await expect(page.locator('#chart-train-loss')).toHaveAttribute('data-log-scales', 'y');
  await expect(compare).toHaveAttribute('data-log-scales', 'y');
  await page.screenshot({ path: test.info().outputPath('compare-1280.png'), fullPage: true });
  expect(errors).toEqual([]);
});
