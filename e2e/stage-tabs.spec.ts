/**
 * The browser as a pipeline stage (issue 16): two headless Chromium tabs form one
 * replica of the mlp split in 2 stages and train it to ≥ 95 % test accuracy, each tab
 * running its stage (stage-loop.ts) in its engine's Web Worker on wasm; activations and
 * their gradients go tab to tab over a WebRTC data channel (the path the job API shows),
 * or through the coordinator's relay when a neighbour does not link by WebRTC. A third
 * tab joining waits for a replica (the mlp's replica needs 2 tabs), and forms one with
 * the tab left behind when a stage pauses.
 */
import { expect, test, type BrowserContext } from '@playwright/test';
import type { StagePath } from '../shared/replica-protocol.js';
import type { JobDetail } from '../shared/operator-protocol.js';
import { startCoordinator, type Running } from '../test-support/index.js';
import { closeAndCheck, openWorker, type WorkerPage } from './workers.js';

let run: Running;
test.afterEach(async () => run?.close());

/**
 * The job: one replica is one model's throughput (the data-parallel e2e has two), and on
 * a loaded machine each step waits for two pushes and two pulls, so it takes few, large
 * steps with Adam. Micro-batches of 128 examples make each forward frame 64.2 KiB, over
 * CHUNK_BYTES: on the WebRTC path every one goes in slices.
 */
const SPEC = { model: 'mlp', stages: 2, batchSize: 512, microbatches: 4, optimizer: { type: 'adam', learningRate: 0.008 }, evalIntervalSeconds: 4, epochs: 50 } as const;

/** Two tabs (each with its own extra query) form replica r1 and train it to 95 % with their frames on `path`. */
async function twoStagesTo95(context: BrowserContext, path: StagePath, extra: [Record<string, string>, Record<string, string>]): Promise<WorkerPage[]> {
  const tabs: WorkerPage[] = [];
  for (const query of extra) tabs.push(await openWorker(context, run.url, { autostart: '1', backend: 'wasm', ...query }));
  await expect.poll(async () => (await Promise.all(tabs.map(async (t) => (await t.status()).stage?.stage ?? null))).sort(), { timeout: 60_000 }).toEqual([0, 1]);
  // Settled before frames go: a channel opens, or the relay takes over after PEER_OPEN_TIMEOUT_MS (10 s).
  await expect.poll(async () => await Promise.all(tabs.map(async (t) => (await t.status()).stage?.path)), { timeout: 30_000 }).toEqual([path, path]);
  const started = Date.now();
  try {
    await expect
      .poll(() => run.job.summary().lastEval?.accuracy ?? 0, { timeout: 3 * 60_000, intervals: [2000] })
      .toBeGreaterThanOrEqual(0.95);
  } finally {
    test.info().annotations.push({ type: 'progress', description: `${(Date.now() - started) / 1000} s: ${JSON.stringify(run.job.summary())}` });
  }
  for (const t of tabs) {
    const s = await t.status();
    expect(s).toMatchObject({ state: 'training', backend: 'wasm', stage: { replicaId: 'r1', of: 2, path } });
    expect(s.pushesAccepted).toBeGreaterThan(10);
    // The volunteer sees that the tab is a stage, and how its frames travel.
    await expect(t.page.locator('#notice')).toContainText(`stage ${s.stage!.stage + 1} of 2 of model replica r1`);
  }
  // The job API shows the path the stages reported (replica:report every 2 s).
  await expect
    .poll(async () => ((await (await fetch(`${run.url}/api/jobs/${run.job.id}`)).json()) as JobDetail).replicas?.replicas.map((r) => [r.replicaId, r.path]))
    .toEqual([['r1', path]]);
  return tabs;
}

test('two tabs, one replica of the mlp in 2 stages linked by WebRTC, train it to ≥ 95 %; a third tab waits', async ({ context }) => {
  run = await startCoordinator({ name: 'e2e stages webrtc', ...SPEC });
  const tabs = await twoStagesTo95(context, 'webrtc', [{}, {}]);
  const detail = (await (await fetch(`${run.url}/api/jobs/${run.job.id}`)).json()) as JobDetail;
  // Over WebRTC the coordinator forwards no frame: the boundary's bytes are the stages' own count (~1 kB per example each way fp32: 128 values).
  expect(detail.replicas!.replicas[0]!.boundaries[0]!.bytesPerExample).toBeGreaterThan(1000);
  expect(detail.replicas!.replicas[0]!.boundaries[0]!.bytesPerExample).toBeLessThan(1100);
  const third = await openWorker(context, run.url, { autostart: '1', backend: 'wasm' });
  await expect.poll(async () => (await third.status()).state).toBe('waiting-for-replica');
  await expect(third.page.locator('#notice')).toContainText('waiting for enough of them to form a model replica');
  const thirdId = (await third.status()).workerId!;
  expect(((await (await fetch(`${run.url}/api/jobs/${run.job.id}`)).json()) as JobDetail).replicas!.waiting).toEqual([thirdId]);
  // A stage that pauses leaves its replica (its neighbour cannot go on without it): r1 dissolves, and the tab
  // left in it forms a new replica with the one that waited.
  const [paused, kept] = tabs as [WorkerPage, WorkerPage];
  await paused.page.click('#pause');
  await expect.poll(async () => (await paused.status()).state).toBe('paused');
  const keptId = (await kept.status()).workerId!;
  await expect
    .poll(async () => {
      const replicas = ((await (await fetch(`${run.url}/api/jobs/${run.job.id}`)).json()) as JobDetail).replicas!;
      return { formed: replicas.replicas.map((r) => r.stages.map((st) => st.workerId).sort()), waiting: replicas.waiting };
    }, { timeout: 60_000 })
    .toEqual({ formed: [[keptId, thirdId].sort()], waiting: [] });
  await expect.poll(async () => (await third.status()).stage?.replicaId, { timeout: 60_000 }).toBe('r2');
  await closeAndCheck([...tabs, third]);
});

test('a tab whose neighbour does not link by WebRTC falls back to the relay after its timeout; the two train to ≥ 95 % over it', async ({ context }) => {
  run = await startCoordinator({ name: 'e2e stages relay', ...SPEC });
  // The first tab opens a peer connection; the second (?webrtc=0) ignores its signals, so no channel ever opens.
  const tabs = await twoStagesTo95(context, 'relay', [{}, { webrtc: '0' }]);
  await closeAndCheck(tabs);
});
