/** Real socket.io-client workers on the worker namespace, bare or with the browser's ModelTrainer. */
import { io, type Socket } from 'socket.io-client';
import {
  WORKER_NAMESPACE,
  type ClientToServerEvents,
  type GradientPush,
  type JobAssignment,
  type PushAccepted,
  type ServerToClientEvents,
  type ShardLeaseGrant,
} from '../shared/protocol.js';
import type { Result } from '../shared/result.js';
import { SlotPusher } from '../shared/slot-pusher.js';
import { ModelTrainer } from '../client/engine/model-trainer.js';
import { PulledParams } from '../client/engine/pulled-params.js';
import { PsTransport } from '../client/engine/ps-transport.js';
import { checkPsRoute } from '../shared/ps-route.js';
import type { Coordinator } from '../server/coordinator.js';
import { waitForEvent } from './events.js';

export type TestWorker = Socket<ServerToClientEvents, ClientToServerEvents>;

const slotPushers = new WeakMap<TestWorker, SlotPusher>();

/**
 * `push` from `w` as every shipped worker sends it: with a push slot first while the
 * coordinator asks for them (shared/slot-pusher.ts), so a test's worker is not refused
 * BUSY by a coordinator process whose loop runs late on a loaded machine.
 */
export function pushWithSlots(w: TestWorker, push: GradientPush): Promise<Result<PushAccepted>> {
  let pusher = slotPushers.get(w);
  if (!pusher) slotPushers.set(w, (pusher = new SlotPusher()));
  return pusher.push(push, { ask: (req) => w.emitWithAck('grads:slot', req), send: (p) => w.emitWithAck('grads:push', p) });
}

/** A worker that said hello and was assigned a job; `sockets` collects it for the test's cleanup. */
export async function joinAssigned(url: string, sockets: TestWorker[], userAgent: string): Promise<{ w: TestWorker; job: JobAssignment }> {
  const w = await connectTestWorker(url);
  sockets.push(w);
  const hello = await w.emitWithAck('worker:hello', { userAgent });
  if (!hello.ok || !hello.job) throw new Error('no assignment');
  return { w, job: hello.job };
}

/** Leases a piece of a shard for `w` (every push names one), failing the test when none is granted. */
export async function leaseShard(w: TestWorker, jobId: string): Promise<ShardLeaseGrant> {
  const r = await w.emitWithAck('shard:lease', { jobId });
  if (!r.ok || !r.lease) throw new Error(`no lease for job ${jobId}: ${JSON.stringify(r)}`);
  return r.lease;
}

/** `localAddress`: the loopback address to connect from (127.0.0.2 is another host to the coordinator's per-address counts). */
export async function connectTestWorker(url: string, localAddress?: string): Promise<TestWorker> {
  const socket: TestWorker = io(url + WORKER_NAMESPACE, { transports: ['websocket'], reconnection: false, forceNew: true, ...(localAddress ? { localAddress } : {}) });
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

/**
 * Whether `answer` (an ack the coordinator may hold, such as a sync round's) has
 * settled by the time the coordinator has answered two more messages on each of
 * `sockets`: no sleep, and no window that load can make too short. A socket's messages
 * are handled in order, and an ack the coordinator gives while handling one goes out
 * in that tick's promise jobs: possibly after the next message's answer (socket.io
 * dispatches each message on its own nextTick), never after the one after that.
 */
export async function settledAfterRoundTrips(answer: Promise<unknown>, ...sockets: TestWorker[]): Promise<boolean> {
  let settled = false;
  void answer.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let trip = 0; trip < 2; trip++) {
    // A repeated hello is answered at once and changes nothing.
    await Promise.all(sockets.map((w) => w.emitWithAck('worker:hello', { userAgent: 'round trip' })));
  }
  return settled;
}

/** Disconnects `w` and resolves once the coordinator has handled the departure (leases released, rounds no longer waiting for it). */
export async function leave(coordinator: Coordinator, w: TestWorker): Promise<void> {
  // socket.io gives a namespace socket the same id on both ends.
  const serverSide = coordinator.workerNamespace.sockets.get(w.id ?? '');
  if (!serverSide) throw new Error(`worker socket ${w.id} is not connected to this coordinator`);
  // Registered after the namespace's own handler, so it runs after the departure is handled.
  const handled = waitForEvent(serverSide, 'disconnect');
  w.disconnect();
  await handled;
}

export interface TrainingWorker {
  worker: TestWorker;
  job: JobAssignment;
  trainer: ModelTrainer;
  /** A job on ps tasks: its slices are pulled and pushed there (one socket per task); null in process. */
  ps: PsTransport | null;
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
  const route = job.ps ? checkPsRoute(job.ps, job.tensors) : null;
  if (route && 'error' in route) throw new Error(route.error);
  const ps = route ? new PsTransport({ job, route, chief: (p) => worker.emitWithAck('grads:push', p) }) : null;
  const params = new PulledParams(job, { pull: (req) => (ps ? ps.pull(req) : worker.emitWithAck('params:pull', req)) });
  return {
    worker,
    job,
    trainer,
    ps,
    pull: () => params.pull(),
    close() {
      trainer.dispose();
      ps?.dispose();
      worker.disconnect();
    },
  };
}

/**
 * Pushes one mini-batch at a time on a worker's leases, completing a spent lease and
 * leasing the next, for tests that push more batches than one shard holds. A lease the
 * coordinator refuses (taken back, unknown, a claim it does not expect) is dropped.
 */
export class LeasedPusher {
  private lease: ShardLeaseGrant | null = null;
  private left = 0;

  constructor(
    private readonly w: TestWorker,
    private readonly jobId: string,
  ) {}

  async push(fields: Omit<GradientPush, 'jobId' | 'leaseId' | 'batches'>): Promise<Result<PushAccepted>> {
    if (this.left === 0) {
      if (this.lease) await this.w.emitWithAck('shard:complete', { jobId: this.jobId, leaseId: this.lease.leaseId });
      this.lease = await leaseShard(this.w, this.jobId);
      this.left = this.lease.batches.to - this.lease.batches.from;
    }
    this.left -= 1;
    const r = await pushWithSlots(this.w, { ...fields, jobId: this.jobId, leaseId: this.lease!.leaseId, batches: 1 });
    if (!r.ok && (r.code === 'LEASE_LOST' || r.code === 'UNKNOWN_LEASE' || r.code === 'BATCH_CLAIM')) this.left = 0;
    return r;
  }
}
