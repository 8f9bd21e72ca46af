/**
 * The checkpoint cut against a real ps task process that is SIGKILLed: task 1 runs as
 * its own process (server/ps-task/main.ts, as `npm run ps` starts it), task 0 in this
 * one. A checkpoint is committed; then task 1 is stopped (SIGSTOP) so that it cannot
 * answer, the next cut is asked (task 0 writes its part), and task 1 is SIGKILLed before
 * the chief could commit. The previous checkpoint stays in force; task 1, started again
 * on its port and data directory, still has its part of it (written before the kill,
 * fsynced), and a new chief restores it bit for bit.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { parseJobSpec } from '../../shared/job-spec.js';
import { seededRandom } from '../../shared/seeded-random.js';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';
import { connectPsWorker, startPsTask, type PsWorkerClient, type RunningPsTask } from '../../test-support/ps-clients.js';
import { forkPsTask, type PsTaskProcess } from '../../test-support/ps-process.js';
import { CheckpointStore } from '../checkpoints/checkpoint-store.js';
import { PsCluster } from '../cluster/ps-cluster.js';
import { CheckpointSchedule } from '../jobs/checkpoint-schedule.js';
import { emptyStats } from '../jobs/job-stats.js';
import type { StoreSnapshot } from '../params/parameter-store.js';
import { RemoteParameterService } from '../params/remote-parameter-service.js';

const TOKEN = 'ps-checkpoint-kill-test-cluster-token-0123456789';
const MODEL: TensorSpec[] = [
  { name: 'dense/kernel', shape: [64, 32] },
  { name: 'dense/bias', shape: [32] },
  { name: 'output/kernel', shape: [32, 4] },
  { name: 'output/bias', shape: [4] },
];
const random = (seed: number, n: number, scale = 1) => {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: n }, () => (rand() - 0.5) * scale);
};
const parsed = parseJobSpec({ model: 'mlp', normBound: 0, directionThreshold: null, optimizer: { type: 'adagrad', learningRate: 0.1 } });
if (!parsed.ok) throw new Error(parsed.message);
const spec = parsed.value;
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
const stateBits = (s: StoreSnapshot) => s.tensors.map((t) => [bits(t.values), ...t.slots.map(bits)]);
const LEDGER = { completedEpochs: 0, nextLeaseId: 1, history: [[0]], open: [{ epoch: 0, pending: [0], done: [] }] };

const root = mkdtempSync(join(tmpdir(), 'downpour-ps-kill-'));
const tokenFile = join(root, 'cluster-token');
writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
const children: ChildProcess[] = [];
const closers: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

/** A ps task process as `npm run ps` starts it (the shared fork, with the tasks' Node flags); killed after the test if still alive. */
async function forkTask(dataDir: string, port = 0): Promise<PsTaskProcess> {
  const task = await forkPsTask(dataDir, tokenFile, port);
  children.push(task.child);
  return task;
}

it('a task SIGKILLed before the manifest commit leaves the previous checkpoint in force; its part of that one survives the kill', { timeout: 120_000 }, async () => {
  const task0: RunningPsTask = await startPsTask({ token: TOKEN, dataDir: join(root, 'task-0') });
  closers.push(() => task0.close());
  const dir1 = join(root, 'task-1');
  const first = await forkTask(dir1);
  const endpoints = [task0.url, first.url];
  const cluster = new PsCluster({ endpoints, token: TOKEN, epoch: 1, partitionBytes: 4096, requestTimeoutMs: 2000 });
  closers.push(() => cluster.close());
  const created = await RemoteParameterService.create(spec, { jobId: 'job-1', tensors: MODEL, initial: MODEL.map((s, i) => random(i + 1, sizeOf(s.shape))), cluster });
  if ('ok' in created) throw new Error(created.message);
  const service = created;
  const route = service.routeFor('w-1');
  const ws: PsWorkerClient[] = await Promise.all(route.tasks.map((t) => connectPsWorker(t.url)));
  closers.push(async () => ws.forEach((s) => s.disconnect()));
  const push = async (seed: number) => {
    const psReceipts = await Promise.all(
      route.tasks.map(async (t) => {
        const slices = route.placement.slices.filter((s) => s.task === t.task);
        const grads = encodeTensors(slices.map((s) => ({ name: s.name, shape: s.shape, values: random(100 * seed + s.flatOffset, s.length, 0.2) })));
        const pulled = await ws[t.task]!.emitWithAck('params:pull', { ticket: t.ticket, jobId: 'job-1' });
        if (!pulled.ok) throw new Error(pulled.message);
        const r = await ws[t.task]!.emitWithAck('grads:push', { ticket: t.ticket, jobId: 'job-1', baseVersion: pulled.version, ...grads });
        if (!r.ok) throw new Error(r.message);
        return { task: t.task, version: r.version, receipt: r.receipt };
      }),
    );
    const counted = service.push('w-1', { baseVersion: 0, batches: 1, manifest: { codec: 'fp32', tensors: [] }, data: new Uint8Array(0), psReceipts });
    if ('ok' in counted && !counted.ok) throw new Error(counted.message);
  };
  const store = new CheckpointStore(join(root, 'chief'));
  const schedule = new CheckpointSchedule(
    'job-1',
    store,
    () => service.version,
    async () => {
      const step = service.version;
      return { jobId: 'job-1', at: 0, store: { version: step, applies: step, tensors: [] }, cut: await service.cut(), ledger: LEDGER, stats: emptyStats() };
    },
    (c) => c.cut && service.committed(c.cut),
  );

  for (let k = 0; k < 3; k++) await push(k);
  await schedule.ifChanged();
  const previous = (await store.latestValid('job-1'))?.cut;
  expect(previous?.parts.map((p) => p.version)).toEqual([3, 3]);
  const atPrevious = await service.snapshot();
  for (let k = 3; k < 5; k++) await push(k);

  // Task 1 cannot answer; the cut is asked; task 1 is SIGKILLed while the chief waits for it.
  first.child.kill('SIGSTOP');
  const cutting = schedule.ifChanged();
  const exited = new Promise((resolve) => first.child.once('exit', resolve));
  first.child.kill('SIGKILL');
  await exited;
  await cutting;
  const parts0 = readdirSync(join(root, 'task-0', 'ps-parts', 'job-1', 'task-0'));
  expect(parts0.filter((n) => n.endsWith('.part'))).toHaveLength(2);
  expect((await store.latestValid('job-1'))?.cut).toEqual(previous);
  expect(await store.list('job-1')).toHaveLength(1);

  // Task 1 again, a new process on its port and data directory; a new chief (higher epoch) restores the checkpoint in force.
  const again = await forkTask(dir1, first.port);
  const chief2 = new PsCluster({ endpoints: [task0.url, again.url], token: TOKEN, epoch: 2, partitionBytes: 4096 });
  closers.push(() => chief2.close());
  const restarted = await RemoteParameterService.create(spec, { jobId: 'job-1', tensors: MODEL, initial: MODEL.map((s) => new Float32Array(sizeOf(s.shape))), cluster: chief2 });
  if ('ok' in restarted) throw new Error(restarted.message);
  await restarted.restoreCut(previous!);
  expect(restarted.version).toBe(3);
  expect(stateBits(await restarted.snapshot())).toEqual(stateBits(atPrevious));
});
