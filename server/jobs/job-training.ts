/**
 * The worker-facing side of a running job: pulls, leases, pushes and their settlement,
 * and which assigned workers are training rather than waiting for a shard. The job
 * (job.ts) owns the lifecycle and hands this part its ledger's accounting and its
 * parameter service; a push reaches the parameter service only after its batches were
 * taken from its lease.
 */
import { asBytes } from '../../shared/codec.js';
import { selectTensors } from '../../shared/tensor-parts.js';
import { ErrorCode } from '../../shared/errors.js';
import type { CompleteAnswer, GradientPush, JobState, LeaseAnswer, ParamsSnapshot, PushAccepted } from '../../shared/protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import type { TakenBatches } from '../data/shard-ledger.js';
import { createLogger } from '../logger.js';
import type { ParameterService, PushOutcome, StagePart } from '../params/parameter-service.js';
import type { PushAdmission } from '../params/push-admission.js';
import type { UncheckedManifest } from '../params/push-validation.js';
import { countRejection, recordAccepted, type JobStats } from './job-stats.js';
import type { PushAccounting } from './push-accounting.js';
import { lossRefusal } from './training-loss.js';
import type { Replica, ReplicaBoard } from './replica-board.js';
import type { ReplicaSteps } from './replica-steps.js';
import type { TaskStep } from '../params/task-stage-steps.js';

const log = createLogger('job');

/** A push whose fields have passed the wire schema but not yet the model checks. */
export type IncomingPush = Omit<GradientPush, 'manifest'> & {
  manifest: UncheckedManifest;
  psStep?: TaskStep;
  /** A replica step joined in process (server/jobs/replica-steps.ts): its stage parts, which the norm bound judges one by one. */
  stageParts?: readonly StagePart[];
};

export interface JobTrainingDeps {
  jobId: string;
  accounting: PushAccounting;
  params: ParameterService;
  /** The process's bound on pushes it takes at once (BUSY beyond it); null: none. */
  admission: PushAdmission | null;
  /** The job's state now (only a running job trains). */
  state: () => JobState;
  /** What a worker is told when the job is not running (the reason it is paused, when it has one). */
  notRunning: (state: JobState) => string;
  /** The job's counters now (a restored checkpoint replaces them). */
  stats: () => JobStats;
  /** The workers assigned to the job now. */
  workers: () => ReadonlySet<string>;
  /** A push's `examples` were credited to `workerId` (the lease's count). */
  onCredited: (workerId: string, examples: number) => void;
  /** A push or a completion may have finished the last epoch: the job looks at its ledger. */
  onProgress: () => void;
  /** The job's replicas when it splits its model into stages; null: data parallelism. */
  replicas: () => Pick<ReplicaBoard, 'replicaOf' | 'list'> | null;
  /** Where the replicas' stage pushes wait for each other (with `replicas`). */
  replicaSteps: () => ReplicaSteps | null;
}

export class JobTraining {
  /**
   * Workers whose last lease request found no shard (the last epoch is draining): a
   * sync round does not wait for them until they lease again.
   */
  private readonly idle = new Set<string>();

  constructor(private readonly d: JobTrainingDeps) {}

  /**
   * The current parameters; as a delta when the worker holds version `have` exactly
   * and the delta is the smaller message (see shared/param-delta.ts).
   */
  pull(have?: number, tensors?: readonly string[]): Result<ParamsSnapshot> {
    const names = tensors && this.tensorSet(tensors);
    if (names && 'ok' in names) return names;
    const pulled = this.d.params.pull(have);
    if ('ok' in pulled) return pulled;
    const { version, delta } = pulled;
    // A stage holds only its own tensors: the snapshot (or delta) carries only those.
    const { manifest, data } = names ? selectTensors(pulled, names) : pulled;
    const stats = this.d.stats();
    stats.pulls += 1;
    if (delta) stats.deltaPulls += 1;
    stats.bytesOut += asBytes(data).byteLength;
    return ok({ jobId: this.d.jobId, version, manifest, data });
  }

  /** A push that asks for tensors in its answer (GradientPush.pull) names them as a pull must: refused before anything of it is taken, not answered without them once applied. */
  private pullRefusal(push: IncomingPush): Failure | null {
    if (!push.pull) return null;
    const names = this.tensorSet(push.pull.tensors);
    return 'ok' in names ? names : null;
  }

  /** A pull's tensor list, each one of the job's and none twice. */
  private tensorSet(tensors: readonly string[]): Set<string> | Failure {
    const known = new Set(this.d.params.specs.map((s) => s.name));
    const names = new Set(tensors);
    const stray = tensors.find((t) => !known.has(t));
    if (stray !== undefined) return fail(ErrorCode.TENSOR_MISMATCH, `Tensor "${stray.slice(0, 80)}" is not one of the job's`);
    if (names.size !== tensors.length) return fail(ErrorCode.TENSOR_MISMATCH, 'The pull names a tensor twice');
    return names;
  }

