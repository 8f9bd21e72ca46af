/**
 * A split job in a round mode in the browser (docs/model-parallelism.md, "Split jobs in
 * round modes"): two headless Chromium tabs (wasm) form one replica of the mlp in 2
 * stages in `local` mode (DiLoCo per stage), linked by WebRTC, and train it to ≥ 95 %
 * test accuracy. Each tab's stage steps its own layers with its own optimizer after
 * every mini-batch (stage-local-steps.ts) and pushes its layers' delta every
 * `localSteps`; the coordinator joins the two deltas into the replica's and closes a
 * round on it, the replica being the round's one member. The job API and the dashboard
 * show the rounds, their member and the replica's stages.
 */
import { expect, test } from '@playwright/test';
import type { JobDetail } from '../shared/operator-protocol.js';
import { startCoordinator, type Running } from '../test-support/index.js';
import { signIn, watchErrors } from './dashboard-session.js';
import { closeAndCheck, openWorker, type WorkerPage } from './workers.js';

const TOKEN = 'stage-tabs-rounds-token';
let run: Running;
test.afterEach(async () => run?.close());

const detail = async (): Promise<JobDetail> => (await (await fetch(`${run.url}/api/jobs/${run.job.id}`)).json()) as JobDetail;

/**
 * Rounds of 8 local steps on mini-batches of 128 (4 micro-batches of 32): a round costs
 * a push, the round's close and a pull at each stage, spread over 8 steps that need
 * nothing from the coordinator (measured on a loaded 2-core machine: ~100 rounds, 95 %
 * in ~40 s).
 */
const SPEC = { model: 'mlp', stages: 2, mode: 'local', localSteps: 8, batchSize: 128, microbatches: 4, optimizer: { type: 'adam', learningRate: 0.002 }, evalIntervalSeconds: 4, epochs: 50 } as const;

test('two tabs, one replica of the mlp in 2 stages in local mode, train it to ≥ 95 % in rounds of their deltas; the API and the dashboard show the rounds', async ({ context, browser }) => {
  run = await startCoordinator({ name: 'e2e stages local', ...SPEC }, { operatorToken: TOKEN });
  const tabs: WorkerPage[] = [];
  for (let i = 0; i < 2; i++) tabs.push(await openWorker(context, run.url, { autostart: '1', backend: 'wasm' }));
  await expect.poll(async () => (await Promise.all(tabs.map(async (t) => (await t.status()).stage?.stage ?? null))).sort(), { timeout: 60_000 }).toEqual([0, 1]);
  await expect.poll(async () => await Promise.all(tabs.map(async (t) => (await t.status()).stage?.path)), { timeout: 30_000 }).toEqual(['webrtc', 'webrtc']);
  // Rounds close, each on the one replica (a member counted per worker would never push for stage 1: every round would wait for its deadline).
  await expect.poll(async () => (await detail()).rounds, { timeout: 60_000 }).toMatchObject({ closed: expect.any(Number), timedOut: 0, members: ['r1'] });
  await expect.poll(async () => (await detail()).rounds!.closed, { timeout: 60_000 }).toBeGreaterThanOrEqual(3);
  const started = Date.now();
  try {
    await expect.poll(() => run.job.summary().lastEval?.accuracy ?? 0, { timeout: 3 * 60_000, intervals: [2000] }).toBeGreaterThanOrEqual(0.95);
  } finally {
    test.info().annotations.push({ type: 'progress', description: `${(Date.now() - started) / 1000} s: ${JSON.stringify(run.job.summary())} ${JSON.stringify(run.job.parameters.counters())}` });
  }
  for (const t of tabs) {
    const s = await t.status();
    expect(s).toMatchObject({ state: 'training', backend: 'wasm', stage: { replicaId: 'r1', of: 2, path: 'webrtc' } });
    // A local-mode stage pushes once per round: its delta over localSteps mini-batches.
    expect(s.pushesAccepted).toBeGreaterThan(10);
    await expect(t.page.locator('#notice')).toContainText(`stage ${s.stage!.stage + 1} of 2 of model replica r1`);
  }
  const d = await detail();
  // Every version is a closed round (nothing applied outside one), none closed by its deadline.
  expect(d.rounds).toMatchObject({ closed: d.version, timedOut: 0, members: ['r1'] });
  expect(d.replicas!.replicas.map((r) => [r.replicaId, r.path, r.stages.length])).toEqual([['r1', 'webrtc', 2]]);

  const dashboard = await browser.newPage();
  const errors = watchErrors(dashboard);
  await signIn(dashboard, run.url, TOKEN, `/dashboard#job=${run.job.id}`);
  const facts = dashboard.locator('#job-facts');
  await expect(facts).toContainText('local (DiLoCo): 8 local steps, outer Nesterov lr 0.7, momentum 0.9, 0 backup replicas');
  // The stages, not whole-model workers, take the local steps with the job's optimizer.
  await expect(facts).toContainText(/Optimizer.*\(on the stages\)/);
  await expect(facts).toContainText(/Rounds[\d,]+ closed \(0 by their deadline\); a round waits for 1 replica: r1/);
  await expect(dashboard.locator('#replicas-table tbody tr')).toHaveCount(2);
  for (const stage of [0, 1]) await expect(dashboard.locator(`#replicas-table tr[data-replica="r1"][data-stage="${stage}"] td`).nth(5)).toHaveText('webrtc');
  await dashboard.close();
  expect(errors).toEqual([]);
  await closeAndCheck(tabs);
});
