/**
 * A deleted job's checkpoint parts leave the ps tasks' disks. A coordinator keeps two
 * jobs on two tasks (in process, port 0, a data dir each) and commits a cut of each.
 * Deleting the first removes its parts on both tasks. Task 1 then stops, the second job
 * is deleted: task 0 drops its parts at once, task 1's stay while it is down, and when it
 * is started again on its port and data dir the chief tells it, and they go. The chief's
 * re-creation of a job's slices (job:delete without dropParts) keeps the parts. A chief
 * restarted while a task still owes a drop reads the list from its data dir and tells
 * the task when it is back (fails with the list in memory only: the parts stay).
 * Without the drop, every part stayed on the tasks' disks forever.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { Placement } from '../../shared/placement.js';
import { seededRandom } from '../../shared/seeded-random.js';
import { connectPsWorker, startPsTask, type PsWorkerClient, type RunningPsTask } from '../../test-support/ps-clients.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { TicketSigner } from '../cluster/tickets.js';
import { createCoordinator, type Coordinator } from '../coordinator.js';
import type { Job } from '../jobs/job.js';
import { setLogLevel } from '../logger.js';
import type { ParameterService } from '../params/parameter-service.js';

const TOKEN = 'ps-part-drops-test-cluster-token-0123456789';
const root = mkdtempSync(join(tmpdir(), 'downpour-ps-drops-'));
const tasks: RunningPsTask[] = [];
const sockets: PsWorkerClient[] = [];
let coordinator: Coordinator;
const partsDir = (task: number, jobId: string) => join(root, `task-${task}`, 'ps-parts', jobId);
const partCount = (task: number, jobId: string) => (existsSync(partsDir(task, jobId)) ? readdirSync(join(partsDir(task, jobId), `task-${task}`)).filter((n) => n.endsWith('.part')).length : 0);

beforeAll(async () => {
  for (let t = 0; t < 2; t++) tasks.push(await startPsTask({ token: TOKEN, dataDir: join(root, `task-${t}`) }));
  setLogLevel('error');
  coordinator = createCoordinator({ dataDir: join(root, 'chief'), operatorToken: 'drops-token', cluster: { endpoints: tasks.map((t) => t.url), token: TOKEN, epoch: 1 } });
});
afterAll(async () => {
  sockets.forEach((s) => s.disconnect());
  await coordinator.close();
  await Promise.all(tasks.map((t) => t.close()));
  rmSync(root, { recursive: true, force: true });
});

/** A job on both tasks with one push credited and a committed cut: a part on each task's disk. */
async function checkpointedJob(): Promise<Job> {
  const created = await coordinator.createJob({ model: 'mlp', normBound: 0, directionThreshold: null, checkpointSeconds: 3600, evalIntervalSeconds: 3600 });
  if (!created.ok) throw new Error(created.message);
  const job = created.job;
  const placement = Placement.of(job.parameters.specs, { tasks: 2, partitionBytes: 1 << 20 });
  const signer = new TicketSigner(deriveClusterKeys(TOKEN), () => Date.now());
  const psReceipts = [];
  for (const task of [0, 1]) {
    const ws = await connectPsWorker(tasks[task]!.url);
    sockets.push(ws);
    const ticket = signer.sign({ worker: 'w-1', job: job.id, task });
    const rand = seededRandom(task + 1);
    const grads = encodeTensors(placement.byTask[task]!.map((s) => ({ name: s.name, shape: s.shape, values: Float32Array.from({ length: s.length }, () => (rand() - 0.5) * 0.1) })));
    const r = await ws.emitWithAck('grads:push', { ticket, jobId: job.id, baseVersion: 0, ...grads });
    if (!r.ok) throw new Error(r.message);
    psReceipts.push({ task, version: r.version, receipt: r.receipt });
  }
  const credited = await (job.parameters as ParameterService).push('w-1', { baseVersion: 0, batches: 1, manifest: { codec: 'fp32', tensors: [] }, data: new Uint8Array(0), psReceipts });
  if (!credited.ok) throw new Error(credited.message);
  await job.checkpointIfChanged();
  expect([partCount(0, job.id), partCount(1, job.id)]).toEqual([1, 1]);
  return job;
}

it("deleting a job removes its parts from every task's disk, a task that was down included once it is back", async () => {
  const first = await checkpointedJob();
  await coordinator.jobs.remove(first.id);
  await vi.waitFor(() => expect([existsSync(partsDir(0, first.id)), existsSync(partsDir(1, first.id))]).toEqual([false, false]), { timeout: 10_000, interval: 50 });

  const second = await checkpointedJob();
  const port = Number(new URL(tasks[1]!.url).port);
  await tasks[1]!.close();
  // The chief knows it is down: the job is held with its reason.
  await vi.waitFor(() => expect(second.pausedReason).toMatch(/ps task 1/), { timeout: 10_000, interval: 50 });
  await coordinator.jobs.remove(second.id);
  await vi.waitFor(() => expect(existsSync(partsDir(0, second.id))).toBe(false), { timeout: 10_000, interval: 50 });
  expect(partCount(1, second.id)).toBe(1);

  tasks[1] = await startPsTask({ token: TOKEN, dataDir: join(root, 'task-1') }, port);
  await vi.waitFor(() => expect(existsSync(partsDir(1, second.id))).toBe(false), { timeout: 20_000, interval: 100 });
}, 120_000);

it('a chief restarted before the task is back still owes it the drop: the list is on its disk', async () => {
  const third = await checkpointedJob();
  const port = Number(new URL(tasks[1]!.url).port);
  await tasks[1]!.close();
  await vi.waitFor(() => expect(third.pausedReason).toMatch(/ps task 1/), { timeout: 10_000, interval: 50 });
  await coordinator.jobs.remove(third.id);
  await vi.waitFor(() => expect(existsSync(partsDir(0, third.id))).toBe(false), { timeout: 10_000, interval: 50 });
  const file = join(root, 'chief', 'ps-part-drops.json');
  await vi.waitFor(() => expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ version: 1, owed: { '1': [third.id] } }), { timeout: 10_000, interval: 50 });

  // The chief goes before the task is back; a new one on the same data dir reads what is owed.
  await coordinator.close();
  coordinator = createCoordinator({ dataDir: join(root, 'chief'), operatorToken: 'drops-token', cluster: { endpoints: [tasks[0]!.url, tasks[1]!.url], token: TOKEN, epoch: 2 } });
  expect(partCount(1, third.id)).toBe(1);
  tasks[1] = await startPsTask({ token: TOKEN, dataDir: join(root, 'task-1') }, port);
  await vi.waitFor(() => expect(existsSync(partsDir(1, third.id))).toBe(false), { timeout: 20_000, interval: 100 });
  await vi.waitFor(() => expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ version: 1, owed: {} }), { timeout: 10_000, interval: 50 });
}, 120_000);
