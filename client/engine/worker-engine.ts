/**
 * The training worker (a Downpour model replica): connects, takes the job the
 * coordinator assigns, picks a backend, then loops — lease a shard, train its
 * mini-batches, push the accumulated gradient every nPush batches stamped with the
 * version it was computed against, pull fresh parameters every nFetch batches.
 * Survives disconnects and reassignments by starting a new session: socket.io
 * reconnects by itself (also to a coordinator restarted on the same address) and the
 * next session says worker:hello again. Runs inside a Web Worker (engine-worker.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { SlotPusher } from '../../shared/slot-pusher.js';
import type { BackendName, JobAssignment, PushAccepted } from '../../shared/protocol.js';
import type { Failure, Result } from '../../shared/result.js';
import { NO_BACKEND_CACHE, type BackendCache } from './backend-cache.js';
import { selectBackend } from './backend-selection.js';
import { BatchPacer } from './batch-pacer.js';
import { connectWorker, ConnectionLost, type WorkerSocket } from './connection.js';
import { ModelTrainer } from './model-trainer.js';
import { createExchange, type ExchangeFactory } from './create-exchange.js';
import { fetchShard } from './shard-data.js';
import { LostLeases, runShardLoop } from './shard-loop.js';
import { initialStatus, type EngineStatus } from './status.js';
import { Throughput } from './throughput.js';
import { meterSocket, TrafficMeter } from './traffic-meter.js';
import { transportFor, type WorkerTransport } from './ps-transport.js';
import { psTicketsSchema } from '../../shared/ps-route.js';
import type { FrameTransport } from './frame-transport.js';
import { RelayTransport } from './relay-transport.js';
import { runStage } from './stage-loop.js';
import { stageServerFor, type StagePsTransport } from './stage-ps-transport.js';

export interface EngineOptions {
  /** Coordinator origin, e.g. http://host:3000 (a worker's own location is its script). */
  origin: string;
  forcedBackend: BackendName | null;
  onStatus?: (s: EngineStatus) => void;
  /** Remembered backend choices. Default: none. */
  backendCache?: BackendCache;
  /** Fraction of full speed (duty-cycle.ts). Default: 1. */
  dutyCycle?: number;
  /** MB per hour on the network, both ways (data-cap.ts); null: none. Default: null. */
  dataCapMbPerHour?: number | null;
  /** Builds each assignment's exchange. Default: createExchange (the job's mode); the overhead bench's baseline swaps it. */
  createExchange?: ExchangeFactory;
  /** The browser's lasting anonymous volunteer id, sent in the hello. Default: none. */
  volunteerId?: string | null;
  /** Builds a stage's frame transport when a job:assign gives the tab a stage. Default: the coordinator's relay. */
  frameTransport?: (socket: WorkerSocket, job: JobAssignment) => FrameTransport;
}

const REQUEST_TIMEOUT_MS = 30_000;
const REPORT_INTERVAL_MS = 2000;
const NO_SHARD_RETRY_MS = 1000;
/** How often the traffic figures are refreshed when no batch is (paused, held by the cap). */
const TRAFFIC_INTERVAL_MS = 1000;

