/**
 * A real Downpour worker without a browser: the client engine's ModelTrainer and
 * exchange (createExchange, so every consistency mode works) and shard loop
 * (client/engine/shard-loop.ts) on tfjs's wasm backend in Node, over socket.io-client.
 * It leases a piece of a shard, downloads the shard over HTTP, trains the lease's
 * mini-batches (push every nPush, pull every nFetch), flushes, reports the lease
 * complete, and repeats (leasing and downloading the next piece while one trains, as the
 * page's engine does) until the coordinator assigns it no job (the job is done),
 * then exits 0. It reports its examples per second as the browser engine does.
 *
 * The churn and soak benchmarks and the churn test fork it and SIGKILL it: a process
 * can die at any instant, which a browser tab cannot be made to do as cheaply. When
 * forked it reports to its parent over IPC (NodeWorkerMessage), otherwise on stderr.
 *
 * With --data-cap-mb-per-hour it paces its batches as the page does (BatchPacer over a
 * TrafficMeter on its socket and shard downloads): the data-cap link test runs it in a
 * network namespace behind a shaped veth and compares the link's counters with its own.
 *
 * Usage: tsx bench/node-worker.ts <coordinator-url> [--data-cap-mb-per-hour MB]
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Command, InvalidArgumentError, Option } from 'commander';
import { io, type Socket } from 'socket.io-client';
import { BatchPacer } from '../client/engine/batch-pacer.js';
import { ModelTrainer } from '../client/engine/model-trainer.js';
import { meterSocket, TrafficMeter } from '../client/engine/traffic-meter.js';
import { ATTACKS, corruptPush, HOARD_CLAIMED_RATE, HOARD_PUSH_INTERVAL_MS, type Attack } from './attacks.js';
import { createExchange } from '../client/engine/create-exchange.js';
import { fetchShard } from '../client/engine/shard-data.js';
import { LostLeases, runShardLoop } from '../client/engine/shard-loop.js';
import { Throughput } from '../client/engine/throughput.js';
import { registerWasmGradientKernels } from '../client/engine/wasm-conv2d-backprop-filter.js';
import { SlotPusher } from '../shared/slot-pusher.js';
import { transportFor, type WorkerTransport } from '../client/engine/ps-transport.js';
import { psTicketsSchema } from '../shared/ps-route.js';
import { WORKER_NAMESPACE, type ClientToServerEvents, type JobAssignment, type ServerToClientEvents } from '../shared/protocol.js';

type WorkerSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface NodeWorkerProgress {
  shardsCompleted: number;
  pushesAccepted: number;
  pushesRejected: number;
  examplesContributed: number;
  /** tf.memory().numTensors: flat when the engine disposes everything it makes. */
  numTensors: number;
  /** The longest time it asked for a lease and got none (ms), the wait still open at exit included. */
  longestWaitMs: number;
  /** The engine's own count of the bytes it moved each way (traffic-meter.ts). */
  bytesSent: number;
  bytesReceived: number;
  /** How long the data cap has held batches back in all, ms. */
  heldByDataCapMs: number;
}

/** What a forked worker tells its parent. */
export type NodeWorkerMessage =
  | { type: 'ready'; workerId: string; backend: string }
  | { type: 'progress'; progress: NodeWorkerProgress }
  | { type: 'exit'; reason: string; progress: NodeWorkerProgress };

const REQUEST_TIMEOUT_MS = 30_000;
/** Asks for a push slot when the coordinator says so, and backs off after BUSY (the browser engine's policy). */
const slots = new SlotPusher();
const PROGRESS_INTERVAL_MS = 2000;
/** As the browser engine reports its speed. */
const REPORT_INTERVAL_MS = 2000;
const NO_SHARD_RETRY_MS = 250;

