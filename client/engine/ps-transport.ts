/**
 * A worker's transport for a job whose parameters live on ps tasks: one socket per task
 * (`/ps-worker`), pulls and pushes of each task's slices in parallel, each carrying the
 * chief's ticket for that task. No DOM and no Node APIs: the browser engine and the Node
 * worker (bench/node-worker.ts) share it.
 *
 * To the exchange it looks like the chief: a pull answers the whole model (the tasks'
 * slices joined by the placement) under a version of its own counting. Each task is
 * pulled with the version of its slices this worker holds (`have`), so a task that keeps
 * versions may answer only the entries changed since (shared/param-delta.ts), applied
 * here per task to the copy of that task's slices. It also remembers
 * which version of each task that pull held, so a gradient computed on it is pushed to
 * each task stamped with that task's version (staleness is per task). Once every task
 * answered, the chief hears of the push with an empty payload (its lease accounting
 * credits or requeues the batches), and `psRefused` names a task's refusal.
 *
 * The exchange hands it gradients in fp32 (createExchange); it encodes each task's
 * slices in the job's codec, keeping error feedback per slice (slice-encoder.ts).
 */
import { io } from 'socket.io-client';
import { decodeTensors, encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { applyParamDelta } from '../../shared/param-delta.js';
import { PS_WORKER_NAMESPACE, type PsPushAccepted, type PsWorkerEvents } from '../../shared/ps-protocol.js';
import { checkPsRoute, type CheckedRoute, type PsTickets } from '../../shared/ps-route.js';
import type { GradientPush, JobAssignment, ParamsSnapshot, PullRequest, PushAccepted } from '../../shared/protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import { SlotPusher, type SlotPusherOptions } from '../../shared/slot-pusher.js';
import { sameShape, sizeOf, type TensorSpec } from '../../shared/tensors.js';
import type { ExchangeTransport } from './exchange.js';
import { SliceEncoder } from './slice-encoder.js';
import { askTask, type PsWorkerSocket } from './task-request.js';

export type { PsWorkerSocket };

/** Pulled versions remembered for stamping pushes: a gradient older than this many pulls is refused STALE without a send. */
const PULLS_REMEMBERED = 64;

export interface PsTransportOptions {
  /** What the transport reads of the assignment. */
  job: Pick<JobAssignment, 'jobId' | 'tensors' | 'codec' | 'topkRatio'>;
  /** The assignment's ps route, checked (shared/ps-route.ts checkPsRoute). */
  route: CheckedRoute;
  /** Tells the chief of a push (the worker's `grads:push` on /worker). */
  chief: (push: GradientPush) => Promise<Result<PushAccepted>>;
  /** Opens a task's socket. Default: socket.io-client over WebSocket to `<url>/ps-worker`, reconnecting. */
  connect?: (url: string) => PsWorkerSocket;
  /** How long a task gets to answer. Default 30 s. */
  requestTimeoutMs?: number;
  /** Each task's push slots and BUSY back-off (one SlotPusher per task). Default: SlotPusher's defaults. */
  slots?: SlotPusherOptions;
}

export class PsTransport implements ExchangeTransport {
  private readonly sockets: (PsWorkerSocket | null)[];
  private readonly tickets: string[];
  private readonly sliceSpecs: TensorSpec[][];
  private readonly sizes: number[];
  private readonly timeoutMs: number;
  /** The job's codec per slice, and each slice's error feedback. */
  private readonly encoder: SliceEncoder;
  private pulls = 0;
  /** Per version this transport answered, each task's version at that pull. */
  private readonly taskVersions = new Map<number, number[]>();
  /** Per task, its slices as last pulled and their version there: the base of that task's next delta. */
  private readonly held: ({ version: number; values: Float32Array[] } | null)[];
  private deltas = 0;
  /**
   * Per task: asks that task for a push slot while its answers say so, and sends its
   * slices again after its BUSY. A task's BUSY is waited out at that task, not turned
   * into a refusal of the whole push while the other tasks keep the slices they applied.
   */
  private readonly pushers: SlotPusher[];

  constructor(private readonly o: PsTransportOptions) {
    const { placement, tasks } = o.route;
    const connect = o.connect ?? ((url: string) => io(url + PS_WORKER_NAMESPACE, { transports: ['websocket'], forceNew: true }) as PsWorkerSocket);
    this.sliceSpecs = placement.byTask.map((_, t) => placement.specsOf(t));
    // A task the placement left empty is never spoken to.
    this.sockets = tasks.map((t) => (this.sliceSpecs[t.task]!.length ? connect(t.url) : null));
    // A push the worker was told failed must not reach the task later: nothing waits in a send buffer across a reconnection.
    for (const s of this.sockets) s?.on('disconnect', () => (s.sendBuffer = []));
    this.tickets = tasks.map((t) => t.ticket);
    this.sizes = o.job.tensors.map((t) => sizeOf(t.shape));
    this.timeoutMs = o.requestTimeoutMs ?? 30_000;
    this.held = tasks.map(() => null);
    this.pushers = tasks.map(() => new SlotPusher(o.slots));
    this.encoder = new SliceEncoder(placement, o.job);
  }

  /** Task answers to pulls that came as deltas (the rest came in full). */
  get deltaPulls(): number {
    return this.deltas;
  }

  /** Every task socket (a traffic meter counts them). */
  get taskSockets(): PsWorkerSocket[] {
    return this.sockets.filter((s): s is PsWorkerSocket => s !== null);
  }

  /** Takes the chief's fresh tickets for this job (`ps:tickets`). */
  renew(t: PsTickets): void {
    if (t.jobId !== this.o.job.jobId) return;
    for (const { task, ticket } of t.tickets) if (task < this.tickets.length) this.tickets[task] = ticket;
  }

  async pull(_req: PullRequest): Promise<Result<ParamsSnapshot>> {
    const jobId = this.o.job.jobId;
    // Each task is told which of its versions this worker holds, and may answer only what changed since.
    const answers = await Promise.all(this.sockets.map((s, t) => (s ? this.ask(s, 'params:pull', { ticket: this.tickets[t]!, jobId, have: this.held[t]?.version }, t) : null)));
    const versions: number[] = [];
    const parts: Float32Array[][] = [];
    for (let t = 0; t < answers.length; t++) {
      const a = answers[t];
      if (!a) {
        versions.push(0);
        parts.push([]);
        continue;
      }
      if (!a.ok) return a;
      const values = this.readSlices(t, a);
      if ('ok' in values) return values;
      versions.push(a.version);
      parts.push(values);
    }
    const version = ++this.pulls;
    this.taskVersions.set(version, versions);
    this.taskVersions.delete(version - PULLS_REMEMBERED);
    const values = this.o.route.placement.joinTensors(parts, this.sizes);
    return ok({ jobId, version, ...encodeTensors(this.o.job.tensors.map((t, i) => ({ ...t, values: values[i]! }))) });
  }

  /** Pushes each task its slices of the gradient, in parallel, then tells the chief; answers what the chief answers. */
  async push(p: GradientPush): Promise<Result<PushAccepted>> {
    const bases = this.taskVersions.get(p.baseVersion);
    let refused: Failure | null = bases ? null : fail(ErrorCode.STALE, `Computed on pull ${p.baseVersion}, which this worker no longer remembers`);
    let receipts: { task: number; version: number; receipt: string }[] = [];
    let answers: (Result<PsPushAccepted> | null)[] = [];
    if (bases) {
      const grads = this.o.route.placement.splitTensors(decodeTensors(p, this.o.job.tensors));
      answers = await Promise.all(
        this.sockets.map((s, t) => {
          if (!s) return null;
          const slices = this.encoder.encode(t, grads[t]!);
          // Each send carries the task's ticket as it is then: a back-off may outlast the one held now.
          return this.pushers[t]!.push(
            { ticket: this.tickets[t]!, jobId: p.jobId, baseVersion: bases[t]!, ...slices },
            { ask: (req) => this.ask(s, 'grads:slot', { ...req, ticket: this.tickets[t]! }, t), send: (q) => this.ask(s, 'grads:push', { ...q, ticket: this.tickets[t]! }, t) },
          );
        }),
      );
      refused = answers.find((a): a is Failure => a !== null && !a.ok) ?? null;
      // Each task's receipt: the chief credits the push only with all of them (server/cluster/push-receipts.ts).
      if (!refused) receipts = answers.flatMap((a, task) => (a?.ok ? [{ task, version: a.version, receipt: a.receipt }] : []));
    }
    const notice = refused ? { psRefused: refused.code } : { psReceipts: receipts };
    const answer = await this.o.chief({ ...p, manifest: { codec: p.manifest.codec, tensors: [] }, data: new Uint8Array(0), ...notice });
    // A task that scaled its slices down to its norm bound says so (an early transient): the smallest factor is the worker's.
    const clipped = refused ? undefined : clipOf(answers);
    return answer.ok && clipped !== undefined ? { ...answer, clipped } : answer;
  }

  dispose(): void {
    for (const s of this.sockets) s?.disconnect();
  }

  private ask<E extends keyof PsWorkerEvents>(socket: PsWorkerSocket, event: E, req: Parameters<PsWorkerEvents[E]>[0], task: number) {
    return askTask(socket, event, req, task, this.timeoutMs);
  }

  /**
   * Task `t`'s slices from its pull answer, checked against the placement (its slices in
   * order): fp32 in full, or a delta since the version this worker holds of that task,
   * written over its copy. Either way the copy becomes the answer's version; on anything
   * wrong it is dropped (a delta may have written part of it), so the next pull is full.
   */
  private readSlices(t: number, snap: ParamsSnapshot): Float32Array[] | Failure {
    const specs = this.sliceSpecs[t]!;
    const m = snap.manifest;
    const bad = (why: string) => {
      this.held[t] = null;
      return fail(ErrorCode.TENSOR_MISMATCH, `ps task ${t}'s pull: ${why}`);
    };
    if (m.codec !== 'fp32' && m.codec !== 'delta') return bad(`in ${m.codec}, not fp32 or a delta`);
    if (m.tensors.length !== specs.length) return bad(`${m.tensors.length} slices, the placement gives it ${specs.length}`);
    for (let i = 0; i < specs.length; i++) {
      const e = m.tensors[i]!;
      if (e.name !== specs[i]!.name || !sameShape(e.shape, specs[i]!.shape)) return bad(`slice ${i} is "${e.name}" [${e.shape}], expected "${specs[i]!.name}" [${specs[i]!.shape}]`);
    }
    let values: Float32Array[];
    if (m.codec === 'delta') {
      const held = this.held[t];
      if (held?.version !== m.since) return bad(`a delta since its version ${m.since}, but this worker holds ${held ? held.version : 'none'}`);
      // The held copy is this transport's own (joinTensors copies out of it): the delta is written in place.
      const wrong = applyParamDelta(m, snap.data, held.values);
      if (wrong) return bad(wrong);
      values = held.values;
      this.deltas += 1;
    } else {
      try {
        values = decodeTensors({ manifest: m, data: snap.data }, specs);
      } catch (err) {
        return bad(err instanceof Error ? err.message : String(err));
      }
    }
    this.held[t] = { version: snap.version, values };
    return values;
  }
}

/** What a worker trains through: the chief, or the ps tasks of its assignment. */
export type WorkerTransport = ExchangeTransport & {
  /** Takes `ps:tickets` (nothing for a job at the chief). */
  renew(t: PsTickets): void;
  dispose(): void;
};

/**
 * The transport for `job`: `chief` itself, or for a job on ps tasks a PsTransport over
 * the assignment's route, checked first (throws with the reason when it does not check).
 * `onTaskSocket` sees each task socket (a traffic meter counts them).
 */
export function transportFor(job: JobAssignment, chief: ExchangeTransport, options: { requestTimeoutMs?: number; onTaskSocket?: (s: PsWorkerSocket) => void } = {}): WorkerTransport {
  if (!job.ps) return { push: (p) => chief.push(p), pull: (r) => chief.pull(r), renew: () => {}, dispose: () => {} };
  const route = checkPsRoute(job.ps, job.tensors);
  if ('error' in route) throw new Error(route.error);
  const transport = new PsTransport({ job, route, chief: (p) => chief.push(p), requestTimeoutMs: options.requestTimeoutMs });
  for (const s of transport.taskSockets) options.onTaskSocket?.(s);
  return transport;
}

/** The smallest clip factor the tasks answered, or undefined when none clipped. */
function clipOf(answers: readonly (Result<PushAccepted> | null)[]): number | undefined {
  let clipped: number | undefined;
  for (const a of answers) if (a?.ok && a.clipped !== undefined) clipped = Math.min(clipped ?? 1, a.clipped);
  return clipped;
}
