/**
 * `npm start -- --ps 2` and `npm start -- --cluster FILE` as an operator runs them: the
 * coordinator keeps its default job's parameters on ps tasks (its own child processes,
 * or running ones a ClusterSpec names), a worker trains through them, and one SIGTERM to
 * the group is one clean stop: exit 0, a checkpoint where the job moved (a cut: each
 * task wrote its part), and the tasks it started gone. The tasks it starts are given its
 * --connections-per-address.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { ProcessGroup } from '../../farm/process-group.js';
import { descendants, isAlive, signalProcess, type ProcessInfo } from '../../farm/process-tree.js';
import { pushThroughTasks, startPsTask, type RunningPsTask } from '../../test-support/ps-clients.js';
import { resolveClusterToken } from '../cluster/cluster-token.js';
import { HEAP_NODE_FLAGS } from '../heap-flags.js';
import { PS_TASK_NODE_FLAGS } from '../ps-task/node-flags.js';

let group: ProcessGroup | null = null;
const seen: ProcessInfo[] = [];
const tasks: RunningPsTask[] = [];
afterEach(async () => {
  group?.kill();
  for (const p of seen.splice(0)) signalProcess(p, 'SIGKILL');
  await Promise.all(tasks.splice(0).map((t) => t.close()));
});

function start(dataDir: string, args: string[]): ProcessGroup {
  group = new ProcessGroup('start', ['--port', '0', '--host', '127.0.0.1', '--no-build', '--data-dir', dataDir, '--model', 'mlp', ...args], { DOWNPOUR_LOG: 'info' });
  return group;
}

function checkpointVersions(dataDir: string, jobId: string): number[] {
  return readdirSync(join(dataDir, 'checkpoints', jobId))
    .map((name) => /^ckpt-(\d+)\.dpck$/.exec(name))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

it('--ps 2: trains through two task processes it started; one SIGTERM to the group checkpoints and stops them, exit 0', { timeout: 120_000 }, async () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'downpour-ps-start-')), 'data');
  const g = start(dataDir, ['--ps', '2', '--connections-per-address', '512']);
  const url = (await g.waitForLine(/open (http:\/\/\S+?)\/? to donate/, 90_000))[1]!;
  const psTasks = descendants(g.pid).filter((p) => p.cmdline.includes('ps-task/main.ts'));
  seen.push(...psTasks);
  expect(psTasks).toHaveLength(2);
  // Forked with the tasks' Node flags (node-flags.ts: what a task's CPU per push needs).
  for (const p of psTasks) for (const flag of PS_TASK_NODE_FLAGS) expect(p.cmdline.split(' ')).toContain(flag);
  // And with the coordinator's cap on connections per address (connection-cap.test.ts sees a forked task enforce it).
  for (const p of psTasks) expect(p.cmdline).toContain('--connections-per-address 512');
  // `npm start` runs the coordinator with the heap flags (heap-flags.ts).
  const coordinator = descendants(g.pid).filter((p) => p.cmdline.includes('server/main.ts'));
  expect(coordinator).toHaveLength(1);
  for (const flag of HEAP_NODE_FLAGS) expect(coordinator[0]!.cmdline.split(' ')).toContain(flag);

  const { jobId, version, taskUrls } = await pushThroughTasks(url);
  expect(version).toBe(3);
  expect(taskUrls).toHaveLength(2);

  g.signal('SIGTERM');
  expect(await g.exited, g.log).toEqual({ code: 0, signal: null });
  expect(g.log).not.toMatch(/exiting without waiting/);
  // The final checkpoint read the parameters back from the tasks before they were stopped.
  expect(checkpointVersions(dataDir, jobId).at(-1), g.log).toBe(3);
  expect(psTasks.filter(isAlive), 'ps tasks left behind').toEqual([]);
});

it('--cluster FILE: uses the running tasks the ClusterSpec names, with the token file they share', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'downpour-cluster-start-'));
  const token = resolveClusterToken({ dataDir: join(dir, 'tasks') });
  if (!token.ok) throw new Error(token.message);
  // As `npm run ps` does, each task has a data directory: it writes its parts of checkpoints there.
  for (let t = 0; t < 2; t++) tasks.push(await startPsTask({ token: token.token, dataDir: join(dir, 'tasks') }));
  writeFileSync(join(dir, 'cluster.json'), JSON.stringify({ ps: tasks.map((t) => t.url.replace('http://', '')) }));
  const g = start(join(dir, 'data'), ['--cluster', join(dir, 'cluster.json'), '--token-file', token.file]);
  const url = (await g.waitForLine(/open (http:\/\/\S+?)\/? to donate/, 90_000))[1]!;

  const { jobId, version, taskUrls } = await pushThroughTasks(url);
  expect(version).toBe(3);
  expect(taskUrls).toEqual(tasks.map((t) => t.url));

  g.signal('SIGTERM');
  expect(await g.exited, g.log).toEqual({ code: 0, signal: null });
  expect(checkpointVersions(join(dir, 'data'), jobId).at(-1), g.log).toBe(3);
  // Tasks it did not start keep running (they belong to whoever started them).
  expect(tasks.every((t) => t.task.httpServer.listening)).toBe(true);
});