  /**
   * Admits the push under the process's bound (or refuses it BUSY, leaving the lease as
   * it was), takes its batches from its lease and hands the gradient to the parameter
   * service; sync modes answer when the gradient's round closes. Once answered, the
   * batches are credited (accepted) or go back to the queue (refused), and every
   * refusal is counted by code.
   */
  push(workerId: string, push: IncomingPush): Result<PushAccepted> | Promise<Result<PushAccepted>> {
    const refused = this.notRunning() ?? this.pullRefusal(push);
    if (refused) return this.refusedPush(refused);
    const admission = this.d.admission;
    if (!admission) return this.admitted(workerId, push);
    // BUSY before the lease is touched: the same push, sent again, is as good as new.
    const bytes = asBytes(push.data).byteLength;
    const busy = admission.enter(bytes);
    if (busy) return this.refusedPush(busy);
    let result: Result<PushAccepted> | Promise<Result<PushAccepted>>;
    try {
      result = this.admitted(workerId, push);
    } catch (err) {
      admission.leave(bytes);
      throw err;
    }
    if (result instanceof Promise) return result.finally(() => admission.leave(bytes));
    admission.leave(bytes);
    return result;
  }

  /** A push the process admitted: a stage's waits for its replica step; a whole model's goes to its lease and the parameter service. */
  private admitted(workerId: string, push: IncomingPush): Result<PushAccepted> | Promise<Result<PushAccepted>> {
    const board = this.d.replicas();
    return board ? this.stagePush(board, workerId, push) : this.commit(workerId, push, null);
  }

  /** A stage's push is held until its replica's other stages pushed the same step (server/jobs/replica-steps.ts). */
  private stagePush(board: Pick<ReplicaBoard, 'replicaOf' | 'list'>, workerId: string, push: IncomingPush): Result<PushAccepted> | Promise<Result<PushAccepted>> {
    const replica = board.replicaOf(workerId);
    if (!replica) return this.refusedPush(fail(ErrorCode.UNKNOWN_REPLICA, 'This worker is in no replica: its replica dissolved, or it is waiting for one'));
    if (push.replicaStep === undefined) return this.refusedPush(fail(ErrorCode.BAD_REQUEST, "A stage's push names the replica step it closes (replicaStep)"));
    const held = this.d.replicaSteps()!.push(replica, workerId, push.replicaStep, push);
    return held instanceof Promise ? held : this.refusedPush(held);
  }

  /**
   * Takes the push's batches from its lease and applies it, or refuses it with
   * `refusal` (a replica step whose stage part failed its check): either way the
   * batches are settled as a push's are. `member`: who the parameter service counts
   * the push for (a round's member): the worker, or for a replica step its replica,
   * since a replica, not its lease holder, is one contributor (the norm bound and the
   * direction check judge a replica step's parts under their stages' workers).
   * `culprit`: the later stage whose part it was, whose fault the refusal counts as
   * (null: the lease holder's); a part the parameter service refuses (its norm bound)
   * is charged to its stage's worker the same way.
   */
  commit(workerId: string, push: IncomingPush, refusal: Failure | null, member = workerId, culprit: string | null = null): PushOutcome | Promise<PushOutcome> {
    const taken = this.d.accounting.take(workerId, push.leaseId, push.batches);
    if ('ok' in taken) return this.refusedPush(taken);
    const badLoss = refusal ?? lossRefusal(push.loss);
    // The norm is judged per batch as the lease counts them, never as the worker claims.
    const submission = { baseVersion: push.baseVersion, batches: taken.to - taken.from, manifest: push.manifest, data: push.data, psRefused: push.psRefused, psReceipts: push.psReceipts, psStep: push.psStep, stages: push.stageParts };
    const result = badLoss ?? this.d.params.push(member, submission);
    const blamed = (r: PushOutcome) => (refusal ? culprit : stageCulprit(workerId, push, r));
    if (result instanceof Promise) return result.then((r) => this.settled(workerId, push, taken, r, blamed(r)));
    return this.settled(workerId, push, taken, result, blamed(result));
  }

  /** The push was answered: its examples are credited from the lease, or its batches requeued. */
  private settled(workerId: string, push: IncomingPush, taken: TakenBatches, r: PushOutcome, culprit: string | null): PushOutcome {
    const completion = this.d.accounting.settle(workerId, taken, r, culprit);
    if (!r.ok) return this.refusedPush(r);
    recordAccepted(this.d.stats(), { examples: taken.examples, loss: push.loss, staleness: r.staleness, bytes: asBytes(push.data).byteLength, rawBytes: this.d.params.parameterCount * 4, clipped: r.clipped !== undefined });
    this.d.onCredited(workerId, taken.examples);
    if (completion.epochDone) log.info('epoch complete', { job: this.d.jobId, epoch: completion.epoch, version: this.d.params.version });
    this.d.onProgress();
    return r;
  }

