/** Test helpers: a real coordinator on port 0 and real socket.io-client workers. */
import { io, type Socket } from 'socket.io-client';
import type { JobSpecInput } from '../../shared/job-spec.js';
import { WORKER_NAMESPACE, type ClientToServerEvents, type JobAssignment, type ServerToClientEvents } from '../../shared/protocol.js';
import { ModelTrainer } from '../../client/engine/model-trainer.js';
import { PulledParams } from '../../client/engine/pulled-params.js';
import { createCoordinator, type Coordinator, type CoordinatorOptions } from '../coordinator.js';
import type { Job } from '../jobs/job.js';
import { setLogLevel } from '../logger.js';

export type TestWorker = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface Running {
  coordinator: Coordinator;
  url: string;
  job: Job;
  close(): Promise<void>;
}

export async function startCoordinator(spec: JobSpecInput = {}, options: CoordinatorOptions = {}): Promise<Running> {
  setLogLevel('warn');
  const coordinator = createCoordinator(options);
  const created = await coordinator.createJob({ model: 'mlp', evalIntervalSeconds: 3600, ...spec });
  if (!created.ok) throw new Error(created.message);
  const { port } = await coordinator.listen(0, '127.0.0.1');
  return {
    coordinator,
    url: `http://127.0.0.1:${port}`,
    job: created.job,
    close: () => coordinator.close(),
  };
}

/** A worker that said hello and was assigned a job; `sockets` collects it for the test's cleanup. */
export async function joinAssigned(url: string, sockets: TestWorker[], userAgent: string): Promise<{ w: TestWorker; job: JobAssignment }> {
  const w = await connectTestWorker(url);
  sockets.push(w);
  const hello = await w.emitWithAck('worker:hello', { userAgent });
  if (!hello.ok || !hello.job) throw new Error('no assignment');
  return { w, job: hello.job };
}

export async function connectTestWorker(url: string): Promise<TestWorker> {
  const socket: TestWorker = io(url + WORKER_NAMESPACE, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker did not connect within 5 s')), 5000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  return socket;
}

/** Resolves with the event's first argument, or fails with a named timeout. */
export function waitForEvent<T>(emitter: { once(...args: never[]): unknown }, event: string, ms = 5000): Promise<T> {
  const once = emitter.once as (this: unknown, event: string, fn: (arg: T) => void) => unknown;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for "${event}"`)), ms);
    once.call(emitter, event, (arg: T) => {
      clearTimeout(timer);
      resolve(arg);
    });
  });
}

export interface TrainingWorker {
  worker: TestWorker;
  job: JobAssignment;
  trainer: ModelTrainer;
  /** Pulls the current parameters (as the browser does: a delta when the server offers one), failing the test on a refusal. */
  pull(): Promise<{ version: number; values: Float32Array[] }>;
  close(): void;
}

/** A socket.io worker that said hello and got a job, with the browser's ModelTrainer built for it. */
export async function joinAsTrainer(url: string): Promise<TrainingWorker> {
  const worker = await connectTestWorker(url);
  const hello = await worker.emitWithAck('worker:hello', { userAgent: 'vitest' });
  if (!hello.ok || !hello.job) throw new Error('the worker got no job');
  const job = hello.job;
  const trainer = await ModelTrainer.create(job.topology, job.tensors, job.dataset.featureShape, job.dataset.numClasses);
  const params = new PulledParams(job, { pull: (req) => worker.emitWithAck('params:pull', req) });
  return {
    worker,
    job,
    trainer,
    pull: () => params.pull(),
    close() {
      trainer.dispose();
      worker.disconnect();
    },
  };
}