const progress: NodeWorkerProgress = {
  shardsCompleted: 0,
  pushesAccepted: 0,
  pushesRejected: 0,
  examplesContributed: 0,
  numTensors: 0,
  longestWaitMs: 0,
  bytesSent: 0,
  bytesReceived: 0,
  heldByDataCapMs: 0,
};
const meter = new TrafficMeter();
/** Set up by main() from --data-cap-mb-per-hour; the browser engine's pacing, at full duty. */
let pacer: BatchPacer | null = null;
let heldSince: number | null = null;
const throughput = new Throughput();
/** Since when it has been asking for a lease in vain (null: it holds one). */
let waitingSince: number | null = null;

function waiting(now: boolean): void {
  if (now && waitingSince === null) waitingSince = Date.now();
  if (!now && waitingSince !== null) {
    progress.longestWaitMs = Math.max(progress.longestWaitMs, Date.now() - waitingSince);
    waitingSince = null;
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function report(msg: NodeWorkerMessage, then?: () => void): void {
  if (process.send) process.send(msg, () => then?.());
  else {
    process.stderr.write(`[node-worker ${process.pid}] ${JSON.stringify(msg)}\n`);
    then?.();
  }
}

function snapshot(): NodeWorkerProgress {
  progress.numTensors = tf.memory().numTensors;
  progress.bytesSent = meter.total.sent;
  progress.bytesReceived = meter.total.received;
  return { ...progress };
}

function exitWith(code: number, reason: string): void {
  waiting(false);
  report({ type: 'exit', reason, progress: snapshot() }, () => process.exit(code));
}

async function initWasm(): Promise<void> {
  tf.enableProdMode(); // keeps tfjs from printing advice on stderr
  if (!(await tf.setBackend('wasm'))) throw new Error('the tfjs wasm backend could not be initialised');
  registerWasmGradientKernels(); // tfjs 4.22's wasm backend lacks Conv2DBackpropFilter: the cnn needs it
}

async function connect(url: string): Promise<WorkerSocket> {
  // No reconnection: a worker that loses its coordinator is gone, as a closed tab is.
  const socket: WorkerSocket = io(url + WORKER_NAMESPACE, { transports: ['websocket'], reconnection: false, forceNew: true });
  meterSocket(socket, meter);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

/** Set by --byzantine. */
let attack: Attack | null = null;
/** The current job's transport, which `ps:tickets` renews when the job is on ps tasks. */
let current: WorkerTransport | null = null;

async function trainJob(socket: WorkerSocket, url: string, job: JobAssignment, stillAssigned: () => boolean): Promise<void> {
  const live = () => socket.timeout(REQUEST_TIMEOUT_MS);
  const trainer = await ModelTrainer.create(job.topology, job.tensors, job.dataset.featureShape, job.dataset.numClasses);
  const lost = new LostLeases();
  const transport = transportFor(
    job,
    // BUSY from the chief: the same push again after a back-off (on ps tasks only the chief's empty notice is resent, and it never needs a slot).
    { push: (p) => slots.push(p, { ask: (req) => live().emitWithAck('grads:slot', req), send: (q) => live().emitWithAck('grads:push', q) }), pull: (req) => live().emitWithAck('params:pull', req) },
    { requestTimeoutMs: REQUEST_TIMEOUT_MS, onTaskSocket: (s) => meterSocket(s, meter) },
  );
  current = transport;
  const exchange = createExchange(
    job,
    trainer,
    { push: (p) => transport.push(attack ? corruptPush(attack, p) : p), pull: (req) => transport.pull(req) },
    {
      pushed: (r, sent) => {
        lost.pushed(r, sent);
        if (r.ok) {
          progress.pushesAccepted += 1;
          progress.examplesContributed += sent.examples;
        } else progress.pushesRejected += 1;
      },
      pulled: () => {},
    },
  );
  const hoarding = attack === 'hoard';
  // A hoarder also asks for more leases than it trains, all the time (refused LEASE_LIMIT at the job's limit).
  const grabber = hoarding ? setInterval(() => void live().emitWithAck('shard:lease', { jobId: job.jobId }).catch(() => {}), REPORT_INTERVAL_MS) : null;
  try {
    await exchange.start();
    await runShardLoop({
      job,
      exchange,
      lost,
      lease: () => live().emitWithAck('shard:lease', { jobId: job.jobId }),
      complete: (leaseId) => live().emitWithAck('shard:complete', { jobId: job.jobId, leaseId }),
      fetchShard: (shardUrl) => fetchShard(new URL(shardUrl, url).toString(), { meter }),
      stillAssigned,
      // The next piece leased and downloaded while this one trains, as the page's engine does (a hoarder holds it too, besides its grabs).
      prefetch: true,
      retryMs: NO_SHARD_RETRY_MS,
      beforeBatch: () => pacer?.beforeBatch() ?? Promise.resolve(),
      afterBatch: async (batch) => {
        await pacer?.afterBatch();
        throughput.add(batch.size);
        if (hoarding) await sleep(HOARD_PUSH_INTERVAL_MS);
      },
      leaseEnded: (_lease, answer) => {
        if (answer !== 'lost' && answer.ok) progress.shardsCompleted += 1;
      },
      waiting: (now) => {
        waiting(now);
        if (!now) pacer?.idle();
      },
    });
  } finally {
    if (grabber) clearInterval(grabber);
    exchange.dispose();
    transport.dispose();
    if (current === transport) current = null;
    trainer.dispose();
  }
}

async function main(url: string, dataCapMbPerHour: number | null): Promise<void> {
  await initWasm();
  if (dataCapMbPerHour !== null) {
    pacer = new BatchPacer({
      dataCapMbPerHour,
      meter,
      onHold: (held) => {
        if (held) heldSince = performance.now();
        else if (heldSince !== null) {
          progress.heldByDataCapMs += performance.now() - heldSince;
          heldSince = null;
        }
      },
    });
  }
  const socket = await connect(url);
  const hello = await socket.timeout(REQUEST_TIMEOUT_MS).emitWithAck('worker:hello', { userAgent: `downpour-node-worker/${process.pid}` });
  if (!hello.ok) throw new Error(`hello refused: ${hello.code}: ${hello.message}`);
  let assigned: JobAssignment | null = hello.job;
  socket.on('job:assign', (job) => {
    assigned = job;
    // The chief has no work for us: the job is done (or stopped). Leave at once.
    if (!job) exitWith(0, 'no job assigned');
  });
  socket.on('ps:tickets', (tickets) => {
    const checked = psTicketsSchema.safeParse(tickets);
    if (checked.success) current?.renew(checked.data);
  });
  socket.on('disconnect', (reason) => exitWith(assigned ? 2 : 0, `disconnected: ${reason}`));
  report({ type: 'ready', workerId: hello.workerId, backend: tf.getBackend() });
  setInterval(() => {
    const examplesPerSecond = attack === 'hoard' ? HOARD_CLAIMED_RATE : throughput.perSecond();
    if (socket.connected) socket.emit('worker:report', { backend: 'wasm', adapter: null, examplesPerSecond });
  }, REPORT_INTERVAL_MS).unref();
  setInterval(() => {
    report({ type: 'progress', progress: snapshot() });
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
  .addOption(new Option('--byzantine <attack>', 'attack the job (bench/attacks.ts): sign-flipped, 100× scaled or 1000× with an inflated batch claim, or hoard leases').choices(ATTACKS))
  .option('--data-cap-mb-per-hour <mb>', 'hold batches so the bytes moved both ways stay under this many MB (10⁶ bytes) per hour (client/engine/data-cap.ts)', (v: string) => {
    const mb = Number(v);
    if (!(mb > 0 && Number.isFinite(mb))) throw new InvalidArgumentError('expected a positive number of MB per hour');
    return mb;
  })
  .action((url: string, opts: { byzantine?: Attack; dataCapMbPerHour?: number }) => {
    attack = opts.byzantine ?? null;
    return main(url, opts.dataCapMbPerHour ?? null);
  });

program.parseAsync().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`node worker failed: ${message}\n`);
  exitWith(1, message);
});
