/**
 * One training job as the chief runs it: the parameter store, the shard ledger, the
 * lifecycle (draft → running ⇄ paused → done | stopped | failed), evaluation and checkpoint
 * schedules and the counters. Worker handlers and operator routes call into it; it
 * knows nothing about sockets or HTTP.
 */
import { asBytes, codecOf, type TensorCodec } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { JobSpec } from '../../shared/job-spec.js';
import { MODES, type ModeWorkerField } from '../../shared/modes.js';
import {
  FINAL_JOB_STATES,
  type CompleteAnswer,
  type EvalRecord,
  type GradientPush,
  type JobAssignment,
  type JobState,
  type JobSummary,
  type LeaseAnswer,
  type ModeAssignment,
  type ParamsSnapshot,
  type PushAccepted,
} from '../../shared/protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import type { CheckpointContent } from '../checkpoints/checkpoint-format.js';
import { CheckpointCancelledError, type CheckpointStore } from '../checkpoints/checkpoint-store.js';
import type { Clock, Timer } from '../clock.js';
import { featuresAsFloat, type Dataset } from '../data/dataset.js';
import { ShardLedger, type TakenBatches } from '../data/shard-ledger.js';
import type { ShardInfo } from '../data/shard-store.js';
import type { EvaluationService } from '../eval/evaluator.js';
import { createLogger } from '../logger.js';
import { createOptimizer } from '../params/optimizers.js';
import { ParameterStore } from '../params/parameter-store.js';
import { GradientGate } from '../params/gradient-gate.js';
import { directionCheckFor, type DirectionCheck } from '../params/direction-check.js';
import type { TrustedGradientService } from '../params/trusted-gradient.js';
import { trustedSnapshotsFor, type TrustedSnapshots } from '../params/trusted-snapshots.js';
import type { UncheckedManifest } from '../params/push-validation.js';
import type { ConsistencyMode } from '../consistency/consistency-mode.js';
import { createConsistencyMode, psOptimizerSpec } from '../consistency/registry.js';
import { MetricSampler } from './job-metrics.js';
import { countRejection, emptyStats, recordAccepted, type JobStats } from './job-stats.js';
import { pushAccountingFor, type PushAccounting } from './push-accounting.js';
import { lossRefusal } from './training-loss.js';
import type { InitialModel } from './model-init.js';
import type { ApplySettings } from '../params/apply-engine.js';

const log = createLogger('job');

/** A push whose fields have passed the wire schema but not yet the model checks. */
export type IncomingPush = Omit<GradientPush, 'manifest'> & { manifest: UncheckedManifest };

/** Pulled versions kept as delta bases: a worker more than this many pulls behind gets a full payload. */
const DELTA_BASE_VERSIONS = 16;
/** How often late leases are looked for on the job's clock (pushes and lease requests also check exactly). */
const LEASE_SWEEP_MS = 1000;

export type JobAction = 'start' | 'pause' | 'resume' | 'stop';

export interface JobDeps {
  dataset: Dataset;
  shards: ShardInfo[];
  /** Norm of the PS's own gradient at the initial parameters (anchors the norm bound); null: none. */
  referenceNorm: number | null;
  model: InitialModel;
  evaluation: EvaluationService;
  /** Computes the PS's own gradients (norm bound reference, direction check) off the event loop. */
  trustedGradients: TrustedGradientService;
  checkpoints: CheckpointStore | null;
  /** Times records and leases, and runs the evaluation and checkpoint schedules and sync round deadlines. */
  clock: Clock;
  /** Told after every state change, so workers can be reassigned and the change stored. */
  onStateChange: (job: Job) => void;
  onEval: (job: Job, rec: EvalRecord) => void;
  /** A push of `workerId` was accepted and its `examples` (the lease's count, not the worker's claim) credited; default: nothing. */
  onCredited?: (job: Job, workerId: string, examples: number) => void;
  /** How the parameter server applies updates; default DEFAULT_APPLY_SETTINGS. */
  apply?: ApplySettings;
}

