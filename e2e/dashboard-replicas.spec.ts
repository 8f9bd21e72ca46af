/**
 * The dashboard's Replicas table: a job split into 2 stages shows one row per stage of
 * its replica with what the stages reported (busy fraction, path, bytes per example to
 * the next stage) and who waits, and the Workers table names each worker's replica and
 * stage; a data-parallel job shows no such table.
 */
import { expect, test } from '@playwright/test';
import type { JobAssignment } from '../shared/protocol.js';
import type { RelayFrameIn, ReplicaReport } from '../shared/replica-protocol.js';
import { connectTestWorker, startCoordinator, waitForEvent, type Running, type TestWorker } from '../test-support/index.js';
import { signIn, watchErrors } from './dashboard-session.js';

const TOKEN = 'dashboard-replicas-token';
let run: Running;
const sockets: TestWorker[] = [];

test.beforeAll(async () => {
  run = await startCoordinator({ model: 'mlp', name: 'split in two', stages: 2 }, { operatorToken: TOKEN });
});
test.afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await run?.close();
});

async function join(): Promise<{ w: TestWorker; workerId: string; staged: Promise<JobAssignment> }> {
  const w = await connectTestWorker(run.url);
  sockets.push(w);
  const staged = new Promise<JobAssignment>((resolve) => w.on('job:assign', (a) => a?.replica && resolve(a)));
  const hello = await w.emitWithAck('worker:hello', { userAgent: 'replicas e2e' });
  if (!hello.ok) throw new Error(hello.message);
  return { w, workerId: hello.workerId, staged };
}

test('a job in 2 stages shows its replica, its stages and their reports; a data-parallel job shows none', async ({ page }) => {
  const a = await join();
  const b = await join();
  await Promise.all([a.staged, b.staged]);
  const c = await join();
  // 1,000 bytes through the relay for 10 examples, reported by both stages.
  const got = waitForEvent<RelayFrameIn>(b.w, 'relay:frame');
  expect(await a.w.emitWithAck('relay:frame', { replicaId: 'r1', to: b.workerId, frame: new Uint8Array(1000) })).toEqual({ ok: true });
  await got;
  const report = (over: Partial<ReplicaReport>): ReplicaReport => ({ replicaId: 'r1', path: 'relay', bytesSent: { prev: 0, next: 0 }, bytesReceived: { prev: 0, next: 0 }, busyMs: 0, wallMs: 1000, examples: 10, ...over });
  expect(await a.w.emitWithAck('replica:report', report({ bytesSent: { prev: 0, next: 1000 }, busyMs: 250 }))).toEqual({ ok: true });
  expect(await b.w.emitWithAck('replica:report', report({ bytesReceived: { prev: 1000, next: 0 }, busyMs: 750 }))).toEqual({ ok: true });

  const errors = watchErrors(page);
  await signIn(page, run.url, TOKEN, `/dashboard#job=${run.job.id}`);
  const table = page.locator('#replicas-table');
  await expect(page.getByRole('heading', { name: 'Replicas' })).toBeVisible();
  await expect(table.locator('tbody tr')).toHaveCount(2);
  const first = table.locator('tr[data-replica="r1"][data-stage="0"] td');
  await expect(first).toHaveText(['1 of 2', a.workerId, 'flatten, dense1', '392.5 KB', '25.00 %', 'relay', '100 B']);
  const second = table.locator('tr[data-replica="r1"][data-stage="1"] td');
  await expect(second).toHaveText(['2 of 2', b.workerId, 'output', '5.0 KB', '75.00 %', 'relay', '—']);
  await expect(page.locator('#replicas')).toContainText(`1 worker waiting for a replica: ${c.workerId}.`);
  // The Workers table says which stage each worker holds, and who waits.
  const stageCell = (id: string) => page.locator(`#worker-rows tr[data-worker-id="${id}"] td[data-label="Stage"]`);
  await expect(stageCell(a.workerId)).toHaveText('r1 · 1 of 2');
  await expect(stageCell(b.workerId)).toHaveText('r1 · 2 of 2');
  await expect(stageCell(c.workerId)).toHaveText('waiting');

  const dp = await run.coordinator.createJob({ model: 'mlp', name: 'data parallel' });
  if (!dp.ok) throw new Error(dp.message);
  await page.locator(`.job-select[data-job-id="${dp.job.id}"]`).click();
  await expect(page.locator('#job-detail-h')).toHaveText('data parallel');
  await expect(page.locator('#replicas-section')).toBeHidden();
  expect(errors).toEqual([]);
});
