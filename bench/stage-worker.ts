/**
 * A Node worker that trains as a stage of a model replica (docs/model-parallelism.md)
 * over socket.io and the coordinator's relay: it says hello, waits for a job:assign
 * with its stage, builds its StageTrainer on whatever tfjs backend is set (cpu in
 * tests, wasm in bench/node-stage-worker.ts), pulls its own tensors and runs its
 * StageRunner; a replica:dissolve stops the runner (the step in flight abandoned) and
 * it waits for the next stage it is given. No side effects on import.
 */
import { io, type Socket } from 'socket.io-client';
import { StageRunner, StageStopped, StepAborted } from '../client/engine/stage-runner.js';
import { StageTrainer } from '../client/engine/stage-trainer.js';
import { stageServerFor, type StagePsTransport } from '../client/engine/stage-ps-transport.js';
import { fetchShard } from '../client/engine/shard-data.js';
import { asBytes } from '../shared/codec.js';
import { WORKER_NAMESPACE, type ClientToServerEvents, type JobAssignment, type PushAccepted, type ServerToClientEvents } from '../shared/protocol.js';
import type { Result } from '../shared/result.js';
import { SlotPusher } from '../shared/slot-pusher.js';

type WorkerSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

const REQUEST_TIMEOUT_MS = 30_000;
const NO_SHARD_RETRY_MS = 250;
const REPORT_INTERVAL_MS = 2000;
/** Asks for push slots when the coordinator says so (shared/slot-pusher.ts). */
const slots = new SlotPusher();

export interface StageWorkerEvents {
  /** One of its pushes was answered (its stage's part of a replica step). */
  pushed?: (r: Result<PushAccepted>, stage: number) => void;
  /** It was given a stage. */
  staged?: (job: JobAssignment) => void;
  /** Its replica ended (dissolved, a bad frame, a refusal): the reason. */
  unstaged?: (reason: string) => void;
  /** Examples of one of its accepted pushes. */
  examples?: (n: number) => void;
  /** A mini-batch started at its stage, `earlier` ones still in flight there (StageEvents.started). */
  started?: (step: number, earlier: number, stage: number) => void;
  /** One of its replica:report was answered. */
  reported?: (r: Result) => void;
  /** A job:assign came (null: no job for it, e.g. the job is done). */
  assigned?: (job: JobAssignment | null) => void;
}

export interface StageWorker {
  workerId: string;
  socket: WorkerSocket;
  /** Frame bytes it sent and received, and its busy time (ms), since it started. */
  readonly traffic: { bytesSent: number; bytesReceived: number; busyMs: number };
  /** Leaves, as a closed tab does. */
  close(): void;
}

interface Current {
  replicaId: string;
  runner: StageRunner | null;
  /** Frames that came before its runner was built. */
  early: { from: string; frame: Uint8Array }[];
  /** Resolves when the stage ends. */
  ended: Promise<void>;
  /** Its ps tasks' sockets, when its job is on ps tasks. */
  tasks: StagePsTransport | null;
  end: () => void;
}

