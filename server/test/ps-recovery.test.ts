/**
 * ps tasks that die, vanish, or outlive their chief (docs/cluster.md, "Tasks that die,
 * vanish, or outlive their chief"), with real task processes and real coordinators:
 * a `--ps` task SIGKILLed mid-run is restarted and the job still reaches its target; a
 * remote task that stops pauses its job with the reason in the API, and its return
 * resumes the job from the last checkpoint on every task; a task cut off and back with
 * its slices resumes the job as it was; a chief restarted over live tasks adopts their
 * state instead of rolling it back.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { WorkerPool } from '../../bench/worker-pool.js';
import { ErrorCode } from '../../shared/errors.js';
import { PS_CONTROL_NAMESPACE } from '../../shared/ps-protocol.js';
import type { JobDetail } from '../../shared/operator-protocol.js';
import { ProcessGroup } from '../../farm/process-group.js';
import { startCoordinator, type Running } from '../../test-support/index.js';
import { connectPsWorker, pullFromTasks, pushThroughTasks, routeOf, startPsTask, type RunningPsTask } from '../../test-support/ps-clients.js';
import { forkPsTask } from '../../test-support/ps-process.js';
import { resolveClusterToken } from '../cluster/cluster-token.js';
import { createCoordinator, type Coordinator } from '../coordinator.js';

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `downpour-${name}-`));

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function detailOf(run: { url: string }, jobId: string): Promise<JobDetail> {
  return (await (await fetch(`${run.url}/api/jobs/${jobId}`)).json()) as JobDetail;
}

/** Two ps tasks (in process, port 0, each with its data dir) and a coordinator using them as a `--cluster`. */
async function remoteCluster(name: string) {
  const dir = tmp(name);
  const resolved = resolveClusterToken({ dataDir: dir });
  if (!resolved.ok) throw new Error(resolved.message);
  const token = resolved.token;
  const tasks: RunningPsTask[] = [];
  cleanups.push(() => Promise.all(tasks.map((t) => t.close())));
  for (let t = 0; t < 2; t++) tasks.push(await startPsTask({ token, dataDir: join(dir, `task-${t}`) }));
  const run = await startCoordinator({ model: 'mlp', normBound: 0 }, { dataDir: join(dir, 'data'), cluster: { endpoints: tasks.map((t) => t.url), token } });
  cleanups.push(() => run.close());
  return { dir, token, tasks, run };
}

it('a --ps task SIGKILLed mid-run is restarted on a new port, the job pauses meanwhile with the reason, and it reaches its target accuracy', { timeout: 240_000 }, async () => {
  const run: Running = await startCoordinator(
    { model: 'mlp', shardSize: 2000, epochs: 2, targetAccuracy: 0.8, evalIntervalSeconds: 2, checkpointSeconds: 2 },
    { dataDir: tmp('ps-kill') },
    { ps: 2 },
  );
  cleanups.push(() => run.close());
  const { job } = run;
  const pool = new WorkerPool(run.url);
  cleanups.push(() => pool.close());
  await Promise.all([pool.start(), pool.start()]);
  await vi.waitFor(() => expect(job.version).toBeGreaterThan(2), { timeout: 90_000, interval: 100 });
  await job.checkpointIfChanged();

  const states: string[] = [];
  const watch = setInterval(() => states.push(`${job.state}:${job.pausedReason ?? ''}`), 20);
  cleanups.push(() => clearInterval(watch));
  const oldUrl = routeOf(job.assignment('probe')).tasks[1]!.url;
  const killed = run.psTasks!.pid(1)!;
  process.kill(killed, 'SIGKILL');
  await vi.waitFor(() => expect(job.state).toBe('paused'), { timeout: 20_000, interval: 20 });
  expect(job.pausedReason).toMatch(/^ps task 1 \(http:\/\/127\.0\.0\.1:\d+\) is unreachable/);
  // The workers were told the job is not running, and left (a Node worker leaves when it has no job).
  await Promise.all(pool.workers.map((w) => w.exited));

  await vi.waitFor(() => expect(job.state).toBe('running'), { timeout: 60_000, interval: 50 });
  expect(run.psTasks!.pid(1)).not.toBe(killed);
  const newUrl = routeOf(job.assignment('probe')).tasks[1]!.url;
  expect(newUrl).not.toBe(oldUrl);
  expect(newUrl).toBe(run.psTasks!.endpoints[1]);
  expect(states.some((s) => s.startsWith('paused:ps task 1'))).toBe(true);

  // New workers follow the route to the restarted task and train the job to its target.
  await Promise.all([pool.start(), pool.start()]);
  await vi.waitFor(() => expect(job.state).toBe('done'), { timeout: 150_000, interval: 200 });
  expect(job.evals.at(-1)!.accuracy).toBeGreaterThanOrEqual(0.8);
});

