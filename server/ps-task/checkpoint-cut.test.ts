/**
 * Checkpoints as a consistent cut over two real ps tasks (in process, port 0, real
 * sockets, real files): the chief asks every task for its part under one id and commits
 * the manifest (CheckpointSchedule → CheckpointStore) only when every part answered;
 * a task gone before it answered leaves the previous checkpoint in force, and a restore
 * from it, by a new chief onto a restarted task, gives that checkpoint's exact values
 * and optimizer state; a damaged or missing part is refused with its code; a push that
 * arrives while a part is written waits for it; a stranger's ckpt:* changes nothing.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { parseJobSpec } from '../../shared/job-spec.js';
import { PS_CONTROL_NAMESPACE, PS_WORKER_NAMESPACE, type PsControlEvents, type PsServerEvents, type PsWorkerEvents } from '../../shared/ps-protocol.js';
import type { PsRoute } from '../../shared/ps-route.js';
import { seededRandom } from '../../shared/seeded-random.js';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';
import { connectChief, connectPsWorker, startPsTask, type PsWorkerClient, type RunningPsTask } from '../../test-support/ps-clients.js';
import { CheckpointStore } from '../checkpoints/checkpoint-store.js';
import { chiefCredential } from '../cluster/chief-fence.js';
import { CutRefusedError } from '../cluster/checkpoint-cut.js';
import { deriveClusterKeys } from '../cluster/cluster-keys.js';
import { PsCluster } from '../cluster/ps-cluster.js';
import { emptyStats } from '../jobs/job-stats.js';
import { CheckpointSchedule } from '../jobs/checkpoint-schedule.js';
import type { StoreSnapshot } from '../params/parameter-store.js';
import { RemoteParameterService } from '../params/remote-parameter-service.js';

const TOKEN = 'checkpoint-cut-test-cluster-token-0123456789';
const keys = deriveClusterKeys(TOKEN);
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
const INITIAL = MODEL.map((s, i) => random(i + 1, sizeOf(s.shape)));
const parsed = parseJobSpec({ model: 'mlp', normBound: 0, directionThreshold: null, optimizer: { type: 'adagrad', learningRate: 0.1 } });
if (!parsed.ok) throw new Error(parsed.message);
const spec = parsed.value;
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
/** Values and optimizer state, bit for bit (the global step aside). */
const stateBits = (s: StoreSnapshot) => s.tensors.map((t) => [bits(t.values), ...t.slots.map(bits)]);
const LEDGER = { completedEpochs: 0, nextLeaseId: 1, history: [[0]], open: [{ epoch: 0, pending: [0], done: [] }] };

const root = mkdtempSync(join(tmpdir(), 'downpour-cut-'));
const dataDir = (task: number) => join(root, `task-${task}`);
const tasks: RunningPsTask[] = [];
const clusters: PsCluster[] = [];
const sockets: { disconnect(): unknown }[] = [];
let jobs = 0;

beforeAll(async () => {
  for (let t = 0; t < 2; t++) tasks.push(await startPsTask({ token: TOKEN, dataDir: dataDir(t) }));
});
afterAll(async () => {
  sockets.forEach((s) => s.disconnect());
  await Promise.all(clusters.map((c) => c.close()));
  await Promise.all(tasks.map((t) => t.close()));
  rmSync(root, { recursive: true, force: true });
});

const clusterAt = (epoch: number, requestTimeoutMs?: number) => {
  // A small partition size: dense/kernel (8 KiB) splits over both tasks.
  const c = new PsCluster({ endpoints: tasks.map((t) => t.url), token: TOKEN, epoch, partitionBytes: 4096, requestTimeoutMs });
  clusters.push(c);
  return c;
};

async function newJob(cluster: PsCluster, jobId = `job-${++jobs}`) {
  const s = await RemoteParameterService.create(spec, { jobId, tensors: MODEL, initial: INITIAL, cluster });
  if ('ok' in s) throw new Error(s.message);
  return { service: s, jobId };
}

/** A worker's sockets to every task, with `route`'s tickets. */
async function connectWorker(route: PsRoute): Promise<PsWorkerClient[]> {
  const ws = await Promise.all(route.tasks.map((t) => connectPsWorker(t.url)));
  sockets.push(...ws);
  return ws;
}

