/**
 * A stage's parameters on ps tasks (model parallelism on ps tasks,
 * docs/model-parallelism.md): the stage's StageRunner pulls and pushes through this as
 * it would through the chief. It speaks only to the tasks holding slices of the stage's
 * own tensors, one socket each, and only of those slices:
 *
 * - a pull asks each such task for just those slices (`params:pull {slices}`), as a
 *   delta since the version of them it holds when the task can, and joins them into
 *   the stage's tensors under a version of its own counting, remembering each task's;
 * - a push splits the stage's gradient by the placement, encodes each task's slices in
 *   the job's codec with error feedback per task (the runner hands it fp32, as the
 *   exchange hands PsTransport), and has each task hold them for the replica step
 *   (`grads:hold`, stamped with that task's version: staleness is per task); then it
 *   tells the chief with an empty payload, the tasks' receipts and, if one refused,
 *   its code. The chief applies the step on the tasks once every stage's parts are
 *   held (server/params/task-stage-steps.ts) and answers.
 */
import { io } from 'socket.io-client';
import { codecOf, decodeTensors, encodeTensors } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { applyParamDelta } from '../../shared/param-delta.js';
import type { PlacedSlice } from '../../shared/placement.js';
import { PS_WORKER_NAMESPACE } from '../../shared/ps-protocol.js';
import { checkPsRoute, type CheckedRoute, type PsTickets } from '../../shared/ps-route.js';
import type { GradientPush, JobAssignment, ParamsSnapshot, PullRequest, PushAccepted } from '../../shared/protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import { sameShape, sizeOf, type TensorSpec } from '../../shared/tensors.js';
import { GradientAccumulator } from './gradient-accumulator.js';
import type { StageServer } from './stage-runner.js';
import { askTask, type PsWorkerSocket } from './task-request.js';

/** Pulled versions remembered for stamping pushes (as PsTransport). */
const PULLS_REMEMBERED = 64;

/** The stage's slices on one task, in the task's order. */
interface TaskPart {
  task: number;
  socket: PsWorkerSocket;
  slices: { slice: PlacedSlice; tensor: number }[];
  names: string[];
  specs: TensorSpec[];
  /** Its error feedback: what the job's codec did not carry of earlier parts to this task. */
  encoder: GradientAccumulator;
  /** Its slices as last pulled and their version there: the base of its next delta. */
  held: { version: number; values: Float32Array[] } | null;
}

export interface StagePsTransportOptions {
  job: Pick<JobAssignment, 'jobId' | 'tensors' | 'codec' | 'topkRatio'>;
  route: CheckedRoute;
  /** The stage's tensor names (its ReplicaAssignment's), in the job's order. */
  tensors: readonly string[];
  /** Tells the chief of the stage's part (its `grads:push` on /worker). */
  chief: (push: GradientPush) => Promise<Result<PushAccepted>>;
  connect?: (url: string) => PsWorkerSocket;
  requestTimeoutMs?: number;
}

export class StagePsTransport {
  private readonly parts: TaskPart[];
  private readonly specs: TensorSpec[];
  private readonly tickets: string[];
  private readonly timeoutMs: number;
  private pulls = 0;
  private readonly taskVersions = new Map<number, number[]>();

  constructor(private readonly o: StagePsTransportOptions) {
    const { placement, tasks } = o.route;
    const connect = o.connect ?? ((url: string) => io(url + PS_WORKER_NAMESPACE, { transports: ['websocket'], forceNew: true }) as PsWorkerSocket);
    const index = new Map(o.job.tensors.map((t, i) => [t.name, i]));
    const mine = o.tensors.map((n) => {
      const i = index.get(n);
      if (i === undefined) throw new Error(`Stage tensor "${n}" is not one of the job's`);
      return i;
    });
    this.specs = mine.map((i) => o.job.tensors[i]!);
    this.tickets = tasks.map((t) => t.ticket);
    this.timeoutMs = o.requestTimeoutMs ?? 30_000;
    const codec = codecOf(o.job);
    this.parts = placement.byTask.flatMap((slices, task) => {
      const own = slices.flatMap((slice) => {
        const k = mine.indexOf(slice.tensor);
        return k < 0 ? [] : [{ slice, tensor: k }];
      });
      if (!own.length) return [];
      const specs = own.map(({ slice }) => ({ name: slice.name, shape: [...slice.shape] }));
      const socket = connect(tasks[task]!.url);
      // A part the stage was told failed must not reach the task later (as PsTransport).
      socket.on('disconnect', () => (socket.sendBuffer = []));
      return [{ task, socket, slices: own, names: specs.map((s) => s.name), specs, encoder: new GradientAccumulator(specs, codec), held: null }];
    });
  }

  /** The tasks this stage speaks to (those holding slices of its tensors). */
  get tasks(): number[] {
    return this.parts.map((p) => p.task);
  }

  /** The sockets to those tasks, one each. */
  get taskSockets(): PsWorkerSocket[] {
    return this.parts.map((p) => p.socket);
  }

  renew(t: PsTickets): void {
    if (t.jobId !== this.o.job.jobId) return;
    for (const { task, ticket } of t.tickets) if (task < this.tickets.length) this.tickets[task] = ticket;
  }

