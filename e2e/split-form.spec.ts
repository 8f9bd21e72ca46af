/**
 * A split (model-parallel) job from the dashboard's create form (issue 16: "from the
 * dashboard and the page"): the model-parallelism group shows a split job's own fields
 * only when the job would read them, sends them, puts the server's refusals under the
 * stages and micro-batches inputs, and a clone of a split job fills them in.
 */
import { expect, test, type Page } from '@playwright/test';
import type { JobDetail } from '../shared/operator-protocol.js';
import type { JobSpec } from '../shared/job-spec.js';
import { startCoordinator, type Running } from '../test-support/index.js';
import { signIn as signInAs, watchErrors } from './dashboard-session.js';

const TOKEN = 'split-form-token';
let run: Running;

// A split job to clone; its budget (0.405 MB) is under the mlp's 407,080 parameter bytes, so it needs its 2 stages.
const SOURCE = { name: 'split source', model: 'mlp', stages: 2, microbatches: 8, pipelineDepth: 2, activationCodec: 'fp16', maxWorkerParamBytes: 405_000 } as const;

test.beforeAll(async () => {
  run = await startCoordinator(SOURCE, { operatorToken: TOKEN });
});
test.afterAll(async () => run?.close());

async function signIn(page: Page, jobId?: string): Promise<string[]> {
  const errors = watchErrors(page);
  await signInAs(page, run.url, TOKEN, jobId ? `/dashboard#job=${jobId}` : '/dashboard');
  return errors;
}

const REFUSED = 'console: Failed to load resource: the server responded with a status of 400 (Bad Request)';
const create = (page: Page) => page.getByRole('button', { name: 'Create job' }).click();

async function specOf(page: Page, name: string): Promise<JobSpec> {
  const created = run.coordinator.jobs.list().find((j) => j.spec.name === name);
  if (!created) throw new Error(`no job named ${name}`);
  return ((await (await page.request.get(`${run.url}/api/jobs/${created.id}`)).json()) as JobDetail).spec;
}

test('a split job is created from the form: its fields show with stages > 1, the depth only in an async mode', async ({ page }) => {
  const errors = await signIn(page);
  const split = ['#new-microbatches', '#new-pipeline-depth', '#new-activation-codec'];
  await expect(page.locator('#new-stages')).toHaveValue('1');
  await expect(page.locator('#new-param-budget')).toHaveValue('');
  for (const id of split) await expect(page.locator(id)).toBeHidden();

  await page.locator('#new-model').selectOption('mlp');
  await page.locator('#new-name').fill('split from the form');
  await page.locator('#new-stages').fill('2');
  for (const id of split) await expect(page.locator(id)).toBeVisible();
  // The schema's defaults, not the form's.
  await expect(page.locator('#new-pipeline-depth')).toHaveValue('3');
  await expect(page.locator('#new-activation-codec')).toHaveValue('fp32');
  await page.locator('#new-mode').selectOption('sync');
  await expect(page.locator('#new-pipeline-depth')).toBeHidden();
  await expect(page.locator('#new-microbatches')).toBeVisible();
  await page.locator('#new-mode').selectOption('async');

  await page.locator('#new-microbatches').fill('4');
  await page.locator('#new-pipeline-depth').fill('2');
  await page.locator('#new-activation-codec').selectOption('fp16');
  await page.getByLabel('Start now').uncheck();
  const [sent] = await Promise.all([page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/api/jobs')), create(page)]);
  await expect(page.locator('#create-status')).toContainText('Created "split from the form"');
  // Sent, not left to defaults (4 micro-batches is also the default).
  expect((sent.postDataJSON() as { spec: object }).spec).toMatchObject({ stages: 2, microbatches: 4, pipelineDepth: 2, activationCodec: 'fp16', maxWorkerParamBytes: null });
  expect(await specOf(page, 'split from the form')).toMatchObject({ model: 'mlp', stages: 2, microbatches: 4, pipelineDepth: 2, activationCodec: 'fp16', maxWorkerParamBytes: null });
  expect(errors).toEqual([]);
});

test("the server's refusals land under the stages and micro-batches inputs, and no job is created", async ({ page }) => {
  const errors = await signIn(page);
  const jobsBefore = run.coordinator.jobs.list().length;
  await page.locator('#new-model').selectOption('mlp');
  await page.getByLabel('Start now').uncheck();

  // A budget under the model's 407,080 parameter bytes with one stage: the server says how many stages it needs.
  await page.locator('#new-param-budget').fill('0.405');
  await create(page);
  await expect(page.locator('#create-status')).toHaveText('The job was not created.');
  await expect(page.locator('#new-stages-error')).toHaveText(
    'Stages: the model holds 407080 parameter bytes, over maxWorkerParamBytes 405000 per worker: it needs at least 2 stages (the job asks for 1)',
  );
  await expect(page.locator('#new-stages')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('#new-stages')).toBeFocused();

  // More micro-batches than a mini-batch has examples: the schema's refusal.
  await page.locator('#new-stages').fill('2');
  await page.locator('#new-batch').fill('8');
  await page.locator('#new-microbatches').fill('16');
  await create(page);
  await expect(page.locator('#new-microbatches-error')).toHaveText('Micro-batches per mini-batch: 16 micro-batches cannot be cut from a mini-batch of 8');
  await expect(page.locator('#new-stages-error')).toHaveCount(0);
  expect(run.coordinator.jobs.list().length).toBe(jobsBefore);
  expect(errors).toEqual([REFUSED, REFUSED]);
});

test("cloning a split job fills the form's split fields, and the clone keeps them", async ({ page }) => {
  const errors = await signIn(page, run.job.id);
  await expect(page.locator('#job-detail-h')).toHaveText(SOURCE.name);
  await page.getByRole('button', { name: 'Clone with changes' }).click();
  await expect(page.locator('#new-name')).toHaveValue('split source (copy)');
  await expect(page.locator('#new-stages')).toHaveValue('2');
  await expect(page.locator('#new-microbatches')).toHaveValue('8');
  await expect(page.locator('#new-pipeline-depth')).toHaveValue('2');
  await expect(page.locator('#new-activation-codec')).toHaveValue('fp16');
  await expect(page.locator('#new-param-budget')).toHaveValue('0.405');
  // Filled in, so not among the settings carried without a field.
  await expect(page.locator('#clone-text')).not.toContainText(/stages|microbatches|pipelineDepth|activationCodec|maxWorkerParamBytes/);

  await page.getByLabel('Start now').uncheck();
  await create(page);
  await expect(page.locator('#create-status')).toContainText('Created "split source (copy)"');
  expect(await specOf(page, 'split source (copy)')).toEqual({ ...run.job.spec, name: 'split source (copy)' });
  expect(errors).toEqual([]);
});