export class Job {
  state: JobState = 'draft';
  failure: string | null = null;
  resumedFrom: { version: number; at: number } | null = null;
  readonly store: ParameterStore;
  readonly ledger: ShardLedger;
  /** Ties pushes to leases and keeps each worker's standing (server/jobs/push-accounting.ts). */
  private readonly accounting: PushAccounting;
  stats: JobStats = emptyStats();
  /** Oldest first, without their confusion matrices (only the latest is kept: `confusion`). */
  readonly evals: EvalRecord[] = [];
  /** The latest evaluation's confusion matrix (confusion[true][predicted]) and the version it scored. */
  confusion: { version: number; matrix: number[][] } | null = null;
  readonly workers = new Set<string>();
  /**
   * Workers whose last lease request found no shard (the last epoch is draining): a
   * sync round does not wait for them until they lease again.
   */
  private readonly idle = new Set<string>();
  readonly metrics: MetricSampler;
  private timers: Timer[] = [];
  private evalInFlight: Promise<EvalRecord | null> | null = null;
  private lastEvaluatedVersion = -1;
  private lastCheckpointVersion = -1;
  private checkpointInFlight: Promise<void> | null = null;
  /** Decodes and checks each pushed gradient (layout, finite values, norm bound, direction). */
  private readonly gate: GradientGate;
  /**
   * The PS's own gradient at recent snapshots (norm bound reference, trusted direction);
   * null in local mode, whose pushes are not gradients, or when neither defence is on.
   */
  readonly trusted: TrustedSnapshots | null;
  /** The trusted-direction check (spec.directionThreshold); null when off or without snapshots. */
  readonly direction: DirectionCheck | null;
  /** Decodes this job's pushes: built from the spec, so topk knows the job's ratio. */
  readonly codec: TensorCodec;
  /** How accepted gradients become updates (spec.mode). */
  readonly consistency: ConsistencyMode;

  constructor(
    readonly id: string,
    readonly spec: JobSpec,
    readonly createdAt: number,
    private readonly deps: JobDeps,
  ) {
    const optimizer = createOptimizer(psOptimizerSpec(spec));
    this.codec = codecOf(spec);
    // Delta pulls pay only when updates are sparse: top-k gradients under an optimizer that leaves untouched entries alone.
    const deltaBases = this.codec.sparse && optimizer.sparseUpdates ? DELTA_BASE_VERSIONS : 0;
    this.store = new ParameterStore(deps.model.tensors, deps.model.values, optimizer, { keepVersions: deltaBases, apply: deps.apply });
    this.ledger = new ShardLedger({ shardSizes: deps.shards.map((s) => s.count), batchSize: spec.batchSize, epochs: spec.epochs, seed: spec.seed });
    this.accounting = pushAccountingFor(spec, this.ledger, (index) => deps.shards[index]!.url, () => deps.clock.now());
    this.trusted = trustedSnapshotsFor(spec, { store: this.store, service: deps.trustedGradients, rootKey: id, topology: deps.model.topology, dataset: deps.dataset });
    this.direction = directionCheckFor(spec, { store: this.store, service: deps.trustedGradients, rootKey: id, snapshots: this.trusted });
    this.gate = new GradientGate(this.store, this.codec, spec.normBound, deps.referenceNorm, this.direction);
    // The norm bound follows the model: its reference is the PS's own norm per batch at the latest snapshot.
    this.trusted?.on('trusted', ({ batchNorm }) => this.gate.setReference(batchNorm));
    this.metrics = new MetricSampler();
    this.consistency = createConsistencyMode(spec, { store: this.store, clock: deps.clock, activeWorkers: () => this.activeWorkers() });
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
    const from = this.state;
    const allowed: Record<JobAction, JobState[]> = {
      start: ['draft'],
      pause: ['running'],
      resume: ['paused'],
      stop: ['draft', 'running', 'paused'],
    };
    if (!allowed[action].includes(from)) return fail(ErrorCode.BAD_REQUEST, `Cannot ${action} a job that is ${from}`);
    if (action === 'stop') this.finish('stopped', null, 'stopped by the operator');
    else this.setState(action === 'pause' ? 'paused' : 'running');
    return ok({});
  }