it('a remote task that stops pauses its job with the reason in the API; restarted, every task goes back to the checkpoint and the job resumes', { timeout: 90_000 }, async () => {
  const { dir, token, tasks, run } = await remoteCluster('ps-remote');
  const { job } = run;

  expect((await pushThroughTasks(run.url, 3)).version).toBe(3);
  await job.checkpointIfChanged();
  const atCheckpoint = (await job.parameters.values()).values.map(bits);
  expect((await pushThroughTasks(run.url, 2)).version).toBe(5);

  const url1 = tasks[1]!.url;
  await tasks[1]!.close();
  await vi.waitFor(async () => expect(await detailOf(run, job.id)).toMatchObject({ state: 'paused', pausedReason: `ps task 1 (${url1}) is unreachable (transport close)` }), { timeout: 20_000, interval: 50 });
  // A worker is told why instead of pushing into the void.
  expect(job.lease('late-worker')).toMatchObject({ ok: false, code: ErrorCode.JOB_NOT_RUNNING, message: `Job ${job.id} is paused: ps task 1 (${url1}) is unreachable (transport close)` });
  // The operator cannot resume it while the task is gone.
  expect(job.control('resume')).toMatchObject({ ok: false, code: ErrorCode.PS_TASK_UNREACHABLE });

  // Back on its address, holding nothing (it restarted): both tasks go back to the checkpoint.
  tasks[1] = await startPsTask({ token, dataDir: join(dir, 'task-1') }, Number(new URL(url1).port));
  await vi.waitFor(() => expect(job.state).toBe('running'), { timeout: 30_000, interval: 50 });
  expect((await detailOf(run, job.id)).pausedReason).toBeNull();
  expect(job.version).toBe(3);
  expect((await job.parameters.values()).values.map(bits)).toEqual(atCheckpoint);
  expect((await pushThroughTasks(run.url, 1)).version).toBe(4);
});

it('a task cut off and back with everything it held (a blip): the job pauses, then resumes as it was, without a rollback', { timeout: 60_000 }, async () => {
  const { tasks, run } = await remoteCluster('ps-blip');
  const { job } = run;
  expect((await pushThroughTasks(run.url, 3)).version).toBe(3);
  await job.checkpointIfChanged();
  expect((await pushThroughTasks(run.url, 2)).version).toBe(5);
  const before = (await job.parameters.values()).values.map(bits);

  // The hold that pauses the running job, watched where it is made: on an idle machine the
  // pause can end within a few milliseconds, and a poll of the job's state missed it (a CI hang).
  const hold = vi.spyOn(job, 'hold');
  // The task ends the chief's connection but keeps running with the job's slices.
  tasks[0]!.task.io.of(PS_CONTROL_NAMESPACE).disconnectSockets();
  await vi.waitFor(() => expect(hold).toHaveBeenCalled(), { timeout: 20_000, interval: 5 });
  expect(hold.mock.calls[0]![0]).toBe(`ps task 0 (${tasks[0]!.url}) is unreachable (io server disconnect)`);
  await vi.waitFor(() => expect(job.state).toBe('running'), { timeout: 20_000, interval: 20 });
  // Not rolled back to the checkpoint (version 3): the pushes since are kept.
  expect(job.version).toBe(5);
  expect((await job.parameters.values()).values.map(bits)).toEqual(before);
  expect((await pushThroughTasks(run.url, 1)).version).toBe(6);
});

it('a chief restarted over live tasks adopts their state: values and versions as they were, no rollback to a checkpoint', { timeout: 120_000 }, async () => {
  const dir = tmp('ps-reattach');
  const token = resolveClusterToken({ dataDir: join(dir, 'tasks') });
  if (!token.ok) throw new Error(token.message);
  const tasks: RunningPsTask[] = [];
  cleanups.push(() => Promise.all(tasks.map((t) => t.close())));
  for (let t = 0; t < 2; t++) tasks.push(await startPsTask({ token: token.token, dataDir: join(dir, `task-${t}`) }));
  writeFileSync(join(dir, 'cluster.json'), JSON.stringify({ ps: tasks.map((t) => t.url.replace('http://', '')) }));
  const dataDir = join(dir, 'data');

  // The first chief, as an operator runs it; it dies without a word (SIGKILL: no final checkpoint, no goodbye to the tasks).
  const first = new ProcessGroup('start', ['--port', '0', '--host', '127.0.0.1', '--no-build', '--data-dir', dataDir, '--model', 'mlp', '--cluster', join(dir, 'cluster.json'), '--token-file', token.file], { DOWNPOUR_LOG: 'warn' });
  cleanups.push(() => first.running && first.signal('SIGKILL'));
  const url = (await first.waitForLine(/open (http:\/\/\S+?)\/? to donate/, 90_000))[1]!;
  const { jobId, version, job: assignment } = await pushThroughTasks(url, 3);
  expect(version).toBe(3);
  const live = (await pullFromTasks(assignment)).map(bits);
  first.signal('SIGKILL');
  await first.exited;

  const second: Coordinator = createCoordinator({ dataDir, cluster: { endpoints: tasks.map((t) => t.url), token: token.token } });
  cleanups.push(() => second.close());
  await second.restore();
  const job = second.jobs.get(jobId)!;
  expect(job.state).toBe('running');
  expect(job.version).toBe(3);
  expect((await job.parameters.values()).values.map(bits)).toEqual(live);
  // The tasks were not given the job anew: they still count the 3 pushes they applied.
  const route = routeOf(job.assignment('after'));
  const { version: v0 } = await pulledVersion(route.tasks[0]!.url, route.tasks[0]!.ticket, jobId);
  const { version: v1 } = await pulledVersion(route.tasks[1]!.url, route.tasks[1]!.ticket, jobId);
  expect([v0, v1]).toEqual([3, 3]);
});

