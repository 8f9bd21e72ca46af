/**
 * One training job as the chief runs it: the parameter store, the shard ledger, the
 * evaluation schedule and the counters. Handlers for worker events call into it;
 * it knows nothing about sockets.
 */
import { asBytes } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { JobSpec } from '../../shared/job-spec.js';
import type {
  CompleteAnswer,
  EvalRecord,
  GradientPush,
  JobAssignment,
  JobState,
  JobSummary,
  LeaseAnswer,
  ParamsSnapshot,
  PushAccepted,
} from '../../shared/protocol.js';
import { fail, ok, type Result } from '../../shared/result.js';
import type { Dataset } from '../data/dataset.js';
import { ShardLedger } from '../data/shard-ledger.js';
import type { ShardInfo } from '../data/shard-store.js';
import type { EvaluationService } from '../eval/evaluator.js';
import { createLogger } from '../logger.js';
import { createOptimizer } from '../params/optimizers.js';
import { ParameterStore } from '../params/parameter-store.js';
import { decodeGradientInto, type UncheckedManifest } from '../params/push-validation.js';
import { checkStaleness } from '../params/staleness-policy.js';
import { countRejection, emptyStats, recordAccepted, type JobStats } from './job-stats.js';
import type { InitialModel } from './model-init.js';

const log = createLogger('job');

/** A push whose fields have passed the wire schema but not yet the model checks. */
export type IncomingPush = Omit<GradientPush, 'manifest'> & { manifest: UncheckedManifest };

/** Headroom over the model's own size for a gradient payload. */
export function payloadCapBytes(parameterCount: number): number {
  return parameterCount * 4 + 64 * 1024;
}

export interface JobDeps {
  dataset: Dataset;
  shards: ShardInfo[];
  model: InitialModel;
  evaluation: EvaluationService;
  now: () => number;
  /** Told when the job's state changes (e.g. to done), so workers can be reassigned. */
  onStateChange: (job: Job) => void;
}

export class Job {
  state: JobState = 'running';
  failure: string | null = null;
  readonly store: ParameterStore;
  readonly ledger: ShardLedger;
  readonly stats: JobStats = emptyStats();
  readonly evals: EvalRecord[] = [];
  readonly workers = new Set<string>();
  private evalTimer: NodeJS.Timeout | null = null;
  private evalInFlight: Promise<EvalRecord | null> | null = null;
  private lastEvaluatedVersion = -1;
  private readonly maxPayloadBytes: number;

  constructor(
    readonly id: string,
    readonly spec: JobSpec,
    private readonly deps: JobDeps,
  ) {
    this.store = new ParameterStore(deps.model.tensors, deps.model.values, createOptimizer(spec.optimizer));
    this.ledger = new ShardLedger({
      shardCount: deps.shards.length,
      epochs: spec.epochs,
      leaseMs: spec.leaseSeconds * 1000,
      seed: spec.seed,
      now: deps.now,
    });
    this.maxPayloadBytes = payloadCapBytes(this.store.parameterCount);
  }

  get payloadCap(): number {
    return this.maxPayloadBytes;
  }

  start(): void {
    this.evalTimer = setInterval(() => void this.evaluateIfChanged(), this.spec.evalIntervalSeconds * 1000);
    this.evalTimer.unref();
  }

  stop(): void {
    if (this.evalTimer) clearInterval(this.evalTimer);
    this.evalTimer = null;
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
      codec: 'fp32',
      learningRate: this.spec.optimizer.learningRate,
      dataset: {
        name: this.deps.dataset.name,
        featureShape: [...this.deps.dataset.featureShape],
        numClasses: this.deps.dataset.numClasses,
      },
    };
  }

  pull(): Result<ParamsSnapshot> {
    const { version, payload } = this.store.payload();
    this.stats.bytesOut += asBytes(payload.data).byteLength;
    return ok({ jobId: this.id, version, manifest: payload.manifest, data: payload.data });
  }

  /** Validates and applies one gradient; every refusal is counted by code. */
  push(workerId: string, push: IncomingPush): Result<PushAccepted> {
    const result = this.tryPush(workerId, push);
    if (!result.ok) countRejection(this.stats, result.code);
    return result;
  }

  private tryPush(workerId: string, push: IncomingPush): Result<PushAccepted> {
    if (this.state !== 'running') return fail(ErrorCode.JOB_NOT_RUNNING, `Job ${this.id} is ${this.state}`);
    const fresh = checkStaleness(this.store.version, push.baseVersion, this.spec.maxStaleness);
    if ('ok' in fresh) return fresh;
    const bad = decodeGradientInto(this.store, push.manifest, push.data, { codec: this.spec.codec, maxBytes: this.maxPayloadBytes });
    if (bad) return bad;
    const version = this.store.applyScratch();
    recordAccepted(this.stats, push.examples, push.loss, fresh.staleness, asBytes(push.data).byteLength);
    this.ledger.renew(workerId);
    return ok({ version, staleness: fresh.staleness });
  }

  lease(workerId: string): Result<LeaseAnswer> {
    if (this.state !== 'running') return fail(ErrorCode.JOB_NOT_RUNNING, `Job ${this.id} is ${this.state}`);
    const l = this.ledger.lease(workerId);
    if (!l) return ok({ lease: null });
    const shard = this.deps.shards[l.shardIndex]!;
    return ok({
      lease: { leaseId: l.leaseId, epoch: l.epoch, shardIndex: l.shardIndex, url: shard.url, examples: shard.count, ttlMs: this.spec.leaseSeconds * 1000 },
    });
  }

  complete(workerId: string, leaseId: string): Result<CompleteAnswer> {
    const c = this.ledger.complete(leaseId, workerId);
    if (!c) return fail(ErrorCode.UNKNOWN_LEASE, `Lease ${leaseId} is not held by this worker (expired, released or never granted)`);
    if (c.epochDone) log.info('epoch complete', { job: this.id, epoch: c.epoch, version: this.store.version });
    if (this.ledger.finished) void this.finish('all epochs trained');
    return ok(c);
  }

  /** A worker left: its shards go back to the queue. */
  release(workerId: string): void {
    this.workers.delete(workerId);
    const n = this.ledger.release(workerId);
    if (n) log.debug('requeued shards of departed worker', { job: this.id, workerId, shards: n });
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
    try {
      const r = await this.deps.evaluation.evaluate({
        topology: this.deps.model.topology,
        dataset: this.spec.dataset,
        tensors: this.store.specs.map((s) => ({ name: s.name, shape: [...s.shape] })),
        values: this.store.copyValues(),
      });
      const rec: EvalRecord = { version, examplesSeen, accuracy: r.accuracy, loss: r.loss, at: this.deps.now() };
      this.lastEvaluatedVersion = version;
      this.evals.push(rec);
      log.info('evaluated', { job: this.id, version, accuracy: +r.accuracy.toFixed(4), loss: +r.loss.toFixed(4), ms: Math.round(r.ms) });
      if (this.spec.targetAccuracy !== null && r.accuracy >= this.spec.targetAccuracy && this.state === 'running') {
        void this.finish(`reached target accuracy ${this.spec.targetAccuracy}`);
      }
      return rec;
    } catch (err) {
      log.warn('evaluation failed', { job: this.id, error: err instanceof Error ? err.message : String(err) });
      return null;
    }
  }

  private async finish(reason: string): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'done';
    this.stop();
    log.info('job done', { job: this.id, reason, version: this.store.version });
    this.deps.onStateChange(this);
    await this.evaluateIfChanged();
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