  private setState(state: JobState): void {
    this.state = state;
    this.clearTimers();
    if (state === 'running') {
      this.metrics.resetRates();
      const clock = this.deps.clock;
      this.timers.push(clock.setInterval(() => void this.evaluateIfChanged(), this.spec.evalIntervalSeconds * 1000));
      if (this.deps.checkpoints) this.timers.push(clock.setInterval(() => void this.checkpointIfChanged(), this.spec.checkpointSeconds * 1000));
      // A late lease goes back to the queue even when nobody asks for one.
      this.timers.push(clock.setInterval(() => this.accounting.sweep(), LEASE_SWEEP_MS));
      const trusted = this.trusted;
      if (trusted) this.timers.push(clock.setInterval(() => trusted.refresh(), this.spec.trustedRefreshSeconds * 1000));
    } else {
      // An open sync round must not be applied by the departures below, nor hold acks forever.
      this.consistency.halt(fail(ErrorCode.JOB_NOT_RUNNING, `Job ${this.id} is ${state}`));
      // Leases of a job that is not training would only expire; give the shards back now.
      for (const w of [...this.workers]) this.release(w);
    }
    log.info('job state', { job: this.id, state });
    this.deps.onStateChange(this);
  }

  private finish(state: 'done' | 'stopped' | 'failed', failure: string | null, reason: string): void {
    if (FINAL_JOB_STATES.includes(this.state)) return;
    this.failure = failure;
    log.info(`job ${state}`, { job: this.id, reason, version: this.store.version });
    this.setState(state);
    void this.evaluateIfChanged().then(() => this.checkpointIfChanged());
  }

  fail(reason: string): void {
    this.finish('failed', reason, reason);
  }

  /** Stops timers (coordinator shutdown, deletion); the state is left as it is. */
  dispose(): void {
    this.clearTimers();
    this.trusted?.dispose();
    this.store.dispose();
  }

  private clearTimers(): void {
    for (const t of this.timers) this.deps.clock.clear(t);
    this.timers = [];
  }

  assignment(): JobAssignment {
    return {
      jobId: this.id,
      name: this.spec.name,
      description: this.spec.description,
      topology: this.deps.model.topology,
      tensors: this.store.specs.map((s) => ({ name: s.name, shape: [...s.shape] })),
      batchSize: this.spec.batchSize,
      nFetch: this.spec.nFetch,
      nPush: this.spec.nPush,
      codec: this.spec.codec,
      topkRatio: this.spec.topkRatio,
      mode: this.modeAssignment(),
      learningRate: this.spec.optimizer.learningRate,
      dataset: {
        name: this.deps.dataset.name,
        featureShape: [...this.deps.dataset.featureShape],
        numClasses: this.deps.dataset.numClasses,
      },
    };
  }

  /** The mode's name and the spec fields its descriptor passes on to workers (shared/modes.ts). */
  private modeAssignment(): ModeAssignment {
    const { mode } = this.spec;
    const fields: readonly ModeWorkerField[] = MODES[mode].workerFields;
    // Exactly Pick<JobSpec, WorkerFieldsOf<mode>>, which TypeScript cannot follow through the table lookup.
    return Object.fromEntries([['name', mode], ...fields.map((f) => [f, structuredClone(this.spec[f])])]) as ModeAssignment;
  }

  /**
   * The current parameters; as a delta when the worker holds version `have` exactly
   * and the delta is the smaller message (see shared/param-delta.ts).
   */
  pull(have?: number): Result<ParamsSnapshot> {
    const delta = have === undefined ? null : this.store.delta(have);
    const { version, manifest, data } = delta ?? { version: this.store.version, ...this.store.payload().payload };
    this.stats.pulls += 1;
    if (delta) this.stats.deltaPulls += 1;
    this.stats.bytesOut += asBytes(data).byteLength;
    return ok({ jobId: this.id, version, manifest, data });
  }

  /**
   * Takes the push's batches from its lease, validates the gradient and hands it to the
   * consistency mode; sync modes answer when the gradient's round closes. Once answered,
   * the batches are credited (accepted) or go back to the queue (refused), and every
   * refusal is counted by code.
   */
  push(workerId: string, push: IncomingPush): Result<PushAccepted> | Promise<Result<PushAccepted>> {
    if (this.state !== 'running') return this.refusedPush(fail(ErrorCode.JOB_NOT_RUNNING, `Job ${this.id} is ${this.state}`));
    const taken = this.accounting.take(workerId, push.leaseId, push.batches);
    if ('ok' in taken) return this.refusedPush(taken);
    const result = this.tryPush(workerId, push, taken);
    if (result instanceof Promise) return result.then((r) => this.settled(workerId, push, taken, r));
    return this.settled(workerId, push, taken, result);
  }

