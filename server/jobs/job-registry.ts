/**
 * The coordinator's jobs: creation (validated against the dataset and the model
 * limits), deletion, persistence of their states, restoration after a restart, and
 * the policy that assigns workers: a free worker goes to the running job with the
 * highest priority, then the fewest workers, then the oldest, so running jobs of equal
 * priority share volunteers evenly.
 */
import { ErrorCode } from '../../shared/errors.js';
import { parseJobSpec, type JobSpec } from '../../shared/job-spec.js';
import type { EvalRecord } from '../../shared/protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import type { CheckpointStore } from '../checkpoints/checkpoint-store.js';
import type { Clock } from '../clock.js';
import type { DatasetRegistry } from '../data/datasets.js';
import type { ShardStore } from '../data/shard-store.js';
import type { EvaluationService } from '../eval/evaluator.js';
import { createLogger } from '../logger.js';
import type { JobStore, StoredJob } from '../store/job-store.js';
import { Job, type JobDeps } from './job.js';
import type { PsCluster } from '../cluster/ps-cluster.js';
import { psSpecRefusal, RemoteParameterService } from '../params/remote-parameter-service.js';
import { HISTORY_POINTS } from './job-metrics.js';
import { resumeFromCheckpoint, rollBack } from './job-resume.js';
import { PsTaskRecovery } from './ps-task-recovery.js';
import { buildInitialModel, ModelSpecError } from './model-init.js';
import { referenceGradientNorm } from './reference-gradient.js';
import { stageCostsOf } from './stage-refusals.js';
import type { ReplicaNotice } from './replica-board.js';
import type { ApplySettings } from '../params/apply-engine.js';
import type { PushAdmission } from '../params/push-admission.js';
import type { WorkerAssignments } from '../worker/assignments.js';
import type { TrustedGradientService } from '../params/trusted-gradient.js';

const log = createLogger('jobs');

export interface JobRegistryDeps {
  shardStore: ShardStore;
  datasets: DatasetRegistry;
  evaluation: EvaluationService;
  /** Computes the PS's own gradients (norm bound reference, direction check). */
  trustedGradients: TrustedGradientService;
  store: JobStore | null;
  checkpoints: CheckpointStore | null;
  clock: Clock;
  /** Who is on which job (the worker namespace changes it; jobs and pickFor read it). */
  assignments: WorkerAssignments;
  /** Largest model (trainable parameters) a job may have. */
  maxParameters: number;
  onStateChange: (job: Job) => void;
  onEval: (job: Job, rec: EvalRecord) => void;
  /** An accepted push's examples, as the lease counts them (volunteers' contribution). */
  onCredited?: (job: Job, workerId: string, examples: number) => void;
  /** How the parameter server applies updates (PS kernels and threads). */
  apply?: ApplySettings;
  /** The process's bound on pushes taken at once, shared by every job (BUSY beyond it). */
  admission?: PushAdmission;
  /** Tells a worker of a job split into stages that it joined a replica or that its replica is gone. */
  onReplicaNotice?: (job: Job, workerId: string, notice: ReplicaNotice) => void;
  /** The ps tasks jobs keep their parameters on (RemoteParameterService); default null: in this process. */
  cluster?: PsCluster | null;
}

/** A ps task refused a job's slices: the job is not created. */
class PsRefusal extends Error {
  constructor(readonly failure: Failure) {
    super(failure.message);
  }
}

export class JobRegistry {
  private readonly jobs = new Map<string, Job>();
  /** Jobs on ps tasks: what each does when a task goes down and comes back. */
  private readonly recoveries = new Map<string, PsTaskRecovery>();
  /** Job numbers when there is no store (nothing outlives the process). */
  private nextId = 1;

  constructor(private readonly deps: JobRegistryDeps) {}

