/**
 * A replica step whose close task 1 misses through every retry, end to end: a
 * coordinator on a manual clock over task 0 (in this process) and task 1 (its own
 * process, SIGSTOPped just before the step's last notice reaches the chief), a split
 * mlp driven by two raw stage workers. Task 0 closes the step; task 1's answer times out
 * and every retry finds it down: the replica is refused, and the job is held with
 * `a close did not reach every ps task (…)`, which stays its reason while task 1 is down.
 * When task 1 answers again (it ran the close it had queued, unheard), every task goes
 * back to the last committed cut, bit for bit, and the job runs.
 *
 * Checked to fail without the recovery's forced rollback: both tasks were at version 2,
 * held the job "live", and the job resumed with values that were not the cut's.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { ManualClock, startCoordinator, type Running } from '../../test-support/index.js';
import { startPsTask, type RunningPsTask } from '../../test-support/ps-clients.js';
import { bits } from '../../test-support/ps-fixture.js';
import { forkPsTask, type PsTaskProcess } from '../../test-support/ps-process.js';
import { StageReplicas } from '../../test-support/stage-replica.js';
import { CLOSE_RETRY_DELAYS_MS } from '../params/round-close-retry.js';

const TOKEN = 'ps-step-rollback-test-cluster-token-0123456';
const PROBE_MS = 100;
const root = mkdtempSync(join(tmpdir(), 'downpour-ps-step-rollback-'));
const tokenFile = join(root, 'cluster-token');
writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
let task0: RunningPsTask;
let task1: PsTaskProcess;
let run: Running;
let stages: StageReplicas;
// Started at the real time: the tasks check the tickets the chief signs on it against their own clocks.
const clock = new ManualClock(Date.now());

beforeAll(async () => {
  task0 = await startPsTask({ token: TOKEN, dataDir: join(root, 'task-0') });
  task1 = await forkPsTask(join(root, 'task-1'), tokenFile);
  // A short answer timeout (real time: the socket's); the probe and the close retries on the manual clock.
  run = await startCoordinator(
    { model: 'mlp', stages: 2, normBound: 0, optimizer: { type: 'sgd', learningRate: 0.1 } },
    { dataDir: join(root, 'chief'), clock, cluster: { endpoints: [task0.url, task1.url], token: TOKEN, requestTimeoutMs: 1000, probeMs: PROBE_MS } },
  );
  stages = new StageReplicas(run.url);
}, 120_000);
afterAll(async () => {
  if (task1.child.signalCode === null && task1.child.exitCode === null) task1.child.kill('SIGCONT');
  stages?.close();
  await run?.close();
  await task0.close();
  await task1.kill();
  rmSync(root, { recursive: true, force: true });
});

const digests = async () => (await run.job.parameters.values()).values.map(bits);

it('a step task 1 missed through every retry holds the job with its reason; task 1 back, every task goes back to the cut and the job runs', async () => {
  const { a, b, push } = await stages.replica();
  expect(await Promise.all([a.tasks.push(push(a, 0, 1)), b.tasks.push(push(b, 0, 1, 2.3))])).toEqual([0, 1].map(() => ({ ok: true, version: 1, staleness: 0 })));
  await run.job.checkpointIfChanged();
  const cut = await digests();

  // Both stages' parts of step 1 are held on the tasks; task 1 stops just before the chief hears the last notice and closes.
  b.beforeNotice = () => task1.child.kill('SIGSTOP');
  const answers = Promise.all([a.tasks.push(push(a, 1, 1)), b.tasks.push(push(b, 1, 1, 2.3))]);
  await vi.waitFor(() => expect(run.job.pausedReason).toMatch(/did not answer step:close within 1000 ms/), { timeout: 10_000, interval: 50 });
  // Every retry finds task 1 down (its probes time out): the clock runs through all of them.
  for (let i = 0; i < 4 * CLOSE_RETRY_DELAYS_MS.length && !/^a close/.test(run.job.pausedReason ?? ''); i++) {
    clock.advance(Math.max(...CLOSE_RETRY_DELAYS_MS));
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect((await answers).map((r) => !r.ok && r.code)).toEqual([ErrorCode.PS_TASK_UNREACHABLE, ErrorCode.PS_TASK_UNREACHABLE]);
  expect(run.job.state).toBe('paused');
  expect(run.job.pausedReason).toMatch(/^a close did not reach every ps task \(PS_TASK_UNREACHABLE: ps task 1: ps task 1 \(http:\/\/127\.0\.0\.1:\d+\) (did not answer step:close|is unreachable)/);

  // Back (it runs the close it had queued, unheard): the probe finds it, and the recovery rolls every task back to the cut.
  task1.child.kill('SIGCONT');
  await vi.waitFor(
    () => {
      clock.advance(PROBE_MS);
      expect(run.job.pausedReason).toBeNull();
    },
    { timeout: 20_000, interval: 100 },
  );
  expect(run.job.state).toBe('running');
  expect(run.job.version).toBe(1);
  expect(await digests()).toEqual(cut);
}, 120_000);