  private tryPush(workerId: string, push: IncomingPush, taken: TakenBatches): Result<PushAccepted> | Promise<Result<PushAccepted>> {
    const badLoss = lossRefusal(push.loss);
    if (badLoss) return badLoss;
    const admitted = this.consistency.admit(workerId, push.baseVersion);
    if ('ok' in admitted) return admitted;
    // The norm is judged per batch as the lease counts them, never as the worker claims.
    const refused = this.gate.check({ manifest: push.manifest, data: push.data, batches: taken.to - taken.from }, workerId, push.baseVersion);
    if (refused) {
      // A sync round stops waiting for a worker whose gradient it refused (a Byzantine one would stall every round to its deadline); a valid retry still joins.
      this.consistency.leave(workerId);
      return refused;
    }
    return this.consistency.accept(workerId, admitted);
  }

  /** The push was answered: its examples are credited from the lease, or its batches requeued. */
  private settled(workerId: string, push: IncomingPush, taken: TakenBatches, r: Result<PushAccepted>): Result<PushAccepted> {
    const completion = this.accounting.settle(workerId, taken, r);
    if (!r.ok) return this.refusedPush(r);
    recordAccepted(this.stats, taken.examples, push.loss, r.staleness, asBytes(push.data).byteLength, this.store.parameterCount * 4);
    this.deps.onCredited?.(this, workerId, taken.examples);
    if (completion.epochDone) log.info('epoch complete', { job: this.id, epoch: completion.epoch, version: this.store.version });
    if (this.ledger.finished) this.finish('done', null, 'all epochs trained');
    return r;
  }

  private refusedPush(r: Failure): Failure {
    countRejection(this.stats, r.code);
    return r;
  }

  /** Assigned workers that are training (not waiting for a shard). */
  private activeWorkers(): Set<string> {
    const active = new Set(this.workers);
    for (const w of this.idle) active.delete(w);
    return active;
  }

  lease(workerId: string): Result<LeaseAnswer> {
    if (this.state !== 'running') return fail(ErrorCode.JOB_NOT_RUNNING, `Job ${this.id} is ${this.state}`);
    const r = this.accounting.lease(workerId);
    if (r.ok && r.lease) this.idle.delete(workerId);
    else if (r.ok || r.code === ErrorCode.WORKER_BARRED) {
      // No shard (the last epoch is draining) or barred: a sync round does not wait for this worker until it leases again.
      this.idle.add(workerId);
      this.consistency.leave(workerId);
    }
    return r;
  }

  complete(workerId: string, leaseId: string): Result<CompleteAnswer> {
    const c = this.accounting.complete(workerId, leaseId);
    if ('ok' in c) return c;
    if (this.ledger.finished) this.finish('done', null, 'all epochs trained');
    return ok(c);
  }

  /** The worker's own report of its speed: its lease deadlines follow it. */
  reported(workerId: string, examplesPerSecond: number): void {
    this.accounting.reported(workerId, examplesPerSecond);
  }

  /** A worker left: its shards go back to the queue. */
  release(workerId: string): void {
    this.workers.delete(workerId);
    this.idle.delete(workerId);
    this.accounting.release(workerId);
    this.consistency.leave(workerId);
    this.gate.forget(workerId);
  }

  /** Evaluates the current parameters unless this version was already scored. */
  evaluateIfChanged(): Promise<EvalRecord | null> {
    if (this.evalInFlight) return this.evalInFlight;
    if (this.store.version === this.lastEvaluatedVersion) return Promise.resolve(this.evals.at(-1) ?? null);
    this.evalInFlight = this.evaluate().finally(() => (this.evalInFlight = null));
    return this.evalInFlight;
  }