/** Pushes seeded gradient `seed` to `only` (default: every task); counts it at the chief when every task took it. */
async function push(service: RemoteParameterService, jobId: string, ws: PsWorkerClient[], seed: number, only?: number): Promise<void> {
  const route = service.routeFor('w-1');
  const targets = route.tasks.filter((t) => only === undefined || t.task === only);
  const psReceipts = await Promise.all(
    targets.map(async (t) => {
      const slices = route.placement.slices.filter((s) => s.task === t.task);
      const grads = encodeTensors(slices.map((s) => ({ name: s.name, shape: s.shape, values: random(100 * seed + s.flatOffset, s.length, 0.2) })));
      const pulled = await ws[t.task]!.emitWithAck('params:pull', { ticket: t.ticket, jobId });
      if (!pulled.ok) throw new Error(pulled.message);
      const r = await ws[t.task]!.emitWithAck('grads:push', { ticket: t.ticket, jobId, baseVersion: pulled.version, ...grads });
      if (!r.ok) throw new Error(r.message);
      return { task: t.task, version: r.version, receipt: r.receipt };
    }),
  );
  if (only !== undefined) return;
  const counted = service.push('w-1', { baseVersion: 0, batches: 1, manifest: { codec: 'fp32', tensors: [] }, data: new Uint8Array(0), psReceipts });
  if ('ok' in counted && !counted.ok) throw new Error(counted.message);
}

/** The chief's checkpoint path as a job runs it: capture a cut, commit its manifest to `store` only when it is whole. */
function scheduleFor(service: RemoteParameterService, jobId: string, store: CheckpointStore): CheckpointSchedule {
  return new CheckpointSchedule(
    jobId,
    store,
    () => service.version,
    async () => {
      const step = service.version;
      const cut = await service.cut();
      return { jobId, at: 0, store: { version: step, applies: step, tensors: [] }, cut, ledger: LEDGER, stats: emptyStats() };
    },
    (c) => c.cut && service.committed(c.cut),
  );
}

const partFiles = (task: number, jobId: string) => {
  try {
    return readdirSync(join(dataDir(task), 'ps-parts', jobId, `task-${task}`)).filter((n) => n.endsWith('.part'));
  } catch {
    return [];
  }
};

it("commits a manifest whose parts' versions are what each task applied, and restores it bit for bit", async () => {
  const cluster = clusterAt(1);
  const { service, jobId } = await newJob(cluster);
  const ws = await connectWorker(service.routeFor('w-1'));
  for (let k = 0; k < 3; k++) await push(service, jobId, ws, k);
  // Two more pushes reach task 0 only (the worker's slices for task 1 were refused, say): the tasks' versions differ.
  await push(service, jobId, ws, 10, 0);
  await push(service, jobId, ws, 11, 0);
  const store = new CheckpointStore(join(root, 'chief-1'));
  await scheduleFor(service, jobId, store).ifChanged();
  const before = await service.snapshot();

  const committed = await store.latestValid(jobId);
  expect(committed?.cut).toMatchObject({ step: 3, tasks: 2, parts: [{ task: 0, version: 5 }, { task: 1, version: 3 }] });
  // What each task says it applied is what its part holds.
  for (const t of [0, 1]) {
    const chief = await connectChief(tasks[t]!.url);
    sockets.push(chief);
    const status = await chief.emitWithAck('task:status', { chief: chiefCredential(keys, 1, 'task:status', null) });
    if (!status.ok) throw new Error(status.message);
    expect(status.jobs.find((j) => j.jobId === jobId)?.version).toBe(committed!.cut!.parts[t]!.version);
    expect(partFiles(t, jobId)).toHaveLength(1);
  }

  for (let k = 20; k < 23; k++) await push(service, jobId, ws, k);
  expect(stateBits(await service.snapshot())).not.toEqual(stateBits(before));
  await service.restoreCut(committed!.cut!);
  expect(service.version).toBe(3);
  expect(stateBits(await service.snapshot())).toEqual(stateBits(before));
  // Training goes on from there: the tasks' versions are the parts' again.
  await push(service, jobId, ws, 30);
  expect(service.version).toBe(4);
  service.dispose();
});

