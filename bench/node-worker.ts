/**
 * A real Downpour worker without a browser: the client engine's ModelTrainer and
 * exchange (createExchange, so every consistency mode works) on tfjs's wasm backend in
 * Node, over socket.io-client. It leases a shard, downloads it over HTTP, trains its
 * mini-batches (push every nPush, pull every nFetch), flushes, reports the shard
 * complete, and repeats until the coordinator assigns it no job (the job is done),
 * then exits 0.
 *
 * The churn and soak benchmarks and the churn test fork it and SIGKILL it: a process
 * can die at any instant, which a browser tab cannot be made to do as cheaply. When
 * forked it reports to its parent over IPC (NodeWorkerMessage), otherwise on stderr.
 *
 * Usage: tsx bench/node-worker.ts <coordinator-url>
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Command, InvalidArgumentError, Option } from 'commander';
import { io, type Socket } from 'socket.io-client';
import { ModelTrainer } from '../client/engine/model-trainer.js';
import { ATTACK_FACTOR, ATTACKS, type Attack } from './attacks.js';
import { createExchange } from '../client/engine/create-exchange.js';
import { batchesOf, fetchShard } from '../client/engine/shard-data.js';
import { registerWasmGradientKernels } from '../client/engine/wasm-conv2d-backprop-filter.js';
import { WORKER_NAMESPACE, type ClientToServerEvents, type GradientPush, type JobAssignment, type ServerToClientEvents } from '../shared/protocol.js';

type WorkerSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface NodeWorkerProgress {
  shardsCompleted: number;
  pushesAccepted: number;
  pushesRejected: number;
  examplesContributed: number;
  /** tf.memory().numTensors: flat when the engine disposes everything it makes. */
  numTensors: number;
}

/** What a forked worker tells its parent. */
export type NodeWorkerMessage =
  | { type: 'ready'; workerId: string; backend: string }
  | { type: 'progress'; progress: NodeWorkerProgress }
  | { type: 'exit'; reason: string; progress: NodeWorkerProgress };

const REQUEST_TIMEOUT_MS = 30_000;
const PROGRESS_INTERVAL_MS = 2000;
const NO_SHARD_RETRY_MS = 250;

const progress: NodeWorkerProgress = { shardsCompleted: 0, pushesAccepted: 0, pushesRejected: 0, examplesContributed: 0, numTensors: 0 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function report(msg: NodeWorkerMessage, then?: () => void): void {
  if (process.send) process.send(msg, () => then?.());
  else {
    process.stderr.write(`[node-worker ${process.pid}] ${JSON.stringify(msg)}\n`);
    then?.();
  }
}

function exitWith(code: number, reason: string): void {
  progress.numTensors = tf.memory().numTensors;
  report({ type: 'exit', reason, progress: { ...progress } }, () => process.exit(code));
}

async function initWasm(): Promise<void> {
  tf.enableProdMode(); // keeps tfjs from printing advice on stderr
  if (!(await tf.setBackend('wasm'))) throw new Error('the tfjs wasm backend could not be initialised');
  registerWasmGradientKernels(); // tfjs 4.22's wasm backend lacks Conv2DBackpropFilter: the cnn needs it
}

async function connect(url: string): Promise<WorkerSocket> {
  // No reconnection: a worker that loses its coordinator is gone, as a closed tab is.
  const socket: WorkerSocket = io(url + WORKER_NAMESPACE, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

/** Set by --byzantine: this worker corrupts its fp32 gradient before pushing. */
let attack: Attack | null = null;

function corrupt(p: GradientPush): GradientPush {
  if (!attack) return p;
  if (p.manifest.codec !== 'fp32') throw new Error('the Byzantine worker only corrupts fp32 gradients');
  const bytes = p.data as Uint8Array;
  const f = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const factor = ATTACK_FACTOR[attack];
  for (let i = 0; i < f.length; i++) f[i] = f[i]! * factor;
  return p;
}

async function trainJob(socket: WorkerSocket, url: string, job: JobAssignment, stillAssigned: () => boolean): Promise<void> {
  const live = () => socket.timeout(REQUEST_TIMEOUT_MS);
  const trainer = await ModelTrainer.create(job.topology, job.tensors, job.dataset.featureShape, job.dataset.numClasses);
  const exchange = createExchange(
    job,
    trainer,
    { push: (p) => live().emitWithAck('grads:push', corrupt(p)), pull: (req) => live().emitWithAck('params:pull', req) },
    {
      pushed: (r, examples) => {
        if (r.ok) {
          progress.pushesAccepted += 1;
          progress.examplesContributed += examples;
        } else progress.pushesRejected += 1;
      },
      pulled: () => {},
    },
  );
  try {
    await exchange.start();
    while (stillAssigned()) {
      const leased = await live().emitWithAck('shard:lease', { jobId: job.jobId });
      if (!leased.ok) {
        // The job stopped between its last assignment and this request; job:assign follows.
        if (leased.code === 'JOB_NOT_RUNNING') return;
        throw new Error(`lease refused: ${leased.code}: ${leased.message}`);
      }
      if (!leased.lease) {
        // Every shard of the open epochs is out; the job ends or a lease comes back.
        await sleep(NO_SHARD_RETRY_MS);
        continue;
      }
      const shard = await fetchShard(new URL(leased.lease.url, url).toString());
      for (const batch of batchesOf(shard, job.batchSize)) {
        if (!stillAssigned()) return;
        await exchange.train(batch);
      }
      await exchange.flush(); // the shard's last batches are never left unpushed
      const done = await live().emitWithAck('shard:complete', { jobId: job.jobId, leaseId: leased.lease.leaseId });
      if (done.ok) progress.shardsCompleted += 1;
    }
  } finally {
    exchange.dispose();
    trainer.dispose();
  }
}

async function main(url: string): Promise<void> {
  await initWasm();
  const socket = await connect(url);
  const hello = await socket.timeout(REQUEST_TIMEOUT_MS).emitWithAck('worker:hello', { userAgent: `downpour-node-worker/${process.pid}` });
  if (!hello.ok) throw new Error(`hello refused: ${hello.code}: ${hello.message}`);
  let assigned: JobAssignment | null = hello.job;
  socket.on('job:assign', (job) => {
    assigned = job;
    // The chief has no work for us: the job is done (or stopped). Leave at once.
    if (!job) exitWith(0, 'no job assigned');
  });
  socket.on('disconnect', (reason) => exitWith(assigned ? 2 : 0, `disconnected: ${reason}`));
  report({ type: 'ready', workerId: hello.workerId, backend: tf.getBackend() });
  setInterval(() => {
    progress.numTensors = tf.memory().numTensors;
    report({ type: 'progress', progress: { ...progress } });
  }, PROGRESS_INTERVAL_MS).unref();
  while (assigned) {
    const job: JobAssignment = assigned;
    await trainJob(socket, url, job, () => assigned === job && socket.connected);
  }
  exitWith(0, 'no job assigned');
}

const program = new Command('node-worker')
  .description('a Downpour training worker on tfjs-wasm in Node')
  .argument('<url>', 'coordinator origin, e.g. http://127.0.0.1:3000', (v: string) => {
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      throw new InvalidArgumentError('expected an http(s) URL');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError('expected an http(s) URL');
    return u.origin;
  })
  .addOption(new Option('--byzantine <attack>', 'push corrupted gradients: sign-flipped or 100× scaled').choices(ATTACKS))
  .action((url: string, opts: { byzantine?: Attack }) => {
    attack = opts.byzantine ?? null;
    return main(url);
  });

program.parseAsync().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`node worker failed: ${message}\n`);
  exitWith(1, message);
});