  private async evaluate(): Promise<EvalRecord | null> {
    const version = this.store.version;
    const examplesSeen = this.stats.examplesSeen;
    const ds = this.deps.dataset;
    try {
      const r = await this.deps.evaluation.evaluate({
        topology: this.deps.model.topology,
        tensors: this.store.specs.map((s) => ({ name: s.name, shape: [...s.shape] })),
        values: this.store.copyValues(),
        datasetKey: ds.name,
        testSet: () => ({ features: featuresAsFloat(ds, ds.test), labels: ds.test.labels, featureShape: ds.featureShape, numClasses: ds.numClasses }),
      });
      this.lastEvaluatedVersion = version;
      if (!Number.isFinite(r.loss)) {
        // Finite pushes can still drive the parameters to overflow (a learning rate far too high).
        this.fail(`diverged: test loss is ${r.loss} at version ${version}; lower the learning rate`);
        return null;
      }
      const rec: EvalRecord = { version, examplesSeen, accuracy: r.accuracy, loss: r.loss, at: this.deps.clock.now() };
      this.evals.push(rec);
      this.confusion = { version, matrix: r.confusion };
      log.info('evaluated', { job: this.id, version, accuracy: +r.accuracy.toFixed(4), loss: +r.loss.toFixed(4), ms: Math.round(r.ms) });
      this.deps.onEval(this, { ...rec, confusion: r.confusion });
      if (this.spec.targetAccuracy !== null && r.accuracy >= this.spec.targetAccuracy && this.state === 'running') {
        this.finish('done', null, `reached target accuracy ${this.spec.targetAccuracy}`);
      }
      return rec;
    } catch (err) {
      log.warn('evaluation failed', { job: this.id, err });
      return null;
    }
  }

  /** Writes a checkpoint when the version moved since the last one. */
  checkpointIfChanged(): Promise<void> {
    const store = this.deps.checkpoints;
    if (!store || this.checkpointInFlight || this.store.version === this.lastCheckpointVersion) return this.checkpointInFlight ?? Promise.resolve();
    const content: CheckpointContent = {
      jobId: this.id,
      at: this.deps.clock.now(),
      store: this.store.snapshot(),
      ledger: this.ledger.exportState(),
      stats: structuredClone(this.stats),
    };
    this.checkpointInFlight = store
      .write(content)
      .then((info) => {
        this.lastCheckpointVersion = content.store.version;
        log.debug('checkpoint written', { job: this.id, version: info.version, bytes: info.bytes });
      })
      .catch((err: unknown) => {
        // A deleted job's last writes are cancelled on purpose: nothing went wrong.
        if (err instanceof CheckpointCancelledError) log.debug('checkpoint cancelled', { job: this.id, reason: err.message });
        else log.error('checkpoint failed', { job: this.id, err });
      })
      .finally(() => (this.checkpointInFlight = null));
    return this.checkpointInFlight;
  }

  /**
   * Coordinator shutdown: no more scheduled work; an evaluation and a checkpoint in
   * flight finish, then the final version is checkpointed (an interval checkpoint that
   * was being written when the stop came holds an older version).
   */
  async quiesce(): Promise<void> {
    this.clearTimers();
    await this.evalInFlight;
    await this.checkpointInFlight;
    await this.checkpointIfChanged();
  }

  /** Loads a checkpoint (coordinator restart) before the job runs again. */
  restore(c: CheckpointContent): void {
    this.store.restore(c.store);
    this.ledger.restore(c.ledger);
    // Checkpoints from before a counter existed lack it: start it at zero.
    this.stats = { ...emptyStats(), ...c.stats };
    this.lastCheckpointVersion = c.store.version;
    this.resumedFrom = { version: c.store.version, at: c.at };
  }

  /** Restores a stored state without the transition side effects (used at start-up). */
  reinstate(state: JobState, failure: string | null): void {
    if (state === 'running') this.setState('running');
    else {
      this.state = state;
      this.failure = failure;
    }
  }

  summary(): JobSummary {
    const last = this.evals.at(-1);
    return {
      id: this.id,
      name: this.spec.name,
      state: this.state,
      model: this.spec.model,
      dataset: this.spec.dataset,
      version: this.store.version,
      epoch: this.ledger.epochsCompleted,
      examplesSeen: this.stats.examplesSeen,
      workers: this.workers.size,
      lastEval: last ? { version: last.version, accuracy: last.accuracy, loss: last.loss, at: last.at } : null,
    };
  }
}
