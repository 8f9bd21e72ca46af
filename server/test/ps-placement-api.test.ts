/**
 * `GET /api/jobs/:id` shows where a job on ps tasks keeps its parameters: each tensor
 * (or partition) with its task, and each task's endpoint, slices and bytes; a job in
 * process shows none. Real coordinators on port 0, two real ps tasks.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { JobDetail } from '../../shared/operator-protocol.js';
import { startCoordinator, type Running } from '../../test-support/index.js';
import { startPsTask, type RunningPsTask } from '../../test-support/ps-clients.js';

const TOKEN = 'ps-placement-api-test-cluster-token-0123456789';

let tasks: RunningPsTask[] = [];
const runs: Running[] = [];

beforeAll(async () => {
  tasks = [await startPsTask({ token: TOKEN }), await startPsTask({ token: TOKEN })];
});
afterAll(async () => {
  await Promise.all(runs.map((r) => r.close()));
  await Promise.all(tasks.map((t) => t.close()));
});

const detail = async (run: Running) => (await (await fetch(`${run.url}/api/jobs/${run.job.id}`)).json()) as JobDetail;

it('a job on 2 ps tasks: every tensor with its task, and bytes per task (greedy by bytes, the mlp whole)', async () => {
  const run = await startCoordinator({ model: 'mlp', name: 'placed', normBound: 0 }, { cluster: { endpoints: tasks.map((t) => t.url), token: TOKEN } });
  runs.push(run);
  const { placement } = await detail(run);
  // dense1/kernel (784×128 fp32, 401,408 B, under the 1 MiB partition size) goes first to task 0; the rest to the lighter task 1.
  expect(placement).toEqual({
    partitionBytes: 1 << 20,
    tasks: [
      { task: 0, endpoint: tasks[0]!.url, bytes: 401_408, slices: 1 },
      { task: 1, endpoint: tasks[1]!.url, bytes: 512 + 5120 + 40, slices: 3 },
    ],
    slices: [
      { name: 'dense1/kernel', tensor: 'dense1/kernel', partition: 0, partitions: 1, rowStart: 0, rowEnd: 784, shape: [784, 128], bytes: 401_408, task: 0 },
      { name: 'dense1/bias', tensor: 'dense1/bias', partition: 0, partitions: 1, rowStart: 0, rowEnd: 128, shape: [128], bytes: 512, task: 1 },
      { name: 'output/kernel', tensor: 'output/kernel', partition: 0, partitions: 1, rowStart: 0, rowEnd: 128, shape: [128, 10], bytes: 5120, task: 1 },
      { name: 'output/bias', tensor: 'output/bias', partition: 0, partitions: 1, rowStart: 0, rowEnd: 10, shape: [10], bytes: 40, task: 1 },
    ],
  });
});

it('a job in process has no placement', async () => {
  const run = await startCoordinator({ model: 'mlp', name: 'in process' });
  runs.push(run);
  expect((await detail(run)).placement).toBeNull();
});
