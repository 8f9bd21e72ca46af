/**
 * A job created between two dashboard ticks and evaluated at once (stopping a draft
 * evaluates it) reaches the dashboard's store with that evaluation. The clock is manual,
 * so no tick runs between the creation and the evaluation: before `job:added`, the store
 * dropped the evaluation of a job it did not hold and never learnt of it again.
 */
import { io, type Socket } from 'socket.io-client';
import { afterEach, expect, it } from 'vitest';
import { feedStore } from '../../client/dashboard/live.js';
import { DashboardStore } from '../../client/dashboard/store.js';
import { OPERATOR_NAMESPACE, type OperatorServerToClientEvents } from '../../shared/operator-protocol.js';
import { ManualClock, startCoordinator, waitForEvent, type Running } from '../../test-support/index.js';

const TOKEN = 'new-job-token';
let run: Running | null = null;
let dashboard: Socket<OperatorServerToClientEvents> | null = null;

afterEach(async () => {
  dashboard?.disconnect();
  dashboard = null;
  await run?.close();
  run = null;
});

it('a job created and evaluated between two ticks reaches the store with its evaluation', { timeout: 60_000 }, async () => {
  const clock = new ManualClock();
  run = await startCoordinator({}, { clock, operatorToken: TOKEN });
  dashboard = io(run.url + OPERATOR_NAMESPACE, { auth: { token: TOKEN }, transports: ['websocket'], reconnection: false, forceNew: true });
  const store = new DashboardStore();
  feedStore(dashboard, store);
  await waitForEvent(dashboard, 'dashboard:init');
  expect(store.jobs.has(run.job.id)).toBe(true);

  const created = await run.coordinator.createJob({ model: 'mlp', name: 'between ticks', evalIntervalSeconds: 3600 }, { start: false });
  if (!created.ok) throw new Error(created.message);
  const order: string[] = [];
  dashboard.onAny((event: string, arg: { id?: string; jobId?: string }) => {
    if ((arg.id ?? arg.jobId) === created.job.id) order.push(event);
  });
  const evaluated = waitForEvent(dashboard, 'job:eval', 30_000);
  expect(created.job.control('stop').ok).toBe(true);
  await evaluated;

  expect(order).toEqual(['job:added', 'job:eval']);
  const entry = store.jobs.get(created.job.id);
  expect(entry?.info.state).toBe('stopped');
  expect(entry?.evals).toHaveLength(1);
  expect(entry?.evals[0]).toMatchObject({ version: created.job.evals[0]!.version, at: created.job.evals[0]!.at });
  expect(entry?.confusion?.matrix.length).toBe(10);

  // The next tick lists it like any other job and adds nothing twice.
  const ticked = waitForEvent(dashboard, 'dashboard:tick');
  clock.advance(1000);
  await ticked;
  expect(store.jobs.get(created.job.id)?.evals).toHaveLength(1);
});

it('a job already announced is not sent again', { timeout: 60_000 }, async () => {
  const clock = new ManualClock();
  run = await startCoordinator({}, { clock, operatorToken: TOKEN });
  dashboard = io(run.url + OPERATOR_NAMESPACE, { auth: { token: TOKEN }, transports: ['websocket'], reconnection: false, forceNew: true });
  await waitForEvent(dashboard, 'dashboard:init');
  const added: string[] = [];
  dashboard.on('job:added', (j) => added.push(j.id));
  // The job of the init is known: its evaluation comes alone.
  const evaluated = waitForEvent(dashboard, 'job:eval', 30_000);
  expect(run.job.control('stop').ok).toBe(true);
  await evaluated;
  expect(added).toEqual([]);
});
