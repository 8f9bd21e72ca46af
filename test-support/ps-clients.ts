/** Real socket.io clients of a ps task (server/ps-task/): the chief's control channel and a worker's. */
import { io, type Socket } from 'socket.io-client';
import { encodeTensors, type CodecId } from '../shared/codec.js';
import { optimizerSpecSchema, type OptimizerSpec } from '../shared/job-spec.js';
import { PS_CONTROL_NAMESPACE, PS_WORKER_NAMESPACE, type PsControlEvents, type PsJobCreate, type PsServerEvents, type PsWorkerEvents } from '../shared/ps-protocol.js';
import type { TensorSpec } from '../shared/tensors.js';
import { chiefCredential } from '../server/cluster/chief-fence.js';
import type { ClusterKeys } from '../server/cluster/cluster-keys.js';
import { createPsTask, type PsTask, type PsTaskOptions } from '../server/ps-task/ps-task.js';
import { setLogLevel } from '../server/logger.js';

export type PsControlClient = Socket<PsServerEvents, PsControlEvents>;
export type PsWorkerClient = Socket<PsServerEvents, PsWorkerEvents>;

export interface RunningPsTask {
  task: PsTask;
  url: string;
  close(): Promise<void>;
}

/**
 * A ps task on 127.0.0.1, port 0. As startCoordinator's, its loop-delay bound is off
 * unless `options.admission` sets it: the test's own clients share its event loop.
 */
export async function startPsTask(options: PsTaskOptions): Promise<RunningPsTask> {
  setLogLevel('warn');
  const task = createPsTask({ ...options, admission: { maxLoopDelayMs: Number.POSITIVE_INFINITY, ...options.admission } });
  const { port } = await task.listen(0, '127.0.0.1');
  return { task, url: `http://127.0.0.1:${port}`, close: () => task.close() };
}

export async function connectPs<S extends PsControlClient | PsWorkerClient>(url: string, namespace: typeof PS_CONTROL_NAMESPACE | typeof PS_WORKER_NAMESPACE): Promise<S> {
  const socket = io(url + namespace, { transports: ['websocket'], reconnection: false, forceNew: true }) as S;
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

export const connectChief = (url: string) => connectPs<PsControlClient>(url, PS_CONTROL_NAMESPACE);
export const connectPsWorker = (url: string) => connectPs<PsWorkerClient>(url, PS_WORKER_NAMESPACE);

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