export async function startStageWorker(url: string, events: StageWorkerEvents = {}): Promise<StageWorker> {
  const socket: WorkerSocket = io(url + WORKER_NAMESPACE, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const live = () => socket.timeout(REQUEST_TIMEOUT_MS);
  const traffic = { bytesSent: 0, bytesReceived: 0, busyMs: 0 };
  let current: Current | null = null;
  let examples = 0;
  let since = performance.now();

  /** Its stage's figures so far (replica:report); a refusal other than its replica being gone is a bug worth seeing. */
  const reportStage = () => {
    const runner = current?.runner;
    if (!runner || !socket.connected) return;
    live()
      .emitWithAck('replica:report', runner.report('relay'))
      .then((r) => {
        events.reported?.(r);
        if (!r.ok && r.code !== 'UNKNOWN_REPLICA') process.stderr.write(`[stage-worker] replica:report refused: ${r.code}: ${r.message}\n`);
      })
      .catch(() => {});
  };

  const unstage = (reason: string) => {
    const c = current;
    if (!c) return;
    current = null;
    c.end();
    c.runner?.stop(new StageStopped(reason));
    events.unstaged?.(reason);
  };

  const stage = async (job: JobAssignment) => {
    const replica = job.replica!;
    let end = () => {};
    const ended = new Promise<void>((resolve) => (end = resolve));
    const mine: Current = { replicaId: replica.replicaId, runner: null, early: [], ended, end, tasks: null };
    unstage('given another stage');
    current = mine;
    const trainer = await StageTrainer.create(job.topology, job.tensors, { from: replica.from, to: replica.to, inputShape: replica.inputShape }, job.dataset.numClasses);
    // On ps tasks the stage pulls and holds its own slices there (client/engine/stage-ps-transport.ts).
    const { server, runnerJob, tasks } = stageServerFor(job, {
      pull: (req) => live().emitWithAck('params:pull', req),
      push: (p) => slots.push(p, { ask: (req) => live().emitWithAck('grads:slot', req), send: (q) => live().emitWithAck('grads:push', q) }),
      lease: () => live().emitWithAck('shard:lease', { jobId: job.jobId }),
      complete: (leaseId) => live().emitWithAck('shard:complete', { jobId: job.jobId, leaseId }),
      fetchShard: (shardUrl) => fetchShard(new URL(shardUrl, url).toString()),
    });
    mine.tasks = tasks;
    const runner = new StageRunner(
      runnerJob,
      trainer,
      server,
      (to, frame) => {
        traffic.bytesSent += frame.byteLength;
        socket.emit('relay:frame', { replicaId: replica.replicaId, to, frame });
      },
      {
        pushed: (r, n) => {
          if (r.ok) {
            examples += n;
            events.examples?.(n);
          }
          events.pushed?.(r, replica.stage);
        },
        busy: (ms) => (traffic.busyMs += ms),
        started: (step, earlier) => events.started?.(step, earlier, replica.stage),
      },
    );
    try {
      if (current !== mine) return;
      mine.runner = runner;
      await runner.pull();
      for (const f of mine.early.splice(0)) runner.receive(f.from, f.frame);
      events.staged?.(job);
      if (replica.stage === 0) await runner.run(() => current === mine && socket.connected, NO_SHARD_RETRY_MS, (ms) => new Promise((r) => setTimeout(r, ms)));
      else await mine.ended;
    } catch (err) {
      if (!(err instanceof StageStopped) && socket.connected) throw err;
      // An aborted step (a bad frame, this stage's or its neighbour's): the coordinator dissolves the replica, and the stage waits for the next.
      if (err instanceof StepAborted) return await mine.ended;
      // Its replica did not end it (no dissolve, no new job): a neighbour or the coordinator refused this stage. A stage that
      // cannot go on must not hold its replica's other stages waiting: it leaves, which dissolves the replica.
      if (current === mine && socket.connected) {
        process.stderr.write(`[stage-worker] ${err instanceof Error ? err.message : String(err)}: leaving\n`);
        // Its last figures, while its replica is still live (leaving dissolves it).
        reportStage();
        socket.disconnect();
      }
    } finally {
      if (current === mine) unstage(runner.stopReason?.message ?? 'its stage ended');
      runner.stop(new StageStopped('done'));
      trainer.dispose();
      tasks?.dispose();
    }
  };

  socket.on('job:assign', (job) => {
    events.assigned?.(job);
    if (job?.replica) void stage(job).catch((err: unknown) => unstage(err instanceof Error ? err.message : String(err)));
    else unstage(job ? 'waiting for a replica' : 'no job');
  });
  socket.on('ps:tickets', (t) => current?.tasks?.renew(t));
  socket.on('replica:dissolve', (notice) => {
    if (current?.replicaId === notice.replicaId) unstage(`replica ${notice.replicaId} dissolved: ${notice.reason}`);
  });
  socket.on('relay:frame', (msg) => {
    if (current?.replicaId !== msg.replicaId) return;
    const frame = asBytes(msg.frame);
    traffic.bytesReceived += frame.byteLength;
    if (current.runner) current.runner.receive(msg.from, frame);
    else current.early.push({ from: msg.from, frame });
  });
  const hello = await live().emitWithAck('worker:hello', { userAgent: 'downpour-stage-worker' });
  if (!hello.ok) throw new Error(`hello refused: ${hello.code}: ${hello.message}`);
  // Its examples per second on its stage: the coordinator plans its next replica by it.
  const reporter = setInterval(() => {
    const now = performance.now();
    const rate = examples / ((now - since) / 1000);
    examples = 0;
    since = now;
    if (socket.connected && current) socket.emit('worker:report', { backend: 'cpu', adapter: null, examplesPerSecond: rate });
    reportStage();
  }, REPORT_INTERVAL_MS);
  reporter.unref();
  return {
    workerId: hello.workerId,
    socket,
    traffic,
    close() {
      clearInterval(reporter);
      reportStage();
      unstage('closed');
      socket.disconnect();
    },
  };
}
