/**
 * Consent with knowledge (issue 14, defect 4): before Start the page names the project,
 * who runs it and how to reach them, the job a tab would train and what leaves the
 * device; the job changing under the volunteer is announced; a job the volunteer helped
 * ends with a thank-you and its final accuracy.
 */
import { expect, test } from '@playwright/test';
import type { JobCard } from '../shared/volunteer-protocol.js';
import type { Job } from '../server/jobs/job.js';
import { startCoordinator, type Running } from '../test-support/index.js';
import { closeAndCheck, openWorker } from './workers.js';

const PROJECT = {
  name: 'Digits for science',
  operator: 'Example Lab <b>(not bold)</b>',
  contact: 'ml-team@lab.example.org',
  privacy: 'We keep the trained model and the counts per anonymous id for a year.\nNothing else.',
};

let run: Running;
test.beforeAll(async () => {
  run = await startCoordinator({ name: 'Digits A', model: 'mlp', description: 'Reading handwritten digits.' }, { project: PROJECT });
});
test.afterAll(async () => run?.close());

async function createJob(name: string, start: boolean): Promise<Job> {
  const created = await run.coordinator.createJob({ name, model: 'mlp', evalIntervalSeconds: 3600 }, { start });
  if (!created.ok) throw new Error(created.message);
  return created.job;
}

test('before Start the page names the project, who runs it, the job and what leaves the device', async ({ context }) => {
  const w = await openWorker(context, run.url, { backend: 'wasm' });
  const p = w.page;
  await expect(p.locator('#project-name')).toHaveText(PROJECT.name);
  // The owner's words are text: markup in them is shown, not obeyed.
  await expect(p.locator('#project-operator')).toHaveText(PROJECT.operator);
  expect(await p.locator('#project-operator b').count()).toBe(0);
  await expect(p.locator('#project-contact a')).toHaveAttribute('href', `mailto:${PROJECT.contact}`);
  await expect(p.locator('#project-privacy')).toContainText('counts per anonymous id for a year');
  await expect(p.locator('#project-unnamed')).toBeHidden();

  // The job, before any Start: it used to read "—" until the engine had an assignment.
  await expect(p.locator('#job-name')).toHaveText('Digits A');
  await expect(p.locator('#job-description')).toHaveText('Reading handwritten digits.');
  await expect(p.locator('#job-model')).toContainText('mlp, 101,770 parameters');
  await expect(p.locator('#job-dataset')).toContainText('mnist: 60,000 training examples, 10 classes');
  await expect(p.getByRole('heading', { name: 'What leaves this device' })).toBeVisible();
  await expect(p.locator('.leaves')).toContainText('Gradients');
  await expect(p.locator('.leaves')).toContainText('anonymous volunteer id');

  // Reading all that connects nothing: no worker socket until Start.
  expect(run.coordinator.workerNamespace.sockets.size).toBe(0);
  expect((await w.status()).state).toBe('stopped');
  await closeAndCheck([w]);
});

test('a coordinator whose owner named nobody says so before Start', async ({ context }) => {
  const bare = await startCoordinator({ model: 'mlp' });
  try {
    const w = await openWorker(context, bare.url, { backend: 'wasm' });
    await expect(w.page.locator('#project-name')).toHaveText('Downpour');
    await expect(w.page.locator('#project-operator')).toHaveText('not given');
    await expect(w.page.locator('#project-unnamed')).toBeVisible();
    await expect(w.page.locator('#project-unnamed')).toContainText('has not said who they are');
    await closeAndCheck([w]);
  } finally {
    await bare.close();
  }
});

test('the job given at Start differs from the one shown: the page says so', async ({ context }) => {
  const other = await createJob('Digits B', false);
  const w = await openWorker(context, run.url, { backend: 'wasm' });
  await expect(w.page.locator('#job-name')).toHaveText('Digits A');
  // Between the page's look and the volunteer's Start, the operator swaps the jobs.
  run.job.control('pause');
  other.control('start');
  await w.page.getByRole('button', { name: 'Start' }).click();
  await expect(w.page.locator('#job-change')).toHaveText(/This tab trains “Digits B”, not “Digits A” shown before you pressed Start/);
  await expect(w.page.locator('#job-name')).toHaveText('Digits B');
  await closeAndCheck([w]);
  other.control('stop');
  run.job.control('resume');
});

test('the job ends under the volunteer: a notice of the move, and thanks with the final accuracy', async ({ context }) => {
  const second = await createJob('Digits C', true);
  const w = await openWorker(context, run.url, { backend: 'wasm' });
  await w.page.getByRole('button', { name: 'Start' }).click();
  await expect.poll(async () => (await w.status()).pushesAccepted, { timeout: 60_000 }).toBeGreaterThan(2);
  const trained = run.coordinator.jobs.get((await w.status()).jobId!)!;
  const next = trained === run.job ? second : run.job;

  trained.control('stop');
  await expect(w.page.locator('#job-change')).toHaveText(new RegExp(`moved this tab from “${trained.spec.name}” to “${next.spec.name}”`), { timeout: 60_000 });
  await expect(w.page.locator('#job-name')).toHaveText(next.spec.name);
  // The final evaluation runs after the stop; the page asks until it is in.
  await expect.poll(async () => ((await (await fetch(`${run.url}/api/jobs/${trained.id}/card`)).json()) as JobCard).final, { timeout: 60_000 }).toBe(true);
  const accuracy = `${(trained.evals.at(-1)!.accuracy * 100).toFixed(1)} %`;
  const thanks = w.page.locator('#thanks');
  await expect(thanks).toBeVisible({ timeout: 30_000 });
  await expect(thanks).toContainText(`Thank you! “${trained.spec.name}”`);
  await expect(thanks).toContainText(`final test accuracy is ${accuracy}`);
  await expect(thanks).toContainText(/You gave it [\d,]+ examples/);

  // Once per job: a reload does not thank again.
  await w.page.reload();
  await expect(w.page.locator('#lasting-jobs')).toContainText(trained.spec.name);
  await expect(thanks).toBeHidden();
  await closeAndCheck([w]);
});
