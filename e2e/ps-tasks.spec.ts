/**
 * The core promise through ps tasks: two headless Chromium tabs train the MLP on MNIST
 * with its parameters on two ps task processes the coordinator started (as `npm start
 * -- --ps 2` does), each tab with one socket per task, until the held-out accuracy
 * reaches 95 %.
 */
import { expect, test } from '@playwright/test';
import { startCoordinator, type Running } from '../test-support/index.js';
import { closeAndCheck, trainTwoTabsTo95 } from './workers.js';

let run: Running;
test.beforeAll(async () => {
  run = await startCoordinator({ name: 'e2e mlp on ps tasks', model: 'mlp', evalIntervalSeconds: 4, epochs: 50 }, {}, { ps: 2 });
});
test.afterAll(async () => run?.close());

test('two browser workers train the MLP to ≥ 95% test accuracy through 2 ps tasks', async ({ context }) => {
  const workers = await trainTwoTabsTo95(context, run, 'e2e mlp on ps tasks');
  // The chief counted every accepted push as a step of the global version; the tasks hold the parameters.
  expect(run.job.stats.pushesAccepted).toBe(run.job.version);
  expect(run.psEndpoints).toHaveLength(2);
  await closeAndCheck(workers);
});
