/**
 * RemoteParameterService over two real ps tasks (port 0) and real control sockets: what
 * a checkpoint takes from the tasks (values and optimizer state) restores bit for bit
 * into a new job's slices; a chief restarted while its tasks ran on takes its job back;
 * a deposed chief (lower epoch) changes nothing; workers' tickets are renewed on the
 * coordinator's clock before they expire.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { parseJobSpec } from '../../shared/job-spec.js';
import type { PsTickets } from '../../shared/ps-route.js';
import { seededRandom } from '../../shared/seeded-random.js';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';
import { ManualClock } from '../../test-support/manual-clock.js';
import { connectPsWorker, startPsTask, type PsWorkerClient, type RunningPsTask } from '../../test-support/ps-clients.js';
import { joinAssigned, startCoordinator, waitForEvent, type TestWorker } from '../../test-support/index.js';
import { PsCluster } from '../cluster/ps-cluster.js';
import { RemoteParameterService } from './remote-parameter-service.js';
import type { StoreSnapshot } from './parameter-store.js';

const TOKEN = 'remote-params-test-cluster-token-0123456789';
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
const spec = parseJobSpec({ model: 'mlp', normBound: 0, directionThreshold: null, optimizer: { type: 'adagrad', learningRate: 0.1 } });
if (!spec.ok) throw new Error(spec.message);
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
const snapshotBits = (s: StoreSnapshot) => ({ version: s.version, tensors: s.tensors.map((t) => [bits(t.values), ...t.slots.map(bits)]) });

const tasks: RunningPsTask[] = [];
const clusters: PsCluster[] = [];
const sockets: { disconnect(): unknown }[] = [];
const clusterAt = (epoch: number) => {
  // A small partition size: dense/kernel (8 KiB) splits over both tasks.
  const c = new PsCluster({ endpoints: tasks.map((t) => t.url), token: TOKEN, epoch, partitionBytes: 4096 });
  clusters.push(c);
  return c;
};

beforeAll(async () => {
  for (let t = 0; t < 2; t++) tasks.push(await startPsTask({ token: TOKEN }));
});
afterAll(async () => {
  sockets.forEach((s) => s.disconnect());
  await Promise.all(clusters.map((c) => c.close()));
  await Promise.all(tasks.map((t) => t.close()));
});

/** `n` pushes of seeded gradients to every task, as a worker with `service`'s tickets sends them. */
async function push(service: RemoteParameterService, jobId: string, n: number): Promise<void> {
  const route = service.routeFor('w-1');
  const workers: PsWorkerClient[] = await Promise.all(route.tasks.map((t) => connectPsWorker(t.url)));
  sockets.push(...workers);
  for (let k = 0; k < n; k++) {
    const psReceipts = await Promise.all(
      route.tasks.map(async (t, i) => {
        const slices = route.placement.slices.filter((s) => s.task === t.task);
        const grads = encodeTensors(slices.map((s) => ({ name: s.name, shape: s.shape, values: random(100 * k + s.flatOffset, s.length, 0.2) })));
        const pulled = await workers[i]!.emitWithAck('params:pull', { ticket: t.ticket, jobId });
        if (!pulled.ok) throw new Error(pulled.message);
        const r = await workers[i]!.emitWithAck('grads:push', { ticket: t.ticket, jobId, baseVersion: pulled.version, ...grads });
        if (!r.ok) throw new Error(r.message);
        return { task: t.task, version: r.version, receipt: r.receipt };
      }),
    );
    // The chief counts the push only with every task's receipt for it.
    const counted = service.push('w-1', { baseVersion: 0, batches: 1, manifest: { codec: 'fp32', tensors: [] }, data: new Uint8Array(0), psReceipts });
    if ('ok' in counted && !counted.ok) throw new Error(counted.message);
  }
}

it('a checkpoint of the tasks (values and optimizer state) restores bit for bit into another job', async () => {
  const cluster = clusterAt(1);
  const a = await RemoteParameterService.create(spec.value, { jobId: 'job-a', tensors: MODEL, initial: INITIAL, cluster });
  if ('ok' in a) throw new Error(a.message);
  expect(a.psPlacement.placement.slices.filter((s) => s.name.startsWith('dense/kernel/part_'))).toHaveLength(2);
  await push(a, 'job-a', 3);
  const snap = await a.snapshot();
  expect(snap.version).toBe(3);
  // Adagrad's accumulators start uniform and moved: a restore without them would not be the same optimizer.
  expect(new Set(snap.tensors[0]!.slots[0]!).size).toBeGreaterThan(1);

  const b = await RemoteParameterService.create(spec.value, { jobId: 'job-b', tensors: MODEL, initial: INITIAL, cluster });
  if ('ok' in b) throw new Error(b.message);
  await b.restore(snap);
  expect(snapshotBits(await b.snapshot())).toEqual(snapshotBits(snap));
  expect((await b.values()).values.map(bits)).toEqual(snap.tensors.map((t) => bits(t.values)));
  a.dispose();
  b.dispose();
});

it('a restarted chief (a higher epoch) takes its job back from tasks that still hold it; the deposed one changes nothing', async () => {
  const first = await RemoteParameterService.create(spec.value, { jobId: 'job-c', tensors: MODEL, initial: INITIAL, cluster: clusterAt(10) });
  if ('ok' in first) throw new Error(first.message);
  await push(first, 'job-c', 1);
  const restarted = await RemoteParameterService.create(spec.value, { jobId: 'job-c', tensors: MODEL, initial: INITIAL, cluster: clusterAt(11) });
  if ('ok' in restarted) throw new Error(restarted.message);
  expect((await restarted.values()).values.map(bits)).toEqual(INITIAL.map(bits));
  const deposed = await RemoteParameterService.create(spec.value, { jobId: 'job-c', tensors: MODEL, initial: MODEL.map((s) => new Float32Array(sizeOf(s.shape))), cluster: clusterAt(10) });
  expect(deposed).toMatchObject({ ok: false, code: ErrorCode.STALE_CHIEF });
  expect((await restarted.values()).values.map(bits)).toEqual(INITIAL.map(bits));
  restarted.dispose();
});

it("renews workers' tickets at half their lifetime on the coordinator's clock", async () => {
  const clock = new ManualClock();
  const run = await startCoordinator({ model: 'mlp', normBound: 0 }, { clock, cluster: { endpoints: tasks.map((t) => t.url), token: TOKEN, ticketTtlMs: 60_000 } });
  const workers: TestWorker[] = [];
  try {
    const { w, job } = await joinAssigned(run.url, workers, 'renewal');
    const renewed = waitForEvent<PsTickets>(w, 'ps:tickets');
    clock.advance(30_000);
    const fresh = await renewed;
    expect(fresh.jobId).toBe(job.jobId);
    expect(fresh.tickets.map((t) => t.task)).toEqual([0, 1]);
    // Signed 30 s later: a different ticket, good until 90 s after the first.
    expect(fresh.tickets.map((t) => t.ticket)).not.toEqual(job.ps!.tasks.map((t) => t.ticket));
  } finally {
    workers.forEach((w) => w.disconnect());
    await run.close();
  }
});