class Rejected extends Error {
  constructor(readonly failure: Failure) {
    super(`${failure.code}: ${failure.message}`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class WorkerEngine {
  readonly status: EngineStatus = initialStatus();
  private socket: WorkerSocket | null = null;
  /** The current job's transport (`ps:tickets` renews a ps one). */
  private transport: WorkerTransport | null = null;
  private running = false;
  private loop: Promise<void> | null = null;
  private resume: (() => void) | null = null;
  private assignment: { job: JobAssignment | null; seq: number } = { job: null, seq: 0 };
  private assignmentWaiter: (() => void) | null = null;
  /** Resolved (and emptied) whenever the assignment changes or the socket drops. */
  private assignmentChanged: (() => void)[] = [];
  /** The transport of the stage the tab was last given: built when the job:assign comes, so no early frame is lost. */
  private stageLink: { replicaId: string; transport: FrameTransport } | null = null;
  /** pause() disconnected the socket to leave a replica; start() connects it again. */
  private leftToPause = false;
  private selectedFor: string | null = null;
  private readonly throughput = new Throughput();
  private everConnected = false;
  private readonly meter = new TrafficMeter();
  private readonly pacer: BatchPacer;
  /** Asks for a push slot when the coordinator says so; waits between sends after BUSY. */
  private readonly slots = new SlotPusher({ sleep });

  constructor(private readonly opts: EngineOptions) {
    this.pacer = new BatchPacer({
      duty: opts.dutyCycle ?? 1,
      dataCapMbPerHour: opts.dataCapMbPerHour ?? null,
      meter: this.meter,
      onHold: (held) => this.update({ heldByDataCap: held }),
    });
    this.status.dutyCycle = this.pacer.duty.value;
    this.status.dataCapMbPerHour = this.pacer.cap.mbPerHour;
  }

  /** The throttle: the engine rests after each batch so it runs at `duty` of its full speed. */
  setDutyCycle(duty: number): void {
    this.pacer.duty.set(duty);
    this.throughput.reset(); // examples/s should reflect the new setting, not the old one
    this.update({ dutyCycle: duty });
  }

  /** The data cap, MB per hour both ways, or null for none. */
  setDataCap(mbPerHour: number | null): void {
    this.pacer.setDataCap(mbPerHour);
    this.update({ dataCapMbPerHour: this.pacer.cap.mbPerHour });
  }

  /** Starts training, or resumes after pause(). */
  start(): void {
    this.running = true;
    if (this.leftToPause) {
      this.leftToPause = false;
      this.socket?.connect();
    }
    if (this.resume) {
      this.resume();
      this.resume = null;
    }
    if (!this.loop) this.loop = this.run();
    this.update({ state: this.status.state === 'paused' || this.status.state === 'stopped' ? 'connecting' : this.status.state });
  }

  /** Stops between mini-batches; nothing is computed or pushed until start(). */
  pause(): void {
    this.running = false;
    this.throughput.reset();
    // A stage cannot stop between mini-batches on its own: its neighbours would wait for it. It leaves its replica
    // (its socket goes, which dissolves it) and joins again on start().
    if (this.status.stage && this.socket?.connected) {
      this.leftToPause = true;
      this.socket.disconnect();
    }
    this.update({ state: 'paused', examplesPerSecond: 0 });
  }

  private update(patch: Partial<EngineStatus>): void {
    Object.assign(this.status, patch);
    this.opts.onStatus?.(this.status);
  }

  private async run(): Promise<void> {
    const socket = connectWorker(this.opts.origin);
    meterSocket(socket, this.meter);
    this.socket = socket;
    socket.on('job:assign', (job) => this.assign(socket, job));
    socket.on('replica:dissolve', (notice) => {
      // Its replica is gone: the tab waits for the next one (a job:assign with its new stage follows).
      const job = this.assignment.job;
      if (job?.replica?.replicaId === notice.replicaId) this.assign(socket, { ...job, replica: null });
    });
    socket.on('ps:tickets', (tickets) => {
      // Validated like every message: a malformed renewal is dropped, and the next one (or a re-assignment) follows.
      const checked = psTicketsSchema.safeParse(tickets);
      if (checked.success) this.transport?.renew(checked.data);
    });
    socket.on('disconnect', () => {
      this.assignmentWaiter?.();
      this.changedAssignment();
    });
    socket.on('connect', () => (this.everConnected = true));
    socket.on('connect_error', () => {
      if (this.running) this.update({ state: 'offline', message: 'The coordinator cannot be reached; retrying…' });
    });
    setInterval(() => this.report(), REPORT_INTERVAL_MS); // the engine lives as long as its Web Worker
    setInterval(() => this.update(this.traffic()), TRAFFIC_INTERVAL_MS);
    let backoff = 500;
    for (;;) {
      try {
        await this.session(socket);
        backoff = 500;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        // A lost connection is not the volunteer's problem to solve: socket.io retries. A stage paused by leaving stays paused.
        if (this.leftToPause) this.update({ state: 'paused', examplesPerSecond: 0 });
        else if (!socket.connected) this.update({ state: 'offline', message: 'Connection to the coordinator lost; reconnecting…', examplesPerSecond: 0 });
        else this.update({ state: 'error', message });
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  }

  /** Waits while paused; true when it did. */
  private async gate(): Promise<boolean> {
    if (this.running) return false;
    await new Promise<void>((r) => (this.resume = r));
    this.update({ state: 'training' });
    return true;
  }

  private traffic(): Pick<EngineStatus, 'bytesSent' | 'bytesReceived' | 'bytesSentPerSecond' | 'bytesReceivedPerSecond'> {
    const rate = this.meter.perSecond();
    return { bytesSent: this.meter.total.sent, bytesReceived: this.meter.total.received, bytesSentPerSecond: rate.sent, bytesReceivedPerSecond: rate.received };
  }

  private async connected(socket: WorkerSocket): Promise<void> {
    if (socket.connected) return;
    if (this.everConnected) this.update({ state: 'offline', examplesPerSecond: 0 });
    else this.update({ state: 'connecting', message: null });
    await new Promise<void>((r) => socket.once('connect', () => r()));
  }

  /** The socket with a request timeout, or ConnectionLost: nothing is queued for a later session. */
  private live(socket: WorkerSocket) {
    if (!socket.connected) throw new ConnectionLost();
    return socket.timeout(REQUEST_TIMEOUT_MS);
  }

  private expect<T extends object>(r: ({ ok: true } & T) | Failure): { ok: true } & T {
    if (!r.ok) throw new Rejected(r);
    return r;
  }

  private async session(socket: WorkerSocket): Promise<void> {
    await this.gate();
    await this.connected(socket);
    const hello = this.expect(
      await this.live(socket).emitWithAck('worker:hello', {
        userAgent: navigator.userAgent,
        forcedBackend: this.opts.forcedBackend,
        volunteerId: this.opts.volunteerId ?? null,
      }),
    );
    this.assign(socket, hello.job);
    this.update({ workerId: hello.workerId, message: null });
    for (;;) {
      const { job, seq } = this.assignment;
      if (!socket.connected) throw new ConnectionLost();
      if (!job) {
        this.update({ state: 'waiting-for-job', jobId: null, jobName: null, jobDescription: null, examplesPerSecond: 0 });
        await new Promise<void>((r) => (this.assignmentWaiter = r));
        this.assignmentWaiter = null;
        continue;
      }
      if (job.stages > 1 && !job.replica) {
        this.update({ state: 'waiting-for-replica', jobId: job.jobId, jobName: job.name, jobDescription: job.description || null, examplesPerSecond: 0, stage: null });
        await new Promise<void>((r) => (this.assignmentWaiter = r));
        this.assignmentWaiter = null;
        continue;
      }
      this.update({ jobId: job.jobId, jobName: job.name, jobDescription: job.description || null });
      if (job.replica) await this.trainStage(socket, job, seq);
      else await this.trainJob(socket, job, seq);
    }
  }

  /** A new assignment (hello, job:assign, or its replica dissolved): a stage's transport is built at once, the old one closed. */
  private assign(socket: WorkerSocket, job: JobAssignment | null): void {
    this.assignment = { job, seq: this.assignment.seq + 1 };
    const replicaId = job?.replica?.replicaId ?? null;
    if (this.stageLink && this.stageLink.replicaId !== replicaId) {
      this.stageLink.transport.close();
      this.stageLink = null;
    }
    if (job?.replica && !this.stageLink) {
      this.stageLink = { replicaId: job.replica.replicaId, transport: (this.opts.frameTransport ?? ((s, j) => new RelayTransport(s, j.replica!.replicaId)))(socket, job) };
    }
    this.assignmentWaiter?.();
    this.changedAssignment();
  }

  private changedAssignment(): void {
    for (const resolve of this.assignmentChanged.splice(0)) resolve();
  }

  private async selectFor(job: JobAssignment): Promise<void> {
    if (this.selectedFor === job.jobId) return;
    this.update({ state: 'selecting-backend' });
    const sel = await selectBackend(job, this.opts.forcedBackend, (m) => this.update({ message: m }), this.opts.backendCache ?? NO_BACKEND_CACHE);
    this.selectedFor = job.jobId;
    this.update({ backend: sel.backend, adapter: sel.adapter, webgpuUnavailable: sel.webgpuUnavailable, measured: sel.measured, message: null });
  }

  /** The tab's stage of a model replica (stage-loop.ts), until its assignment changes. */
  private async trainStage(socket: WorkerSocket, job: JobAssignment, seq: number): Promise<void> {
    const replica = job.replica!;
    const link = this.stageLink;
    if (!link || link.replicaId !== replica.replicaId) return; // already replaced: the loop reads the new assignment
    const stillAssigned = () => this.assignment.seq === seq && socket.connected;
    const unassigned = new Promise<void>((r) => (stillAssigned() ? this.assignmentChanged.push(r) : r()));
    await this.selectFor(job);
    if (!stillAssigned()) return;
    const stage = { replicaId: replica.replicaId, stage: replica.stage, of: replica.of, from: replica.from, to: replica.to, path: link.transport.path() };
    this.update({ state: 'training', stage });
    const paths = setInterval(() => {
      const path = link.transport.path();
      if (this.status.stage && this.status.stage.path !== path) this.update({ stage: { ...this.status.stage, path } });
    }, TRAFFIC_INTERVAL_MS);
    let tasks: StagePsTransport | null = null;
    try {
      // On ps tasks the stage pulls and holds its own slices there (stage-ps-transport.ts); ps:tickets renew them.
      const stageServer = stageServerFor(job, {
        pull: (req) => this.live(socket).emitWithAck('params:pull', req),
        push: (p) => this.slots.push(p, { ask: (req) => this.live(socket).emitWithAck('grads:slot', req), send: (q) => this.live(socket).emitWithAck('grads:push', q) }),
        lease: () => this.live(socket).emitWithAck('shard:lease', { jobId: job.jobId }),
        complete: (leaseId) => this.live(socket).emitWithAck('shard:complete', { jobId: job.jobId, leaseId }),
        fetchShard: (url) => fetchShard(new URL(url, this.opts.origin).toString(), { meter: this.meter }),
      }, { onTaskSocket: (s) => meterSocket(s, this.meter) });
      tasks = stageServer.tasks;
      if (tasks) this.transport = tasks;
      const stoppedBecause = await runStage({
        job: stageServer.runnerJob,
        transport: link.transport,
        server: stageServer.server,
        stillAssigned,
        unassigned,
        report: (r) => {
          if (socket.connected) socket.emit('replica:report', r);
        },
        pushed: (r, examples, batches) => {
          this.recordPush(r, examples);
          if (r.ok) this.throughput.add(examples);
          this.update({ batches: this.status.batches + batches, examplesPerSecond: this.throughput.perSecond(), numTensors: tf.memory().numTensors, ...this.traffic() });
        },
        noShardRetryMs: NO_SHARD_RETRY_MS,
      });
      if (stoppedBecause !== null && stillAssigned()) {
        // Its neighbours would wait for it forever: leaving (and joining again) dissolves the replica; the next session says hello.
        this.update({ message: `Left model replica ${replica.replicaId}: ${stoppedBecause}` });
        socket.disconnect().connect();
      }
    } finally {
      tasks?.dispose();
      if (tasks && this.transport === tasks) this.transport = null;
      clearInterval(paths);
      this.update({ stage: null });
    }
  }

  private async trainJob(socket: WorkerSocket, job: JobAssignment, seq: number): Promise<void> {
    await this.selectFor(job);
    const trainer = await ModelTrainer.create(job.topology, job.tensors, job.dataset.featureShape, job.dataset.numClasses);
    this.pacer.duty.forgetFullSpeed();
    const stillAssigned = () => this.assignment.seq === seq && socket.connected;
    const lost = new LostLeases();
    let waitedForLease = false;
    // The chief, or for a job on ps tasks one socket per task (ps-transport.ts).
    const transport = transportFor(
      job,
      {
        // BUSY from the chief: the same push again after a back-off (on ps tasks only the chief's
        // empty notice is resent, never the slices the tasks took). The back-off falls inside the
        // exchange's timing, so a throttled tab rests longer after one: an overloaded PS wants that.
        push: (p) => this.slots.push(p, { ask: (req) => this.live(socket).emitWithAck('grads:slot', req), send: (q) => this.live(socket).emitWithAck('grads:push', q) }),
        pull: (req) => this.live(socket).emitWithAck('params:pull', req),
      },
      { requestTimeoutMs: REQUEST_TIMEOUT_MS, onTaskSocket: (s) => meterSocket(s, this.meter) },
    );
    this.transport = transport;
    const exchange = (this.opts.createExchange ?? createExchange)(
      job,
      trainer,
      {
        // Timed: a round trip is part of what a batch costs at full speed (duty-cycle.ts).
        push: (p) => this.pacer.duty.timed(() => transport.push(p)),
        pull: (req) => this.pacer.duty.timed(() => transport.pull(req)),
      },
      {
        pushed: (r, sent) => {
          lost.pushed(r, sent);
          this.recordPush(r, sent.examples);
        },
        pulled: (version) => this.update({ version }),
      },
    );
    try {
      await exchange.start();
      this.update({ state: 'training' });
      await runShardLoop({
        job,
        exchange,
        lost,
        lease: () => this.live(socket).emitWithAck('shard:lease', { jobId: job.jobId }),
        complete: (leaseId) => this.live(socket).emitWithAck('shard:complete', { jobId: job.jobId, leaseId }),
        fetchShard: (url) => fetchShard(new URL(url, this.opts.origin).toString(), { meter: this.meter }),
        stillAssigned,
        prefetch: true,
        retryMs: NO_SHARD_RETRY_MS,
        beforeBatch: async () => {
          if (await this.gate()) this.pacer.idle(); // a pause is not the next batch's work
          await this.pacer.beforeBatch();
        },
        afterBatch: async (batch, started) => {
          const workMs = await this.pacer.afterBatch();
          this.throughput.add(batch.size);
          this.update({
            throttle: { workMs, roundTripMs: this.pacer.duty.roundTripMs },
            batches: this.status.batches + 1,
            secondsTraining: this.status.secondsTraining + (performance.now() - started) / 1000,
            examplesPerSecond: this.throughput.perSecond(),
            numTensors: tf.memory().numTensors,
            ...this.traffic(),
          });
        },
        waiting: (waiting) => {
          // Told after every lease; only the end of a real wait for one is idle time.
          if (waiting) waitedForLease = true;
          else if (waitedForLease) {
            waitedForLease = false;
            this.pacer.idle();
          }
        },
        leaseEnded: (_lease, answer) => {
          if (answer !== 'lost' && answer.ok) this.update({ shardsCompleted: this.status.shardsCompleted + 1 });
        },
      });
    } finally {
      exchange.dispose();
      trainer.dispose();
      transport.dispose();
      if (this.transport === transport) this.transport = null;
    }
  }

  private recordPush(r: Result<PushAccepted>, examples: number): void {
    if (r.ok) {
      this.update({ pushesAccepted: this.status.pushesAccepted + 1, examplesContributed: this.status.examplesContributed + examples });
    } else {
      const rejected = { ...this.status.pushesRejected, [r.code]: (this.status.pushesRejected[r.code] ?? 0) + 1 };
      this.update({ pushesRejected: rejected, lastRejection: `${r.code}: ${r.message}` });
    }
  }

  private report(): void {
    const socket = this.socket;
    if (!socket?.connected || !this.status.backend || !this.status.workerId) return;
    socket.emit('worker:report', {
      backend: this.status.backend,
      adapter: this.status.adapter,
      // Only a training engine has a rate; waiting for a job or a shard is 0, not the last rate.
      examplesPerSecond: this.running && this.status.state === 'training' ? this.throughput.perSecond() : 0,
    });
  }
}
