/**
 * After a restart in which a job's newest checkpoint could not be read, the dashboard
 * tells the operator: the job's Resumed row names the checkpoint it went back to and the
 * one it passed over, with the reason. A real restart: two coordinators over one data dir,
 * the newest checkpoint file damaged in between. The push counters come back with the
 * checkpoint, the clipped ones too: one push of the run was scaled down to the norm bound,
 * and the Pushes row and the job API count it beside the refusals.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { encodeTensors } from '../shared/codec.js';
import { sizeOf } from '../shared/tensors.js';
import type { JobDetail } from '../shared/operator-protocol.js';
import { createCoordinator, type Coordinator } from '../server/coordinator.js';
import { WARM_PUSHES } from '../server/params/norm-bound.js';
import { joinAssigned, LeasedPusher, NO_LATE_SLOTS, startCoordinator, type TestWorker } from '../test-support/index.js';
import { signIn, watchErrors } from './dashboard-session.js';

const TOKEN = 'dashboard-resumed-token';
const sockets: TestWorker[] = [];
let second: Coordinator | undefined;
let url = '';
let jobId = '';

test.beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'downpour-resumed-'));
  const first = await startCoordinator({ model: 'mlp', name: 'resumed check', checkpointSeconds: 3600, evalIntervalSeconds: 3600 }, { operatorToken: TOKEN, dataDir });
  const { w, job } = await joinAssigned(first.url, sockets, 'resumed-check worker');
  jobId = job.jobId;
  const pusher = new LeasedPusher(w, job.jobId);
  const gradient = (value: number) => encodeTensors(job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(value) })));
  // Pushes within the norm bound make the worker warm; its next, a thousand times larger, is clipped to the bound rather than refused.
  for (let k = 0; k <= WARM_PUSHES; k++) {
    const pushed = await pusher.push({ baseVersion: k, loss: 2, ...gradient(k < WARM_PUSHES ? 1e-3 : 1) });
    if (!pushed.ok) throw new Error(pushed.message);
    if ((pushed.clipped !== undefined) !== (k === WARM_PUSHES)) throw new Error(`push ${k} clipped: ${pushed.clipped}`);
  }
  for (const s of sockets.splice(0)) s.disconnect();
  await first.close(); // checkpoints the job at version WARM_PUSHES + 1

  // A newer checkpoint whose bytes were damaged on disk: the restart must pass over it.
  const dir = join(dataDir, 'checkpoints', jobId);
  const newest = readdirSync(dir).filter((f) => f.endsWith('.dpck')).sort().at(-1)!;
  const damaged = join(dir, 'ckpt-000000000099.dpck');
  copyFileSync(join(dir, newest), damaged);
  const bytes = readFileSync(damaged);
  for (let i = bytes.length - 64; i < bytes.length; i++) bytes[i] = bytes[i]! ^ 0xff;
  writeFileSync(damaged, bytes);

  second = createCoordinator({ dataDir, operatorToken: TOKEN, slots: NO_LATE_SLOTS });
  await second.restore();
  const { port } = await second.listen(0, '127.0.0.1');
  url = `http://127.0.0.1:${port}`;
});
test.afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await second?.close();
});

test('the Resumed row names the checkpoint resumed from and the one passed over; the clipped push is counted', async ({ page, request }) => {
  const errors = watchErrors(page);
  await signIn(page, url, TOKEN, `/dashboard#job=${jobId}`);
  const facts = page.locator('#job-facts');
  await expect(facts.locator('dt', { hasText: 'Resumed' })).toBeVisible();
  const resumed = facts.locator('dt:text-is("Resumed") + dd');
  await expect(resumed).toContainText(`resumed from checkpoint v${WARM_PUSHES + 1}`);
  await expect(resumed).toContainText('passed over ckpt-000000000099.dpck: checkpoint payload checksum mismatch');
  await expect(facts.locator('dt:text-is("Pushes") + dd')).toHaveText(`${WARM_PUSHES + 1} accepted (1 of them clipped to the norm bound), 0 refused`);
  const detail = (await (await request.get(`${url}/api/jobs/${jobId}`)).json()) as JobDetail;
  expect([detail.pushesAccepted, detail.pushesClipped]).toEqual([WARM_PUSHES + 1, 1]);
  expect(errors).toEqual([]);
});