async function pulledVersion(url: string, ticket: string, jobId: string): Promise<{ version: number }> {
  const s = await connectPsWorker(url);
  try {
    const r = await s.emitWithAck('params:pull', { ticket, jobId });
    if (!r.ok) throw new Error(r.message);
    return { version: r.version };
  } finally {
    s.disconnect();
  }
}

it('a chief restarted while a remote task is down holds the job with the reason, and restores it when the task is back', { timeout: 120_000 }, async () => {
  const dir = tmp('ps-chief-down');
  const resolved = resolveClusterToken({ dataDir: dir });
  if (!resolved.ok) throw new Error(resolved.message);
  const token = resolved.token;
  const tasks: RunningPsTask[] = [];
  cleanups.push(() => Promise.all(tasks.map((t) => t.close())));
  for (let t = 0; t < 2; t++) tasks.push(await startPsTask({ token, dataDir: join(dir, `task-${t}`) }));
  const dataDir = join(dir, 'data');
  const endpoints = tasks.map((t) => t.url);
  const first = await startCoordinator({ model: 'mlp', normBound: 0 }, { dataDir, cluster: { endpoints, token } });
  const { job: firstJob } = first;
  expect((await pushThroughTasks(first.url, 3)).version).toBe(3);
  await firstJob.checkpointIfChanged();
  const atCheckpoint = (await firstJob.parameters.values()).values.map(bits);
  expect((await pushThroughTasks(first.url, 2)).version).toBe(5);

  // Task 1 goes (with its slices: it restarts empty), then the chief stops; its last cut fails, the one at 3 stays in force.
  const url1 = tasks[1]!.url;
  await tasks[1]!.close();
  await first.close();

  const second: Coordinator = createCoordinator({ dataDir, cluster: { endpoints, token, requestTimeoutMs: 2000 } });
  cleanups.push(() => second.close());
  await second.restore();
  const job = second.jobs.get(firstJob.id)!;
  expect(job).toBeDefined();
  expect(job.state).toBe('paused');
  expect(job.pausedReason).toMatch(new RegExp(`^ps task 1 \\(${url1.replace(/[.:/]/g, '\\$&')}\\) (is unreachable|did not answer)`));
  expect(job.control('resume')).toMatchObject({ ok: false, code: ErrorCode.PS_TASK_UNREACHABLE });

  // Back on its address, holding nothing: both tasks go back to the checkpoint, and the job runs.
  tasks[1] = await startPsTask({ token, dataDir: join(dir, 'task-1') }, Number(new URL(url1).port));
  await vi.waitFor(() => expect(job.state).toBe('running'), { timeout: 30_000, interval: 50 });
  expect(job.pausedReason).toBeNull();
  expect(job.version).toBe(3);
  expect((await job.parameters.values()).values.map(bits)).toEqual(atCheckpoint);
});

it('a chief restarted while a task is stopped (SIGSTOP) adopts the job live when the task answers again: no rollback', { timeout: 120_000 }, async () => {
  const dir = tmp('ps-chief-stopped');
  const resolved = resolveClusterToken({ dataDir: dir });
  if (!resolved.ok) throw new Error(resolved.message);
  const token = resolved.token;
  const task0 = await startPsTask({ token, dataDir: join(dir, 'task-0') });
  cleanups.push(() => task0.close());
  const task1 = await forkPsTask(join(dir, 'task-1'), resolved.file);
  cleanups.push(() => task1.kill());
  cleanups.push(() => task1.child.kill('SIGCONT'));
  const endpoints = [task0.url, task1.url];
  const cluster = { endpoints, token, requestTimeoutMs: 2000 };
  const first = await startCoordinator({ model: 'mlp', normBound: 0 }, { dataDir: join(dir, 'data'), cluster });
  const { jobId, version, job: assignment } = await pushThroughTasks(first.url, 3);
  expect(version).toBe(3);
  const live = (await pullFromTasks(assignment)).map(bits);

  // Task 1 stops answering (its process and its slices live on), then the chief stops and a new one starts.
  task1.child.kill('SIGSTOP');
  await first.close();
  const second: Coordinator = createCoordinator({ dataDir: join(dir, 'data'), cluster });
  cleanups.push(() => second.close());
  await second.restore();
  const job = second.jobs.get(jobId)!;
  expect(job.state).toBe('paused');
  expect(job.pausedReason).toMatch(/^ps task 1 .* did not answer task:status/);

  task1.child.kill('SIGCONT');
  await vi.waitFor(() => expect(job.state).toBe('running'), { timeout: 30_000, interval: 50 });
  // Adopted: the pushes the tasks applied are kept (no checkpoint to roll back to would have them).
  expect(job.version).toBe(3);
  expect((await job.parameters.values()).values.map(bits)).toEqual(live);
});