  /** Counts a refusal by its code (the namespace's too: a push without its slot). */
  refusedPush<F extends Failure>(r: F): F {
    countRejection(this.d.stats(), r.code);
    return r;
  }

  private notRunning(): Failure | null {
    const state = this.d.state();
    return state === 'running' ? null : fail(ErrorCode.JOB_NOT_RUNNING, this.d.notRunning(state));
  }

  /**
   * Who a sync round waits for: assigned workers that are training (not waiting for a
   * shard); with stages, the live replicas whose stage 0 is (a replica step is one
   * contribution, pushed for its replica: docs/model-parallelism.md, "Split jobs in
   * round modes").
   */
  activeWorkers(): Set<string> {
    const board = this.d.replicas();
    if (board) return new Set(board.list().filter((r) => !this.idle.has(r.members[0]!)).map((r) => r.id));
    const active = new Set(this.d.workers());
    for (const w of this.idle) active.delete(w);
    return active;
  }

  lease(workerId: string): Result<LeaseAnswer> {
    // Late leases first: taking them back can dissolve the asker's replica (its stage 0's lease period), and then it is no stage 0.
    this.d.accounting.sweep();
    const refused = this.notRunning() ?? this.notFirstStage(workerId);
    if (refused) return refused;
    const r = this.d.accounting.lease(workerId);
    const replica = this.d.replicas()?.replicaOf(workerId);
    // Stage 0's pushes in its replica name the leases it took in it (a late push of a replica it left does not).
    if (r.ok && r.lease && replica) this.d.replicaSteps()?.leased(replica, r.lease.leaseId);
    if (r.ok && r.lease) this.idle.delete(workerId);
    else if (r.ok || r.code === ErrorCode.WORKER_BARRED) {
      // No shard (the last epoch is draining) or barred: a sync round does not wait for this worker until it leases again.
      this.idle.add(workerId);
      this.d.params.leave(this.memberOf(workerId));
    }
    return r;
  }

  complete(workerId: string, leaseId: string): Result<CompleteAnswer> {
    const c = this.d.accounting.complete(workerId, leaseId);
    if ('ok' in c) return c;
    this.d.onProgress();
    return ok(c);
  }

  /** With stages, a replica's lease is its stage 0's: the stage that reads the inputs. */
  private notFirstStage(workerId: string): Failure | null {
    const board = this.d.replicas();
    if (!board) return null;
    const replica = board.replicaOf(workerId);
    if (!replica) return fail(ErrorCode.UNKNOWN_REPLICA, 'This worker is in no replica yet: wait for a job:assign with its stage');
    return replica.members[0] === workerId ? null : fail(ErrorCode.NOT_A_PEER, `Only stage 0 of replica ${replica.id} leases shards`);
  }

  /** Who the parameter service counts `workerId`'s pushes for: its replica when it is a stage. */
  private memberOf(workerId: string): string {
    return this.d.replicas()?.replicaOf(workerId)?.id ?? workerId;
  }

  /**
   * A replica was dissolved: its lease (stage 0's) goes back to the queue from its last
   * committed step; a step not every stage pushed is dropped, and a sync round no longer
   * waits for the replica (a step it completed before stays in the round, as a
   * data-parallel worker's gradient does).
   */
  replicaDissolved(replica: Replica): void {
    this.d.accounting.requeue(replica.members[0]!);
    this.d.replicaSteps()?.dissolved(replica.id, fail(ErrorCode.UNKNOWN_REPLICA, `Replica ${replica.id} dissolved: its step is dropped`));
    this.d.params.forget(replica.id);
  }

  /** The worker's own report of its speed: its lease deadlines follow it. */
  reported(workerId: string, examplesPerSecond: number): void {
    this.d.accounting.reported(workerId, examplesPerSecond);
  }

  /** A worker left (or the job stopped running): its shards go back to the queue and the parameter service forgets it. */
  release(workerId: string): void {
    this.idle.delete(workerId);
    this.d.accounting.release(workerId);
    this.d.params.forget(workerId);
  }
}

/** The worker of the stage part the parameter service refused, when it is not the lease holder's own (null: the lease holder's fault). */
function stageCulprit(workerId: string, push: IncomingPush, r: PushOutcome): string | null {
  if (r.ok || r.stage === undefined) return null;
  const worker = push.stageParts?.[r.stage]?.worker ?? null;
  return worker === workerId ? null : worker;
}
