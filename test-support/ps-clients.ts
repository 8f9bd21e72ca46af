/** Real socket.io clients of a ps task (server/ps-task/): the chief's control channel and a worker's; a worker's pushes through a coordinator's tasks. */
import { io, type Socket } from 'socket.io-client';
import { PsTransport } from '../client/engine/ps-transport.js';
import { decodeTensors, encodeTensors, type CodecId } from '../shared/codec.js';
import type { JobAssignment } from '../shared/protocol.js';
import { checkPsRoute, type CheckedRoute } from '../shared/ps-route.js';
import { sizeOf } from '../shared/tensors.js';
import { optimizerSpecSchema, type OptimizerSpec } from '../shared/job-spec.js';
import { PS_CONTROL_NAMESPACE, PS_WORKER_NAMESPACE, type PsControlEvents, type PsJobCreate, type PsServerEvents, type PsWorkerEvents } from '../shared/ps-protocol.js';
import type { TensorSpec } from '../shared/tensors.js';
import { chiefCredential } from '../server/cluster/chief-fence.js';
import type { ClusterKeys } from '../server/cluster/cluster-keys.js';
import { createPsTask, type PsTask, type PsTaskOptions } from '../server/ps-task/ps-task.js';
import { setLogLevel } from '../server/logger.js';
import { connectTestWorker, leaseShard } from './workers.js';

export type PsControlClient = Socket<PsServerEvents, PsControlEvents>;
export type PsWorkerClient = Socket<PsServerEvents, PsWorkerEvents>;

export interface RunningPsTask {
  task: PsTask;
  url: string;
  close(): Promise<void>;
}

/**
 * A ps task on 127.0.0.1, port 0 (or `port`: a task restarted where it was). As startCoordinator's, its loop-delay bound is off
 * unless `options.admission` sets it, and its slots' late-loop trigger unless `options.slots` does: the test's own clients share its event loop.
 */
export async function startPsTask(options: PsTaskOptions, port = 0): Promise<RunningPsTask> {
  setLogLevel('warn');
  // Nor do slots follow the loop's lateness (the test's clients run on it): a test that wants it sets slots.lateMs.
  const task = createPsTask({ ...options, admission: { maxLoopDelayMs: Number.POSITIVE_INFINITY, ...options.admission }, slots: { lateMs: Number.POSITIVE_INFINITY, ...options.slots } });
  const { port: bound } = await task.listen(port, '127.0.0.1');
  return { task, url: `http://127.0.0.1:${bound}`, close: () => task.close() };
}

