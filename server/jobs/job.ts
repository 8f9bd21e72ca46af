/**
 * One training job as the chief controls it: the lifecycle (draft → running ⇄ paused →
 * done | stopped | failed), the shard ledger, evaluation and checkpoint schedules and
 * the counters; pulls, leases and pushes go through its JobTraining (job-training.ts).
 * Its parameters sit behind a ParameterService (server/params/parameter-service.ts):
 * in this process, or later in ps tasks (job-deps.ts builds it). Its parts: the
 * replicas of a job split into stages (job-replicas.ts), what a checkpoint holds and
 * how one is loaded (job-checkpointing.ts), the work it does on its clock while it runs
 * (job-timers.ts). Worker handlers and operator routes call into it; it knows nothing
 * about sockets or HTTP, and nothing outside writes its state: they read it through
 * the views below.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { JobSpec } from '../../shared/job-spec.js';
import type { MetricPoint, ResumedFrom } from '../../shared/operator-protocol.js';
import {
  FINAL_JOB_STATES,
  type CompleteAnswer,
  type EvalRecord,
  type JobAssignment,
  type JobState,
  type JobSummary,
  type LeaseAnswer,
  type ParamsSnapshot,
  type PushAccepted,
} from '../../shared/protocol.js';
import type { PsTickets } from '../../shared/ps-route.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import type { ReplicaReport } from '../../shared/replica-protocol.js';
import type { CheckpointContent } from '../checkpoints/checkpoint-format.js';
import type { Dataset } from '../data/dataset.js';
import { ShardLedger } from '../data/shard-ledger.js';
import { createLogger } from '../logger.js';
import type { ParameterService, ParameterView } from '../params/parameter-service.js';
import { EvaluationSchedule, type Confusion } from './evaluation-schedule.js';
import { JobCheckpointing, type RestoreOptions } from './job-checkpointing.js';
import { parameterServiceFor, type JobDeps, type JobRecords, type LedgerView, type ParameterContext } from './job-deps.js';
import { assignmentOf } from './job-assignment.js';
import { MetricSampler } from './job-metrics.js';
import { emptyStats, type JobStats } from './job-stats.js';
import { MAX_FAULTS_IN_A_ROW, pushAccountingFor, type PushAccounting } from './push-accounting.js';
import { JobTimers } from './job-timers.js';
import { JobTraining, type IncomingPush } from './job-training.js';
import { replicasFor, type JobReplicas } from './job-replicas.js';
import type { ReplicaBoard } from './replica-board.js';
import type { ReplicaFigures } from './replica-figures.js';

const log = createLogger('job');

export type JobAction = 'start' | 'pause' | 'resume' | 'stop';
export type { JobDeps, JobRecords, LedgerView, ParameterContext } from './job-deps.js';
export type { IncomingPush } from './job-training.js';

export class Job {
  private currentState: JobState = 'draft';
  private failureReason: string | null = null;
  /** Why the job cannot train now though the operator wants it to (a ps task of its is down); null when nothing holds it. */
  private heldBy: string | null = null;
  /** The job is paused because it is held, not by the operator: it runs again when the hold ends. */
  private pausedByHold = false;
  private readonly params: ParameterService;
  private readonly shardLedger: ShardLedger;
  /** Ties pushes to leases and keeps each worker's standing (server/jobs/push-accounting.ts). */
  private readonly accounting: PushAccounting;
  private counters: JobStats = emptyStats();
  private readonly evaluations: EvaluationSchedule;
  /** What a checkpoint holds, loading one, and when one is written (job-checkpointing.ts). */
  private readonly checkpointing: JobCheckpointing;
  /** Pulls, leases and pushes (server/jobs/job-training.ts). */
  private readonly training: JobTraining;
  private readonly sampler = new MetricSampler();
  /** The model replicas when the job splits its model into stages (spec.stages > 1), their steps and figures (job-replicas.ts); null: data parallelism. */
  private readonly split: JobReplicas | null;
  /** What the job does on its clock while it runs (job-timers.ts). */
  private readonly timers: JobTimers;

  constructor(
    readonly id: string,
    readonly spec: JobSpec,
    readonly createdAt: number,
    private readonly deps: JobDeps,
  ) {
    this.shardLedger = new ShardLedger({ shardSizes: deps.shards.map((s) => s.count), batchSize: spec.batchSize, epochs: spec.epochs, seed: spec.seed });
    this.accounting = pushAccountingFor(spec, this.shardLedger, (index) => deps.shards[index]!.url, () => deps.clock.now(), {
      onBarred: (workerId) => this.split?.board.bar(workerId, `a stage was barred: its pushes were refused, its lease deadlines missed or its replicas stalled, ${MAX_FAULTS_IN_A_ROW} times in a row`),
      leaseDeadline: (workerId) => this.split?.leaseDeadline(workerId) ?? 'own',
      onMissed: (workerId) => this.split?.missed(workerId),
    });
    const ctx: ParameterContext = { clock: deps.clock, activeWorkers: () => this.training.activeWorkers() };
    this.params = parameterServiceFor(id, spec, deps, ctx);
    this.training = new JobTraining({
      jobId: id,
      accounting: this.accounting,
      params: this.params,
      admission: deps.admission ?? null,
      state: () => this.currentState,
      notRunning: (state) => this.notRunning(state),
      stats: () => this.counters,
      workers: () => this.workers,
      onCredited: (workerId, examples) => deps.onCredited?.(this, workerId, examples),
      onProgress: () => {
        if (this.shardLedger.finished) this.finish('done', null, 'all epochs trained');
      },
      replicas: () => this.split?.board ?? null,
      replicaSteps: () => this.split?.steps ?? null,
    });
    this.evaluations = new EvaluationSchedule({
      jobId: id,
      topology: deps.model.topology,
      dataset: deps.dataset,
      evaluation: deps.evaluation,
      parameters: this.params,
      clock: deps.clock,
      examplesSeen: () => this.counters.examplesSeen,
      onScored: (rec, version, loss) => this.scored(rec, version, loss),
    });
    this.split = replicasFor({
      spec,
      costs: deps.stageCosts,
      tensors: deps.model.tensors,
      params: this.params,
      accounting: this.accounting,
      ledger: this.shardLedger,
      training: this.training,
      now: () => deps.clock.now(),
      notify: (workerId, notice) => deps.onReplicaNotice?.(this, workerId, notice),
    });
    this.checkpointing = new JobCheckpointing({
      jobId: id,
      store: deps.checkpoints,
      clock: deps.clock,
      params: this.params,
      ledger: this.shardLedger,
      stats: () => this.counters,
      replaceStats: (stats) => (this.counters = stats),
    });
    this.timers = new JobTimers(deps.clock, spec, {
      evaluate: () => void this.evaluateIfChanged(),
      checkpoint: this.checkpointing.schedule.enabled ? () => void this.checkpointIfChanged() : null,
      sweep: () => {
        this.accounting.sweep();
        this.split?.sweep();
      },
      refreshTrusted: () => this.params.refreshTrusted(),
    });
  }

  get state(): JobState {
    return this.currentState;
  }

  /** Why the job failed (null unless it did). */
  get failure(): string | null {
    return this.failureReason;
  }

  /** Why the job is paused: what holds it (a ps task down), or the operator; null unless paused or held. */
  get pausedReason(): string | null {
    if (this.heldBy !== null) return this.heldBy;
    return this.currentState === 'paused' ? 'paused by the operator' : null;
  }

  /** The state to keep across a restart: a job paused only by a hold is one the operator runs. */
  get storedState(): JobState {
    return this.pausedByHold && this.currentState === 'paused' ? 'running' : this.currentState;
  }

  /**
   * Something outside the job stops it from training (a ps task holding its slices is
   * down): a running job pauses with `reason`, which the API and dashboard show and
   * workers' refusals carry; a job in any other state only records it.
   */
  hold(reason: string): void {
    if (FINAL_JOB_STATES.includes(this.currentState)) return;
    const changed = this.heldBy !== reason;
    this.heldBy = reason;
    if (this.currentState === 'running') {
      this.pausedByHold = true;
      this.setState('paused');
    } else if (changed) log.warn('job held', { job: this.id, reason });
  }

  /** The hold ended: a job it paused runs again; one the operator paused stays paused. */
  unhold(): void {
    if (this.heldBy === null) return;
    log.info('job hold ended', { job: this.id, was: this.heldBy });
    this.heldBy = null;
    if (this.pausedByHold && this.currentState === 'paused') {
      this.pausedByHold = false;
      this.setState('running');
    }
  }

  /** The checkpoint the job resumed from at the last restart, if any. */
  get resumedFrom(): ResumedFrom | null {
    return this.checkpointing.resumedFrom;
  }

  /** The parameters, read-only: version, shapes, counters and a copy of the values. */
  get parameters(): ParameterView {
    return this.params;
  }

  get version(): number {
    return this.params.version;
  }

  get ledger(): LedgerView {
    return this.shardLedger;
  }

  get stats(): Readonly<JobStats> {
    return this.counters;
  }

  /** Oldest first, without their confusion matrices (only the latest is kept: `confusion`). */
  get evals(): readonly EvalRecord[] {
    return this.evaluations.evals;
  }

  /** The latest evaluation's confusion matrix (confusion[true][predicted]) and the version it scored. */
  get confusion(): Confusion | null {
    return this.evaluations.confusion;
  }

  get metrics(): Pick<MetricSampler, 'history'> {
    return this.sampler;
  }

  /** Who a round opened now waits for (round modes): the live replicas of a split job, else the training workers. */
  roundMembers(): string[] {
    return [...this.training.activeWorkers()];
  }

  /** The workers assigned to this job now (the assignments' view). */
  get workers(): ReadonlySet<string> {
    return this.deps.assignments.workersOf(this.id);
  }

  get topology(): object {
    return this.deps.model.topology;
  }

  /** The dataset the job trains on (its shape, classes and scaling travel with the exported model). */
  get dataset(): Dataset {
    return this.deps.dataset;
  }

  /** Operator control; refuses transitions that make no sense from the current state. */
  control(action: JobAction): Result<object> {
    const from = this.currentState;
    const allowed: Record<JobAction, JobState[]> = {
      start: ['draft'],
      pause: ['running'],
      resume: ['paused'],
      stop: ['draft', 'running', 'paused'],
    };
    if (action === 'pause' && from === 'paused' && this.pausedByHold) {
      // The operator's pause now: the job stays paused when the hold ends.
      this.pausedByHold = false;
      return ok({});
    }
    if (!allowed[action].includes(from)) return fail(ErrorCode.BAD_REQUEST, `Cannot ${action} a job that is ${from}`);
    if ((action === 'resume' || action === 'start') && this.heldBy !== null) {
      // It would pause again at once: say why instead (it resumes by itself when the hold ends).
      if (action === 'resume') this.pausedByHold = true;
      return fail(ErrorCode.PS_TASK_UNREACHABLE, `Job ${this.id} cannot run now: ${this.heldBy}; it resumes when that is over`);
    }
    if (action === 'stop') this.finish('stopped', null, 'stopped by the operator');
    else this.setState(action === 'pause' ? 'paused' : 'running');
    return ok({});
  }

  private setState(state: JobState): void {
    this.currentState = state;
    if (state !== 'paused') this.pausedByHold = false;
    this.timers.stop();
    if (state === 'running') {
      this.sampler.resetRates();
      this.timers.start();
      // Resumed: the workers left their replicas when it paused, and form new ones now.
      for (const w of this.workers) this.split?.board.join(w);
    } else {
      // An open sync round must not be applied by the departures below, nor hold acks forever.
      this.params.halt(fail(ErrorCode.JOB_NOT_RUNNING, this.notRunning(state)));
      this.split?.board.clear(`the job is ${state}`);
      // Leases of a job that is not training would only expire; give the shards back now.
      // The workers stay assigned until onStateChange moves them (the assignments' owner does).
      for (const w of [...this.workers]) this.release(w);
    }
    log.info('job state', { job: this.id, state });
    this.deps.onStateChange(this);
  }

  /** What a worker is told when the job is not running: with the hold's reason when one paused it. */
  private notRunning(state: JobState): string {
    return state === 'paused' && this.heldBy !== null ? `Job ${this.id} is paused: ${this.heldBy}` : `Job ${this.id} is ${state}`;
  }

  private finish(state: 'done' | 'stopped' | 'failed', failure: string | null, reason: string): void {
    if (FINAL_JOB_STATES.includes(this.currentState)) return;
    this.failureReason = failure;
    log.info(`job ${state}`, { job: this.id, reason, version: this.params.version });
    this.setState(state);
    void this.evaluateIfChanged().then(() => this.checkpointIfChanged());
  }

  fail(reason: string): void {
    this.finish('failed', reason, reason);
  }

  /** Stops timers (coordinator shutdown, deletion); the state is left as it is. */
  dispose(): void {
    this.timers.stop();
    this.params.dispose();
  }

  /** The job is deleted: as dispose(), and parameters held on ps tasks are deleted there. */
  discard(): void {
    this.timers.stop();
    if (this.params.discard) this.params.discard();
    else this.params.dispose();
  }

  /**
   * What a worker is told of the job: with stages, `workerId`'s stage in its replica (null
   * while it waits); on ps tasks, fresh tickets for `workerId` (without a worker: no route).
   */
  assignment(workerId: string | null = null): JobAssignment {
    const replica = workerId === null ? null : (this.split?.board.assignmentOf(workerId) ?? null);
    const a = assignmentOf(this.id, this.spec, this.deps.model.topology, this.params.specs, this.deps.dataset, replica);
    const route = workerId === null ? undefined : this.params.routeFor?.(workerId);
    return route ? { ...a, ps: route } : a;
  }

  /** Fresh tickets for `workerId`, when the job is on ps tasks (renewed before they expire). */
  tickets(workerId: string): PsTickets | null {
    const route = this.params.routeFor?.(workerId);
    return route ? { jobId: this.id, tickets: route.tasks.map(({ task, ticket }) => ({ task, ticket })) } : null;
  }

  /** The replicas, read-only (null: the job does not split its model). */
  get replicas(): Pick<ReplicaBoard, 'list' | 'waiting' | 'replicaOf' | 'placeOf' | 'get' | 'layerNames'> | null {
    return this.split?.board ?? null;
  }

  /** The replicas' reported figures, read-only (null: the job does not split its model). */
  get replicaFigures(): Pick<ReplicaFigures, 'reportOf'> | null {
    return this.split?.figures ?? null;
  }

  /** The relay forwarded a frame of `bytes` within `replicaId`: what its stages' reports are checked against. */
  relayed(replicaId: string, from: string, to: string, bytes: number): void {
    this.split?.figures.relayed(replicaId, from, to, bytes);
  }

  /** Stage `from` refused a frame of its neighbour `to` and sent it an abort (server/worker/relay.ts): the replica dissolves. */
  abortReplica(replicaId: string, from: string, to: string): void {
    this.split?.abort(replicaId, from, to);
  }

  /** A stage's `replica:report`. */
  replicaReport(workerId: string, report: ReplicaReport): Result {
    if (!this.split) return fail(ErrorCode.UNKNOWN_REPLICA, `Job ${this.id} does not split its model into stages`);
    return this.split.figures.report(workerId, report);
  }

  /** A worker assigned to the job is ready to train: with stages, it waits for a replica (told by a notice when one forms). */
  join(workerId: string): void {
    if (this.currentState === 'running') this.split?.board.join(workerId);
  }

  /** `tensors`: a stage's own (default: every tensor). */
  pull(have?: number, tensors?: readonly string[]): Result<ParamsSnapshot> {
    return this.training.pull(have, tensors);
  }

  push(workerId: string, push: IncomingPush): Result<PushAccepted> | Promise<Result<PushAccepted>> {
    return this.training.push(workerId, push);
  }

  /** A push refused before the job saw it (no push slot): counted by code as the job's own refusals are. */
  refusedPush(failure: Failure): Failure {
    return this.training.refusedPush(failure);
  }

  lease(workerId: string): Result<LeaseAnswer> {
    return this.training.lease(workerId);
  }

  complete(workerId: string, leaseId: string): Result<CompleteAnswer> {
    return this.training.complete(workerId, leaseId);
  }

  /** The worker's own report of its speed: its lease deadlines follow it. */
  reported(workerId: string, examplesPerSecond: number): void {
    this.training.reported(workerId, examplesPerSecond);
    this.split?.reported(workerId, examplesPerSecond);
  }

  /** A worker left: its shards go back to the queue and the parameter service forgets it. */
  release(workerId: string): void {
    this.split?.board.leave(workerId);
    this.training.release(workerId);
  }

  /** A sample of the metrics for the dashboard's history (the operator channel's tick). */
  sampleMetrics(at: number): MetricPoint {
    return this.sampler.sample(at, this.params.version, this.counters);
  }

  /** Evaluates the current parameters unless this version was already scored. */
  evaluateIfChanged(): Promise<EvalRecord | null> {
    return this.evaluations.ifChanged();
  }

  private scored(rec: (EvalRecord & { confusion: number[][] }) | null, version: number, loss: number): void {
    // Finite pushes can still drive the parameters to overflow (a learning rate far too high).
    if (!rec) return this.fail(`diverged: test loss is ${loss} at version ${version}; lower the learning rate`);
    this.deps.onEval(this, rec);
    if (this.spec.targetAccuracy !== null && rec.accuracy >= this.spec.targetAccuracy && this.currentState === 'running') {
      this.finish('done', null, `reached target accuracy ${this.spec.targetAccuracy}`);
    }
  }

  /** Writes a checkpoint when the version moved since the last one. */
  checkpointIfChanged(): Promise<void> {
    return this.checkpointing.schedule.ifChanged();
  }

  /** Whether this job's checkpoints are cuts over ps tasks (a manifest of parts) rather than its values. */
  get checkpointsAreCuts(): boolean {
    return this.params.cut !== undefined;
  }

  /**
   * Coordinator shutdown: no more scheduled work; an evaluation and a checkpoint in
   * flight finish, then the final version is checkpointed (an interval checkpoint that
   * was being written when the stop came holds an older version).
   */
  async quiesce(): Promise<void> {
    this.timers.stop();
    await this.evaluations.pending;
    await this.checkpointing.schedule.pending;
    await this.checkpointIfChanged();
  }

  /** Loads a checkpoint while the job does not train (job-checkpointing.ts); rejects, changing nothing of the job's own, when it does not fit. */
  restore(c: CheckpointContent, options: RestoreOptions = {}): Promise<void> {
    return this.checkpointing.restore(c, options);
  }

  /** Back to the start when there is no checkpoint to roll back to (job-checkpointing.ts); false when the parameter service cannot reset. */
  restart(): Promise<boolean> {
    return this.checkpointing.restart();
  }

  /** Takes back what the job store kept of the job's evaluations and metrics (start-up). */
  restoreRecords(records: JobRecords): void {
    this.evaluations.restore(records.evals, records.confusion);
    this.sampler.history.push(...records.history);
  }

  /** Restores a stored state without the transition side effects (used at start-up). */
  reinstate(state: JobState, failure: string | null): void {
    // A ps task of its was down when it was rebuilt: it runs when the task is back.
    if (state === 'running' && this.heldBy !== null) {
      this.pausedByHold = true;
      this.setState('paused');
    } else if (state === 'running') this.setState('running');
    else {
      this.currentState = state;
      this.failureReason = failure;
    }
  }

  summary(): JobSummary {
    const last = this.evaluations.evals.at(-1);
    return {
      id: this.id,
      name: this.spec.name,
      state: this.currentState,
      model: this.spec.model,
      dataset: this.spec.dataset,
      version: this.params.version,
      epoch: this.shardLedger.epochsCompleted,
      examplesSeen: this.counters.examplesSeen,
      workers: this.workers.size,
      lastEval: last ? { version: last.version, accuracy: last.accuracy, loss: last.loss, at: last.at } : null,
    };
  }
}