it('a task gone between the parts and the manifest leaves the previous checkpoint in force, and a new chief restores it exactly', async () => {
  const cluster = clusterAt(2, 1000);
  const { service, jobId } = await newJob(cluster);
  const ws = await connectWorker(service.routeFor('w-1'));
  const store = new CheckpointStore(join(root, 'chief-2'));
  const schedule = scheduleFor(service, jobId, store);
  for (let k = 0; k < 2; k++) await push(service, jobId, ws, k);
  await schedule.ifChanged();
  const previous = await store.latestValid(jobId);
  const atPrevious = await service.snapshot();
  expect(previous?.cut?.step).toBe(2);

  for (let k = 2; k < 5; k++) await push(service, jobId, ws, k);
  // Task 1 goes: task 0 writes its part of the next cut, task 1 never answers, nothing is committed.
  const port1 = Number(new URL(tasks[1]!.url).port);
  await tasks[1]!.close();
  await schedule.ifChanged();
  expect(partFiles(0, jobId)).toHaveLength(2);
  expect(partFiles(1, jobId)).toHaveLength(1);
  const inForce = await store.latestValid(jobId);
  expect(inForce?.cut).toEqual(previous?.cut);
  expect(await store.list(jobId)).toHaveLength(1);

  // Task 1 comes back on its port and data directory, empty; a restarted chief (a higher epoch) re-creates the job and resumes from the manifest.
  tasks[1] = await startPsTaskOn(port1, dataDir(1));
  const restarted = await RemoteParameterService.create(spec, { jobId, tensors: MODEL, initial: INITIAL, cluster: clusterAt(3) });
  if ('ok' in restarted) throw new Error(restarted.message);
  await restarted.restoreCut(inForce!.cut!);
  expect(restarted.version).toBe(2);
  expect(stateBits(await restarted.snapshot())).toEqual(stateBits(atPrevious));
  restarted.dispose();
});

it('a damaged part, a part the manifest does not name and a missing part are refused on load with their codes', async () => {
  const cluster = clusterAt(4);
  const { service, jobId } = await newJob(cluster);
  const ws = await connectWorker(service.routeFor('w-1'));
  await push(service, jobId, ws, 1);
  const cut = await service.cut();
  const loadRefusal = (m = cut) =>
    service.restoreCut(m).then(
      () => null,
      (err: unknown) => (err instanceof CutRefusedError ? { task: err.task, code: err.code } : err),
    );
  expect(await loadRefusal()).toBeNull();

  // Another part's checksum: intact on disk, but not the part this manifest names.
  const other = { ...cut, parts: cut.parts.map((p, i) => (i === 1 ? { ...p, sha256: cut.parts[0]!.sha256 } : p)) };
  expect(await loadRefusal(other)).toEqual({ task: 1, code: ErrorCode.CHECKPOINT_PART_CORRUPT });

  const dir = join(dataDir(0), 'ps-parts', jobId, 'task-0');
  const file = join(dir, partFiles(0, jobId)[0]!);
  const intact = readFileSync(file);
  const damaged = Buffer.from(intact);
  damaged[damaged.length - 100]! ^= 0x01; // one bit of one value
  writeFileSync(file, damaged);
  expect(await loadRefusal()).toEqual({ task: 0, code: ErrorCode.CHECKPOINT_PART_CORRUPT });

  rmSync(file);
  expect(await loadRefusal()).toEqual({ task: 0, code: ErrorCode.CHECKPOINT_PART_MISSING });
  writeFileSync(file, intact);
  expect(await loadRefusal()).toBeNull();
  service.dispose();
});

it('a push that arrives while the part is written waits for it: the part is the state before it', async () => {
  const cluster = clusterAt(5);
  const { service, jobId } = await newJob(cluster);
  const route = service.routeFor('w-1');
  await push(service, jobId, await connectWorker(route), 1);
  const before = await service.snapshot();
  // The chief's ckpt:write and the worker's push over ONE connection to task 0: the task reads them in this order.
  const manager = io(tasks[0]!.url, { transports: ['websocket'], forceNew: true, autoConnect: false }).io;
  const control: Socket<PsServerEvents, PsControlEvents> = manager.socket(PS_CONTROL_NAMESPACE);
  const worker: Socket<PsServerEvents, PsWorkerEvents> = manager.socket(PS_WORKER_NAMESPACE);
  sockets.push(control, worker);
  await Promise.all([control, worker].map((s) => new Promise((resolve) => s.connect().once('connect', () => resolve(null)))));
  const t0 = route.tasks[0]!;
  const slices = route.placement.slices.filter((s) => s.task === 0);
  const grads = encodeTensors(slices.map((s) => ({ name: s.name, shape: s.shape, values: random(7 + s.flatOffset, s.length, 0.2) })));
  const written = control.emitWithAck('ckpt:write', { chief: chiefCredential(keys, 5, 'ckpt:write', jobId), jobId, checkpointId: 'during', keep: [] });
  const pushed = worker.emitWithAck('grads:push', { ticket: t0.ticket, jobId, baseVersion: 1, ...grads });
  const [part, accepted] = await Promise.all([written, pushed]);
  expect(part).toMatchObject({ ok: true, task: 0, version: 1 });
  expect(accepted).toMatchObject({ ok: true, version: 2 });
  if (!part.ok) throw new Error(part.message);

  // Loading the part gives back task 0's slices exactly as before the push.
  const load = await control.emitWithAck('ckpt:load', { chief: chiefCredential(keys, 5, 'ckpt:load', jobId), jobId, checkpointId: 'during', sha256: part.sha256 });
  expect(load).toEqual({ ok: true, version: 1 });
  expect(stateBits(await service.snapshot())).toEqual(stateBits(before));
  service.dispose();
});

