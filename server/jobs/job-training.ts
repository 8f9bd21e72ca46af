/**
 * The worker-facing side of a running job: pulls, leases, pushes and their settlement,
 * and which assigned workers are training rather than waiting for a shard. The job
 * (job.ts) owns the lifecycle and hands this part its ledger's accounting and its
 * parameter service; a push reaches the parameter service only after its batches were
 * taken from its lease.
 */
import { asBytes } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { CompleteAnswer, GradientPush, JobState, LeaseAnswer, ParamsSnapshot, PushAccepted } from '../../shared/protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import type { TakenBatches } from '../data/shard-ledger.js';
import { createLogger } from '../logger.js';
import type { ParameterService } from '../params/parameter-service.js';
import type { UncheckedManifest } from '../params/push-validation.js';
import { countRejection, recordAccepted, type JobStats } from './job-stats.js';
import type { PushAccounting } from './push-accounting.js';
import { lossRefusal } from './training-loss.js';

const log = createLogger('job');

/** A push whose fields have passed the wire schema but not yet the model checks. */
export type IncomingPush = Omit<GradientPush, 'manifest'> & { manifest: UncheckedManifest };

export interface JobTrainingDeps {
  jobId: string;
  accounting: PushAccounting;
  params: ParameterService;
  /** The job's state now (only a running job trains). */
  state: () => JobState;
  /** The job's counters now (a restored checkpoint replaces them). */
  stats: () => JobStats;
  /** The workers assigned to the job now. */
  workers: () => ReadonlySet<string>;
  /** A push's `examples` were credited to `workerId` (the lease's count). */
  onCredited: (workerId: string, examples: number) => void;
  /** A push or a completion may have finished the last epoch: the job looks at its ledger. */
  onProgress: () => void;
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
  pull(have?: number): Result<ParamsSnapshot> {
    const pulled = this.d.params.pull(have);
    if ('ok' in pulled) return pulled;
    const { version, manifest, data, delta } = pulled;
    const stats = this.d.stats();
    stats.pulls += 1;
    if (delta) stats.deltaPulls += 1;
    stats.bytesOut += asBytes(data).byteLength;
    return ok({ jobId: this.d.jobId, version, manifest, data });
  }

  /**
   * Takes the push's batches from its lease and hands the gradient to the parameter
   * service; sync modes answer when the gradient's round closes. Once answered, the
   * batches are credited (accepted) or go back to the queue (refused), and every
   * refusal is counted by code.
   */
  push(workerId: string, push: IncomingPush): Result<PushAccepted> | Promise<Result<PushAccepted>> {
    const refused = this.notRunning();
    if (refused) return this.refusedPush(refused);
    const taken = this.d.accounting.take(workerId, push.leaseId, push.batches);
    if ('ok' in taken) return this.refusedPush(taken);
    const badLoss = lossRefusal(push.loss);
    // The norm is judged per batch as the lease counts them, never as the worker claims.
    const result = badLoss ?? this.d.params.push(workerId, { baseVersion: push.baseVersion, batches: taken.to - taken.from, manifest: push.manifest, data: push.data, psRefused: push.psRefused });
    if (result instanceof Promise) return result.then((r) => this.settled(workerId, push, taken, r));
    return this.settled(workerId, push, taken, result);
  }

  /** The push was answered: its examples are credited from the lease, or its batches requeued. */
  private settled(workerId: string, push: IncomingPush, taken: TakenBatches, r: Result<PushAccepted>): Result<PushAccepted> {
    const completion = this.d.accounting.settle(workerId, taken, r);
    if (!r.ok) return this.refusedPush(r);
    recordAccepted(this.d.stats(), taken.examples, push.loss, r.staleness, asBytes(push.data).byteLength, this.d.params.parameterCount * 4);
    this.d.onCredited(workerId, taken.examples);
    if (completion.epochDone) log.info('epoch complete', { job: this.d.jobId, epoch: completion.epoch, version: this.d.params.version });
    this.d.onProgress();
    return r;
  }

  private refusedPush(r: Failure): Failure {
    countRejection(this.d.stats(), r.code);
    return r;
  }

  private notRunning(): Failure | null {
    const state = this.d.state();
    return state === 'running' ? null : fail(ErrorCode.JOB_NOT_RUNNING, `Job ${this.d.jobId} is ${state}`);
  }

  /** Assigned workers that are training (not waiting for a shard). */
  activeWorkers(): Set<string> {
    const active = new Set(this.d.workers());
    for (const w of this.idle) active.delete(w);
    return active;
  }

  lease(workerId: string): Result<LeaseAnswer> {
    const refused = this.notRunning();
    if (refused) return refused;
    const r = this.d.accounting.lease(workerId);
    if (r.ok && r.lease) this.idle.delete(workerId);
    else if (r.ok || r.code === ErrorCode.WORKER_BARRED) {
      // No shard (the last epoch is draining) or barred: a sync round does not wait for this worker until it leases again.
      this.idle.add(workerId);
      this.d.params.leave(workerId);
    }
    return r;
  }

  complete(workerId: string, leaseId: string): Result<CompleteAnswer> {
    const c = this.d.accounting.complete(workerId, leaseId);
    if ('ok' in c) return c;
    this.d.onProgress();
    return ok(c);
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
