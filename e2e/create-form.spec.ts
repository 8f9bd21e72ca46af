/**
 * The create-job form as an operator meets it: the default name and description
 * follow the dataset until the operator writes their own, and a refusal is shown in
 * words next to each bad field, named by its label, with focus on the first one. The
 * learning rate follows a preset with a rate of its own until the operator types one.
 */
import { expect, test, type Page } from '@playwright/test';
import { startCoordinator, type Running } from '../test-support/index.js';
import { signIn as signInAs, watchErrors } from './dashboard-session.js';

const TOKEN = 'create-form-token';
let run: Running;

test.beforeAll(async () => {
  run = await startCoordinator({ model: 'mlp', name: 'create-form existing job' }, { operatorToken: TOKEN });
});
test.afterAll(async () => run?.close());

async function signIn(page: Page): Promise<string[]> {
  const errors = watchErrors(page);
  await signInAs(page, run.url, TOKEN);
  return errors;
}

test('the default name and description follow the dataset until the operator writes their own', async ({ page }) => {
  const errors = await signIn(page);
  const name = page.getByLabel('Name', { exact: true });
  const description = page.getByLabel('Description', { exact: true });
  const dataset = page.getByLabel('Dataset', { exact: true });
  await expect(dataset.locator('option[value="fashion-mnist"]')).toHaveCount(1);
  await expect(name).toHaveValue('MNIST digits');

  await dataset.selectOption('fashion-mnist');
  await expect(name).toHaveValue('Fashion-MNIST clothing');
  await expect(description).toHaveValue(/Fashion-MNIST/);

  await name.fill('My own name');
  await dataset.selectOption('iris');
  await expect(name).toHaveValue('My own name');
  await expect(description).toHaveValue(/iris/);
  expect(errors).toEqual([]);
});

test("the learning rate follows a preset with a rate of its own (mlp-large) until the operator types one", async ({ page }) => {
  const errors = await signIn(page);
  const model = page.locator('#new-model');
  const lr = page.locator('#new-lr');
  await expect(lr).toHaveValue('0.05');
  await model.selectOption('mlp-large');
  await expect(lr).toHaveValue('0.01');
  await model.selectOption('mlp');
  await expect(lr).toHaveValue('0.05');
  await lr.fill('0.2');
  await model.selectOption('mlp-large');
  await expect(lr).toHaveValue('0.2');
  expect(errors).toEqual([]);
});

test('a refusal is shown in words next to each bad field, by its label, with focus on the first', async ({ page }) => {
  const errors = await signIn(page);
  const jobsBefore = run.coordinator.jobs.list().length;

  // Text a number input cannot read is caught before anything is sent.
  await page.getByLabel('Epochs').pressSequentially('2e');
  await page.getByRole('button', { name: 'Create job' }).click();
  await expect(page.locator('#new-epochs-error')).toHaveText('Epochs: must be a number');
  await expect(page.getByLabel('Epochs')).toBeFocused();
  await page.getByLabel('Epochs').fill('3');

  // The server's refusal, field by field.
  await page.getByLabel('Batch size').fill('1.5');
  await page.getByLabel('Learning rate', { exact: true }).fill('50');
  await page.getByRole('button', { name: 'Create job' }).click();
  await expect(page.locator('#create-status')).toHaveText('The job was not created.');
  await expect(page.locator('#new-lr-error')).toHaveText('Learning rate: must be at most 10');
  await expect(page.locator('#new-batch-error')).toHaveText('Batch size: must be a whole number');
  await expect(page.getByLabel('Learning rate', { exact: true })).toHaveAttribute('aria-invalid', 'true');
  // Learning rate comes first in the form.
  await expect(page.getByLabel('Learning rate', { exact: true })).toBeFocused();
  const summary = await page.locator('#create-errors').innerText();
  expect(summary).toContain('Learning rate: must be at most 10');
  expect(summary).not.toMatch(/optimizer\.learningRate|batchSize|Too big|expected/);
  expect(run.coordinator.jobs.list().length).toBe(jobsBefore);

  // Fixed, the errors go and the job is created.
  await page.getByLabel('Learning rate', { exact: true }).fill('0.1');
  await page.getByLabel('Batch size').fill('32');
  await page.getByLabel('Start now').uncheck();
  await page.getByRole('button', { name: 'Create job' }).click();
  await expect(page.locator('#create-status')).toContainText('Created');
  await expect(page.locator('.field-error')).toHaveCount(0);
  expect(run.coordinator.jobs.list().length).toBe(jobsBefore + 1);

  const refusal = 'console: Failed to load resource: the server responded with a status of 400 (Bad Request)';
  expect(errors).toEqual([refusal]);
});