  /**
   * `id` is asked for only once the model is built, so a refused spec uses up no id.
   * `restoring`: a stored job after a restart, whose slices the ps tasks may still hold
   * (then adopted: `adopted` is true).
   */
  private async build(id: () => string, spec: JobSpec, topology: object | null, createdAt: number, restoring = false): Promise<{ job: Job; adopted: boolean }> {
    const dataset = this.deps.datasets.get(spec.dataset);
    const model = await buildInitialModel(spec.model, topology, dataset.featureShape, dataset.numClasses, spec.seed, this.deps.maxParameters);
    const stageCosts = stageCostsOf(spec, model.topology, dataset.featureShape, model.tensors);
    const shards = this.deps.shardStore.catalog(dataset, spec.shardSize);
    // Local mode pushes parameter deltas after H steps, not gradients: a gradient norm is no reference for them.
    const cluster = this.deps.cluster;
    // On ps tasks, kept per placed slice: each task is sent its own slices' columns.
    const pieces = cluster ? RemoteParameterService.piecesOf(model.tensors, cluster) : undefined;
    const referenceNorm = spec.normBound > 0 && spec.mode !== 'local' ? await referenceGradientNorm(model, dataset, spec.batchSize, pieces) : null;
    const jobId = id();
    let parameters: JobDeps['parameters'];
    let remote: RemoteParameterService | null = null;
    let adopted = false;
    if (cluster) {
      const trusted = { service: this.deps.trustedGradients, topology: model.topology, dataset };
      const o = { jobId, tensors: model.tensors, initial: model.values, cluster, referenceNorm, trusted };
      const made = restoring ? await RemoteParameterService.attach(spec, o) : await RemoteParameterService.create(spec, o);
      if ('ok' in made) throw new PsRefusal(made);
      const service = made instanceof RemoteParameterService ? made : made.service;
      // Detached (a task was down): nothing to load the checkpoint's parameters into yet; its return adopts or rolls back.
      adopted = !(made instanceof RemoteParameterService) && (made.adopted || made.service.detached);
      remote = service;
      parameters = (_spec, ctx) => service.withContext(ctx);
    }
    const job = new Job(jobId, spec, createdAt, {
      referenceNorm,
      ...this.deps,
      parameters,
      dataset,
      shards,
      model,
      stageCosts,
      onStateChange: (job) => {
        // A job paused only while a ps task is down is one the operator runs: so it is stored.
        this.deps.store?.setState(job.id, job.storedState, job.failure);
        this.deps.onStateChange(job);
      },
      onEval: (job, rec) => {
        // A deleted job's last evaluation (the one its stop starts) returns after its rows are gone.
        if (this.jobs.get(job.id) !== job) return;
        this.deps.store?.addEval(job.id, rec);
        this.deps.onEval(job, rec);
      },
    });
    if (cluster && remote) {
      const checkpoints = this.deps.checkpoints;
      this.recoveries.get(jobId)?.dispose();
      this.recoveries.set(jobId, new PsTaskRecovery({ job, service: remote, cluster, rollBack: () => rollBack(job, checkpoints) }));
    }
    return { job, adopted };
  }

  /** The recovery watch of a job on ps tasks (tests wait on its checks). */
  recoveryOf(id: string): Pick<PsTaskRecovery, 'settled'> | undefined {
    return this.recoveries.get(id);
  }

  /** Validates and builds a job as a draft; `start` runs it at once. */
  async create(spec: JobSpec, topology: object | null, start: boolean): Promise<Result<{ job: Job }>> {
    if (!this.deps.datasets.has(spec.dataset)) return fail(ErrorCode.BAD_REQUEST, `dataset: no dataset named "${spec.dataset}"`);
    if (spec.model !== 'custom' && topology) return fail(ErrorCode.BAD_REQUEST, 'topology: only a custom model takes a topology');
    const unsupported = this.deps.cluster ? psSpecRefusal(spec, this.deps.cluster.tasks) : null;
    if (unsupported) return unsupported;
    let job: Job;
    try {
      job = (await this.build(() => `job-${this.deps.store?.takeJobNumber() ?? this.nextId++}`, spec, topology, this.deps.clock.now())).job;
    } catch (err) {
      if (err instanceof ModelSpecError) return fail(err.code, `${err.field}: ${err.message}`);
      if (err instanceof PsRefusal) return err.failure;
      if (err instanceof Error && /dataset|Fashion-MNIST/i.test(err.message)) return fail(ErrorCode.BAD_REQUEST, `dataset: ${err.message}`);
      throw err;
    }
    if (!this.deps.datasets.has(spec.dataset)) {
      // Deleted while the model was being built: a job must not outlive its dataset (it could not restart).
      this.forget(job);
      job.discard();
      return fail(ErrorCode.CONFLICT, `dataset: "${spec.dataset}" was deleted while the job was being created`);
    }
    this.jobs.set(job.id, job);
    this.deps.store?.saveJob({ id: job.id, spec, topology: spec.model === 'custom' ? job.topology : null, state: 'draft', failure: null, createdAt: job.createdAt });
    // Here rather than in a caller: the operator API and createCoordinator both create jobs.
    log.info('job created', { job: job.id, jobName: spec.name, model: spec.model, parameters: job.parameters.parameterCount });
    if (start) job.control('start');
    return ok({ job });
  }