/** `localAddress`: connect from this address (127.0.0.2: another host, for a per-address cap). */
export async function connectPs<S extends PsControlClient | PsWorkerClient>(url: string, namespace: typeof PS_CONTROL_NAMESPACE | typeof PS_WORKER_NAMESPACE, localAddress?: string): Promise<S> {
  const socket = io(url + namespace, { transports: ['websocket'], reconnection: false, forceNew: true, ...(localAddress ? { localAddress } : {}) }) as S;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${namespace} did not connect within 5 s`)), 5000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect_error', (err: Error) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  return socket;
}

export const connectChief = (url: string, localAddress?: string) => connectPs<PsControlClient>(url, PS_CONTROL_NAMESPACE, localAddress);
export const connectPsWorker = (url: string, localAddress?: string) => connectPs<PsWorkerClient>(url, PS_WORKER_NAMESPACE, localAddress);

/** What a task holds of `jobId` now, read as its chief (epoch 1): its version and its slices' values in the task's order. */
export async function taskValues(chief: PsControlClient, keys: ClusterKeys, jobId: string): Promise<{ version: number; values: Float32Array[] }> {
  const snap = await chief.emitWithAck('params:snapshot', { chief: chiefCredential(keys, 1, 'params:snapshot', jobId), jobId });
  if (!snap.ok) throw new Error(snap.message);
  return { version: snap.version, values: decodeTensors(snap, snap.manifest.tensors.map((t) => ({ name: t.name, shape: t.shape }))) };
}

export interface JobOnTask {
  jobId: string;
  task: number;
  slices: TensorSpec[];
  initial: Float32Array[];
  optimizer?: Partial<OptimizerSpec>;
  codec?: CodecId;
  topkRatio?: number;
  maxStaleness?: number;
  stalenessAware?: boolean;
  keepVersions?: number;
}

/** The job:create message a chief at `epoch` sends for `job`. */
export function jobCreateMessage(keys: ClusterKeys, epoch: number, job: JobOnTask): PsJobCreate {
  return {
    chief: chiefCredential(keys, epoch, 'job:create', job.jobId),
    jobId: job.jobId,
    task: job.task,
    slices: job.slices,
    optimizer: optimizerSpecSchema.parse(job.optimizer ?? {}),
    codec: job.codec ?? 'fp32',
    topkRatio: job.topkRatio ?? 0.01,
    maxStaleness: job.maxStaleness ?? 32,
    ...(job.stalenessAware === undefined ? {} : { stalenessAware: job.stalenessAware }),
    keepVersions: job.keepVersions ?? 0,
    initial: encodeTensors(job.slices.map((s, i) => ({ ...s, values: job.initial[i]! }))),
  };
}

/** The checked ps route of an assignment (a test fails on one that does not check). */
export function routeOf(job: JobAssignment): CheckedRoute {
  const route = checkPsRoute(job.ps, job.tensors);
  if ('error' in route) throw new Error(route.error);
  return route;
}

/**
 * `pushes` pushes of small constant gradients through a job's ps tasks from one
 * socket.io worker of the coordinator at `url` (hello, one lease, pull and push through
 * PsTransport, the chief told with the tasks' receipts): the job, the chief's version
 * after them and the tasks' origins as the assignment named them.
 */
export async function pushThroughTasks(url: string, pushes = 3): Promise<{ jobId: string; version: number; taskUrls: string[]; job: JobAssignment }> {
  const worker = await connectTestWorker(url);
  try {
    const hello = await worker.emitWithAck('worker:hello', { userAgent: 'vitest' });
    if (!hello.ok || !hello.job) throw new Error('no job');
    const job = hello.job;
    const route = routeOf(job);
    const transport = new PsTransport({ job, route, chief: (p) => worker.emitWithAck('grads:push', p) });
    try {
      const { leaseId } = await leaseShard(worker, job.jobId);
      let version = 0;
      for (let i = 0; i < pushes; i++) {
        const pulled = await transport.pull({ jobId: job.jobId });
        if (!pulled.ok) throw new Error(pulled.message);
        const payload = encodeTensors(job.tensors.map((t) => ({ ...t, values: new Float32Array(sizeOf(t.shape)).fill(1e-3) })));
        const ack = await transport.push({ jobId: job.jobId, leaseId, baseVersion: pulled.version, batches: 1, loss: 2, ...payload });
        if (!ack.ok) throw new Error(`${ack.code}: ${ack.message}`);
        version = ack.version;
      }
      return { jobId: job.jobId, version, taskUrls: route.tasks.map((t) => t.url), job };
    } finally {
      transport.dispose();
    }
  } finally {
    worker.disconnect();
  }
}

/** What the tasks hold of `job`, pulled with the assignment's tickets and joined by its placement (not the chief's gather). */
export async function pullFromTasks(job: JobAssignment): Promise<Float32Array[]> {
  const route = routeOf(job);
  const parts = await Promise.all(
    route.tasks.map(async (t) => {
      const s = await connectPsWorker(t.url);
      try {
        const pulled = await s.emitWithAck('params:pull', { ticket: t.ticket, jobId: job.jobId });
        if (!pulled.ok) throw new Error(pulled.message);
        return decodeTensors(pulled as typeof pulled & { manifest: { codec: 'fp32' } }, route.placement.specsOf(t.task));
      } finally {
        s.disconnect();
      }
    }),
  );
  return route.placement.joinTensors(parts, job.tensors.map((t) => sizeOf(t.shape)));
}
