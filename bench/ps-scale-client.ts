/**
 * One process of simulated workers for `bench -- ps-scale`: each says hello to the
 * chief, takes the ps route of its assignment (tickets and placement, checked as a
 * worker checks them), opens one socket per task and then pushes its fp32 slices to
 * every task in parallel, again as soon as every task answered (a closed loop: as fast
 * as the tasks ack). Each task's pushes go through a SlotPusher as a worker's do: when a
 * loaded task asks for push slots, a payload waits for its grant (a client that did not
 * ask would be refused BUSY with every payload, and the row would measure refusals).
 * Reports each push's latency (until the last task answered) and
 * this process's CPU over the push phase to the parent over IPC.
 *
 * Kept cheap, since it shares the machine with the tasks it measures: every worker
 * sends the same pre-encoded payload per task (encoded once per process), over
 * WebSockets with a zero masking key (zero-mask-socket.ts), and nothing else is
 * computed per push. Workers do not tell the chief of their pushes: what scales with
 * tasks is measured, not the chief's bookkeeping (docs/benchmarks.md).
 */
import { io, type Socket } from 'socket.io-client';
import { BusyBackoff } from '../shared/busy-backoff.js';
import { asBytes, encodeTensors, type TensorPayload } from '../shared/codec.js';
import type { Failure } from '../shared/result.js';
import { PS_WORKER_NAMESPACE, type PsServerEvents, type PsWorkerEvents } from '../shared/ps-protocol.js';
import { checkPsRoute, type CheckedRoute } from '../shared/ps-route.js';
import { WORKER_NAMESPACE, type ClientToServerEvents, type JobAssignment, type ServerToClientEvents } from '../shared/protocol.js';
import { SlotPusher } from '../shared/slot-pusher.js';
import { sizeOf } from '../shared/tensors.js';
import { ZeroMaskWebSocket } from './zero-mask-socket.js';

export interface PsScaleClientReport {
  /** Per push that every task accepted: ms from send until the last task's answer. */
  latenciesMs: number[];
  accepted: number;
  /** BUSY answers (to a slot's ask or to a payload), each waited out and asked again as a worker does. */
  busy: number;
  /** Pushes some task refused with another code. */
  refused: number;
  /** Pushes some task did not answer within the timeout. */
  lost: number;
  /** Payload bytes of the accepted pushes, over every task. */
  bytesAccepted: number;
  /** This process's CPU (user + system) over the push phase, in seconds. */
  cpuSeconds: number;
  connectFailures: number;
}

const ACK_TIMEOUT_MS = 10_000;

const [url, workersArg, secondsArg] = process.argv.slice(2);
const workers = Number(workersArg);
const seconds = Number(secondsArg);

type TaskSocket = Socket<PsServerEvents, PsWorkerEvents>;

interface ScaleWorker {
  chief: Socket<ServerToClientEvents, ClientToServerEvents>;
  job: JobAssignment;
  route: CheckedRoute;
  tasks: TaskSocket[];
  /** Each task's version from its last answer: the next push's base there. */
  versions: number[];
  /** Per task: its push slots and BUSY back-off, as the worker's ps transport keeps them (client/engine/ps-transport.ts). */
  pushers: SlotPusher[];
  backoff: BusyBackoff;
}

const connected = (s: Socket) =>
  new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('connect_error', reject);
  });

async function connect(): Promise<ScaleWorker | null> {
  const chief: ScaleWorker['chief'] = io(url + WORKER_NAMESPACE, { transports: ['websocket'], reconnection: false, forceNew: true });
  try {
    await connected(chief);
    const hello = await chief.timeout(30_000).emitWithAck('worker:hello', { userAgent: 'bench-ps-scale' });
    if (!hello.ok || !hello.job?.ps) throw new Error('no job on ps tasks');
    const route = checkPsRoute(hello.job.ps, hello.job.tensors);
    if ('error' in route) throw new Error(route.error);
    const tasks = route.tasks.map((t) => io(t.url + PS_WORKER_NAMESPACE, { transports: [ZeroMaskWebSocket], reconnection: false, forceNew: true }) as TaskSocket);
    await Promise.all(tasks.map(connected));
    return { chief, job: hello.job, route, tasks, versions: tasks.map(() => 0), pushers: tasks.map(() => new SlotPusher({ onBusy: () => report.busy++ })), backoff: new BusyBackoff() };
  } catch (err) {
    process.stderr.write(`[ps-scale client] ${err instanceof Error ? err.message : String(err)}\n`);
    chief.close();
    return null;
  }
}