it("a stranger's ckpt:write and ckpt:load are UNAUTHORIZED and change nothing", async () => {
  const cluster = clusterAt(6);
  const { service, jobId } = await newJob(cluster);
  await push(service, jobId, await connectWorker(service.routeFor('w-1')), 1);
  const cut = await service.cut();
  const before = await service.snapshot();
  await push(service, jobId, await connectWorker(service.routeFor('w-1')), 2);
  const after = await service.snapshot();
  const stranger = deriveClusterKeys('a-stranger-with-its-own-token-0123456789ab');
  const chief = await connectChief(tasks[0]!.url);
  sockets.push(chief);
  const filesBefore = partFiles(0, jobId);

  const write = await chief.emitWithAck('ckpt:write', { chief: chiefCredential(stranger, 7, 'ckpt:write', jobId), jobId, checkpointId: 'stranger', keep: [] });
  expect(write).toMatchObject({ ok: false, code: ErrorCode.UNAUTHORIZED });
  const load = await chief.emitWithAck('ckpt:load', { chief: chiefCredential(stranger, 7, 'ckpt:load', jobId), jobId, checkpointId: cut.checkpointId, sha256: cut.parts[0]!.sha256 });
  expect(load).toMatchObject({ ok: false, code: ErrorCode.UNAUTHORIZED });
  // No credential at all, and the chief's proof for another job, are refused the same way.
  const bare = await (chief as unknown as { emitWithAck(e: string, m: unknown): Promise<unknown> }).emitWithAck('ckpt:write', { jobId, checkpointId: 'stranger', keep: [] });
  expect(bare).toMatchObject({ ok: false, code: ErrorCode.UNAUTHORIZED });
  const replayed = await chief.emitWithAck('ckpt:load', { chief: chiefCredential(keys, 6, 'ckpt:load', 'job-other'), jobId, checkpointId: cut.checkpointId, sha256: cut.parts[0]!.sha256 });
  expect(replayed).toMatchObject({ ok: false, code: ErrorCode.UNAUTHORIZED });

  expect(partFiles(0, jobId)).toEqual(filesBefore);
  expect(stateBits(await service.snapshot())).toEqual(stateBits(after));
  expect(stateBits(after)).not.toEqual(stateBits(before));
  service.dispose();
});

it('refuses ckpt:write on a task without a data directory, and keeps the newest parts plus those the chief names', async () => {
  const bare = await startPsTask({ token: TOKEN });
  const cluster = new PsCluster({ endpoints: [bare.url], token: TOKEN, epoch: 1 });
  try {
    const { service } = await newJob(cluster, 'job-bare');
    await expect(service.cut()).rejects.toMatchObject({ code: ErrorCode.CHECKPOINT_WRITE_FAILED });
    service.dispose();
  } finally {
    await cluster.close();
    await bare.close();
  }

  const { service, jobId } = await newJob(clusterAt(8));
  const first = await service.cut();
  service.committed(first);
  const ids = [first.checkpointId];
  // Uncommitted attempts (the chief never commits them): the committed one survives them all.
  for (let k = 0; k < 4; k++) ids.push((await service.cut()).checkpointId);
  const kept = partFiles(0, jobId).map((n) => n.replace(/^\d+-|\.part$/g, ''));
  expect(kept.sort()).toEqual([first.checkpointId, ...ids.slice(-3)].sort());
  service.dispose();
});

/** A ps task on a given port (a restarted one takes its old address, as a ClusterSpec names it). */
async function startPsTaskOn(port: number, dir: string): Promise<RunningPsTask> {
  const { createPsTask } = await import('./ps-task.js');
  const task = createPsTask({ token: TOKEN, dataDir: dir, admission: { maxLoopDelayMs: Number.POSITIVE_INFINITY } });
  await task.listen(port, '127.0.0.1');
  return { task, url: `http://127.0.0.1:${port}`, close: () => task.close() };
}