  /**
   * Rebuilds every stored job; each continues from its newest checkpoint that fits
   * (job-resume.ts). A job that cannot be rebuilt or resumed is logged, or marked
   * failed with its reason, and the others start all the same.
   */
  async restore(): Promise<Job[]> {
    const store = this.deps.store;
    if (!store) return [];
    const restored: Job[] = [];
    const stored = store.listJobs();
    for (const s of stored) {
      try {
        const job = await this.restoreOne(s, store);
        if (job) restored.push(job);
      } catch (err) {
        log.error('cannot restore job', { job: s.id, err });
      }
    }
    const orphans = (await this.deps.checkpoints?.removeAllBut(new Set(stored.map((s) => s.id)))) ?? [];
    if (orphans.length) log.info('removed checkpoints of deleted jobs', { jobs: orphans });
    return restored;
  }

  private async restoreOne(s: StoredJob, store: JobStore): Promise<Job | null> {
    // A spec stored before a field existed gets that field's default, as a new spec would.
    const spec = parseJobSpec(s.spec);
    if (!spec.ok) {
      log.error('cannot restore job: its stored spec is no longer valid', { job: s.id, error: spec.message });
      return null;
    }
    const { job, adopted } = await this.build(() => s.id, spec.value, s.topology, s.createdAt, true);
    // Adopted from the ps tasks: their live parameters are newer than any checkpoint, which gives the ledger and counters.
    const unusable = this.deps.checkpoints ? await resumeFromCheckpoint(job, this.deps.checkpoints, { keepParameters: adopted }) : null;
    const last = store.evals(s.id, { confusion: true }).filter((e) => e.confusion).at(-1);
    job.restoreRecords({
      evals: store.evals(s.id),
      confusion: last?.confusion ? { version: last.version, matrix: last.confusion } : null,
      history: store.metrics(s.id, HISTORY_POINTS),
    });
    this.jobs.set(job.id, job);
    if (unusable) {
      log.error('job failed at restart', { job: s.id, reason: unusable });
      job.reinstate('failed', unusable);
      store.setState(s.id, 'failed', unusable);
    } else {
      job.reinstate(s.state, s.failure);
    }
    return job;
  }

  async remove(id: string): Promise<boolean> {
    const job = this.jobs.get(id);
    if (!job) return false;
    if (job.state === 'running' || job.state === 'paused') job.control('stop');
    this.forget(job);
    job.discard();
    this.jobs.delete(id);
    this.deps.store?.deleteJob(id);
    await this.deps.checkpoints?.remove(id);
    return true;
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  list(): Job[] {
    return [...this.jobs.values()];
  }

  /** The ps tasks jobs are placed over (1: the parameters are in this process, one task's worth). */
  get psTasks(): number {
    return this.deps.cluster?.tasks ?? 1;
  }

  /** The job a newly free worker should train, or null when nothing is running. */
  pickFor(): Job | null {
    let best: Job | null = null;
    for (const job of this.jobs.values()) {
      if (job.state !== 'running') continue;
      if (!best || job.spec.priority > best.spec.priority || (job.spec.priority === best.spec.priority && job.workers.size < best.workers.size)) best = job;
    }
    return best;
  }

  close(): void {
    for (const r of this.recoveries.values()) r.dispose();
    this.recoveries.clear();
    for (const job of this.jobs.values()) job.dispose();
  }

  private forget(job: Job): void {
    this.recoveries.get(job.id)?.dispose();
    this.recoveries.delete(job.id);
  }
}