/** Task t's slices of a gradient of small constant values, fp32: what every worker of this process sends there. */
function slicePayloads(w: ScaleWorker): TensorPayload[] {
  const { placement } = w.route;
  return placement.byTask.map((_, t) => encodeTensors(placement.specsOf(t).map((s) => ({ ...s, values: new Float32Array(sizeOf(s.shape)).fill(1e-4) }))));
}

const report: PsScaleClientReport = { latenciesMs: [], accepted: 0, busy: 0, refused: 0, lost: 0, bytesAccepted: 0, cpuSeconds: 0, connectFailures: 0 };

async function main(): Promise<void> {
  const pool: ScaleWorker[] = [];
  for (let i = 0; i < workers; i++) {
    const w = await connect();
    if (w) pool.push(w);
    else report.connectFailures++;
  }
  process.send!({ type: 'connected', count: pool.length });
  await new Promise<void>((resolve) => process.once('message', () => resolve())); // the parent's "go"
  const cpuStart = process.cpuUsage();
  if (pool.length) {
    const payloads = slicePayloads(pool[0]!);
    const bytes = payloads.map((p, t) => (pool[0]!.route.placement.byTask[t]!.length ? asBytes(p.data).byteLength : 0));
    const pushBytes = bytes.reduce((a, b) => a + b, 0);
    const end = performance.now() + seconds * 1000;
    const loop = async (w: ScaleWorker) => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const answers = await Promise.all(
          w.tasks.map((s, t) => {
            if (!bytes[t]) return null;
            const ticket = w.route.tasks[t]!.ticket;
            const push = { ticket, jobId: w.job.jobId, baseVersion: w.versions[t]!, ...payloads[t]! };
            // Under load a task asks for a slot before each payload, as it asks every worker (server/params/push-slots.ts).
            const channel = {
              ask: (req: { jobId: string; bytes: number }) => s.timeout(ACK_TIMEOUT_MS).emitWithAck('grads:slot', { ...req, ticket }),
              send: (q: typeof push) => s.timeout(ACK_TIMEOUT_MS).emitWithAck('grads:push', q),
            };
            return w.pushers[t]!.push(push, channel).catch(() => 'lost' as const);
          }),
        );
        const now = performance.now();
        answers.forEach((a, t) => {
          if (a && a !== 'lost' && a.ok) w.versions[t] = a.version;
        });
        if (answers.some((a) => a === 'lost')) {
          report.lost++;
          continue;
        }
        const failures = answers.filter((a): a is Failure => a !== null && a !== 'lost' && !a.ok);
        if (!failures.length) {
          report.accepted++;
          report.latenciesMs.push(now - t0);
          report.bytesAccepted += pushBytes;
          w.backoff.reset();
          continue;
        }
        // BUSY was waited out inside the pusher: what is left is a refusal, after which the worker waits as after BUSY.
        if (!report.refused++) process.stderr.write(`[ps-scale client] a task refused a push: ${failures[0]!.code}: ${failures[0]!.message}\n`);
        await new Promise((r) => setTimeout(r, w.backoff.next()));
      }
    };
    await Promise.all(pool.map(loop));
  }
  const cpu = process.cpuUsage(cpuStart);
  report.cpuSeconds = (cpu.user + cpu.system) / 1e6;
  for (const w of pool) {
    for (const s of w.tasks) s.close();
    w.chief.close();
  }
  // Exit only once the report is written to the channel: a long run's latencies are large, and a
  // process that ends with the send still buffered exits before its parent reads the report.
  await new Promise<void>((resolve) => process.send!({ type: 'report', report }, undefined, {}, () => resolve()));
  process.disconnect();
}

main().catch((err: unknown) => {
  process.stderr.write(`ps-scale client failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
