/**
 * A ps task that cannot be reached is down at once, not after the 30 s request
 * timeout. A chief restarted over a cluster whose task 1 is gone (its port refuses)
 * holds the job with that task's reason as soon as the connect is refused; a task whose
 * port accepts and then says nothing is down after connectTimeoutMs on the cluster's
 * clock, and the request waiting for it is answered then.
 *
 * Checked to fail without the fix: the restore waited out the request timeout (the
 * first test's 15 s limit), and the waiting request was not answered when the manual
 * clock passed connectTimeoutMs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { ManualClock } from '../../test-support/manual-clock.js';
import { startPsTask, type RunningPsTask } from '../../test-support/ps-clients.js';
import { startCoordinator } from '../../test-support/index.js';
import { resolveClusterToken } from '../cluster/cluster-token.js';
import { PsCluster } from '../cluster/ps-cluster.js';
import { createCoordinator, type Coordinator } from '../coordinator.js';

const root = mkdtempSync(join(tmpdir(), 'downpour-ps-unreachable-'));
const cleanups: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(root, { recursive: true, force: true });
});

it('a chief restarted while task 1 refuses connections holds the job with its reason at once, not after the request timeout', { timeout: 15_000 }, async () => {
  const resolved = resolveClusterToken({ dataDir: root });
  if (!resolved.ok) throw new Error(resolved.message);
  const token = resolved.token;
  const tasks: RunningPsTask[] = [];
  cleanups.push(() => Promise.all(tasks.map((t) => t.close())));
  for (let t = 0; t < 2; t++) tasks.push(await startPsTask({ token, dataDir: join(root, `task-${t}`) }));
  const dataDir = join(root, 'data');
  const endpoints = tasks.map((t) => t.url);
  const first = await startCoordinator({ model: 'mlp', normBound: 0 }, { dataDir, cluster: { endpoints, token } });
  const jobId = first.job.id;
  await first.job.checkpointIfChanged();
  // Task 1 goes: nobody listens on its port any more.
  const url1 = tasks[1]!.url;
  await tasks.pop()!.close();
  await first.close();

  // The default request timeout (30 s) stands: only the refused connect may be what puts task 1 down.
  const started = Date.now();
  const second: Coordinator = createCoordinator({ dataDir, cluster: { endpoints, token } });
  cleanups.push(() => second.close());
  await second.restore();
  const job = second.jobs.get(jobId)!;
  expect(job.state).toBe('paused');
  expect(job.pausedReason).toBe(`ps task 1 (${url1}) is unreachable (cannot connect)`);
  expect(Date.now() - started).toBeLessThan(10_000);
});

it('a task whose port accepts and says nothing is down after connectTimeoutMs on the clock; the request waiting for it is answered then', { timeout: 15_000 }, async () => {
  // Accepts TCP connections and never answers the websocket handshake.
  const held: Socket[] = [];
  const silent: Server = createServer((s) => held.push(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => (held.forEach((s) => s.destroy()), silent.close(() => resolve()))));
  const port = (silent.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}`;
  const clock = new ManualClock(Date.now());
  const cluster = new PsCluster({ endpoints: [url], token: 'ps-unreachable-test-cluster-token-0123456789', epoch: 1, clock, connectTimeoutMs: 5000 });
  cleanups.push(() => cluster.close());
  let answered = false;
  const status = cluster.request(0, 'task:status', {}).finally(() => (answered = true));
  expect(cluster.downReason(0)).toBeNull();
  clock.advance(4999);
  await new Promise((resolve) => setImmediate(resolve));
  expect(answered).toBe(false);
  clock.advance(1);
  expect(await status).toEqual({ ok: false, code: ErrorCode.PS_TASK_UNREACHABLE, message: `ps task 0 (${url}) is unreachable (did not connect within 5000 ms)` });
  expect(cluster.downReason(0)).toBe(`ps task 0 (${url}) is unreachable (did not connect within 5000 ms)`);
  // Later requests are refused at once while it is down.
  expect(await cluster.request(0, 'task:status', {})).toMatchObject({ ok: false, code: ErrorCode.PS_TASK_UNREACHABLE });
});