  /** The stage's tensors from their tasks, fp32, under a version of this transport's counting. */
  async pull(_req: PullRequest): Promise<Result<ParamsSnapshot>> {
    const jobId = this.o.job.jobId;
    const answers = await Promise.all(this.parts.map((p) => askTask(p.socket, 'params:pull', { ticket: this.tickets[p.task]!, jobId, have: p.held?.version, slices: p.names }, p.task, this.timeoutMs)));
    const values = this.specs.map((s) => new Float32Array(sizeOf(s.shape)));
    const versions: number[] = [];
    for (let i = 0; i < this.parts.length; i++) {
      const part = this.parts[i]!;
      const a = answers[i]!;
      if (!a.ok) return a;
      const got = this.read(part, a);
      if ('ok' in got) return got;
      part.slices.forEach(({ slice, tensor }, k) => values[tensor]!.set(got[k]!, slice.offset));
      versions.push(a.version);
    }
    const version = ++this.pulls;
    this.taskVersions.set(version, versions);
    this.taskVersions.delete(version - PULLS_REMEMBERED);
    return ok({ jobId, version, ...encodeTensors(this.specs.map((s, i) => ({ ...s, values: values[i]! }))) });
  }

  /** Has each task hold the stage's slices of `p` for its replica step, then tells the chief; answers what the chief answers. */
  async push(p: GradientPush): Promise<Result<PushAccepted>> {
    const bases = this.taskVersions.get(p.baseVersion);
    let refused: Failure | null = bases ? null : fail(ErrorCode.STALE, `Computed on pull ${p.baseVersion}, which this stage no longer remembers`);
    const receipts: { task: number; version: number; receipt: string }[] = [];
    if (bases && this.parts.length) {
      const grads = decodeTensors(p, this.specs);
      const answers = await Promise.all(
        this.parts.map((part, i) => {
          part.encoder.add(part.slices.map(({ slice, tensor }) => grads[tensor]!.subarray(slice.offset, slice.offset + slice.length)), 0, 0);
          const payload = part.encoder.take();
          return askTask(part.socket, 'grads:hold', { ticket: this.tickets[part.task]!, jobId: p.jobId, baseVersion: bases[i]!, ...payload }, part.task, this.timeoutMs);
        }),
      );
      refused = answers.find((a): a is Failure => !a.ok) ?? null;
      // Every part held, also beside a refusal: the chief drops those (nothing of the step is applied).
      answers.forEach((a, i) => a.ok && receipts.push({ task: this.parts[i]!.task, version: a.hold, receipt: a.receipt }));
    }
    // The chief holds none of the stage's parameters (GradientPush.pull): the stage pulls from its tasks.
    const { pull: _, ...part } = p;
    return this.o.chief({ ...part, manifest: { codec: p.manifest.codec, tensors: [] }, data: new Uint8Array(0), psReceipts: receipts, ...(refused ? { psRefused: refused.code } : {}) });
  }

  dispose(): void {
    for (const p of this.parts) p.socket.disconnect();
  }

  /** A task's answer: its slices of the stage, in full or as a delta over the copy held; a wrong answer drops the copy. */
  private read(part: TaskPart, snap: ParamsSnapshot): Float32Array[] | Failure {
    const m = snap.manifest;
    const bad = (why: string) => {
      part.held = null;
      return fail(ErrorCode.TENSOR_MISMATCH, `ps task ${part.task}'s pull: ${why}`);
    };
    if (m.codec !== 'fp32' && m.codec !== 'delta') return bad(`in ${m.codec}, not fp32 or a delta`);
    if (m.tensors.length !== part.specs.length) return bad(`${m.tensors.length} slices, the stage has ${part.specs.length} there`);
    for (let i = 0; i < part.specs.length; i++) {
      const e = m.tensors[i]!;
      if (e.name !== part.specs[i]!.name || !sameShape(e.shape, part.specs[i]!.shape)) return bad(`slice ${i} is "${e.name}" [${e.shape}], expected "${part.specs[i]!.name}"`);
    }
    let values: Float32Array[];
    if (m.codec === 'delta') {
      if (part.held?.version !== m.since) return bad(`a delta since its version ${m.since}, but this stage holds ${part.held ? part.held.version : 'none'}`);
      const wrong = applyParamDelta(m, snap.data, part.held.values);
      if (wrong) return bad(wrong);
      values = part.held.values;
    } else {
      try {
        values = decodeTensors({ manifest: m, data: snap.data }, part.specs);
      } catch (err) {
        return bad(err instanceof Error ? err.message : String(err));
      }
    }
    part.held = { version: snap.version, values };
    return values;
  }
}

/**
 * The server a stage of `job` works with: `chief` itself, or for a job on ps tasks its
 * pulls and pushes through a StagePsTransport over the assignment's route (checked
 * first; throws with the reason when it does not check). With `runnerJob`: the
 * assignment the StageRunner gets (fp32 gradients on ps tasks, encoded per slice here).
 * `onTaskSocket` sees each task socket (a traffic meter counts them, as for transportFor).
 */
export function stageServerFor(
  job: JobAssignment,
  chief: StageServer,
  options: { onTaskSocket?: (s: PsWorkerSocket) => void } = {},
): { server: StageServer; runnerJob: JobAssignment; tasks: StagePsTransport | null } {
  if (!job.ps || !job.replica) return { server: chief, runnerJob: job, tasks: null };
  const route = checkPsRoute(job.ps, job.tensors);
  if ('error' in route) throw new Error(route.error);
  const tasks = new StagePsTransport({ job, route, tensors: job.replica.tensors, chief: (p) => chief.push(p) });
  for (const s of tasks.taskSockets) options.onTaskSocket?.(s);
  return { server: { ...chief, pull: (r) => tasks.pull(r), push: (p) => tasks.push(p) }, runnerJob: { ...job, codec: 'fp32' }, tasks };
}
