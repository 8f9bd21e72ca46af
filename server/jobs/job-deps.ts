/**
 * What a job is built from and what it lends out: its dependencies (JobDeps), the
 * context its parameter service is built with and the service built from them
 * (parameterServiceFor), the records a store gives back at restart, and the ledger's
 * read-only view.
 */
import type { ReferenceNorms } from '../params/reference-norms.js';
import type { TrustedGradientService } from '../params/trusted-gradient.js';
import type { JobSpec } from '../../shared/job-spec.js';
import type { LayerCost } from '../../shared/stage-plan.js';
import type { MetricPoint } from '../../shared/operator-protocol.js';
import type { EvalRecord } from '../../shared/protocol.js';
import type { CheckpointStore } from '../checkpoints/checkpoint-store.js';
import type { Clock } from '../clock.js';
import type { Dataset } from '../data/dataset.js';
import type { ShardLedger } from '../data/shard-ledger.js';
import type { ShardInfo } from '../data/shard-store.js';
import type { EvaluationService } from '../eval/evaluator.js';
import type { ApplySettings } from '../params/apply-engine.js';
import { LocalParameterService } from '../params/local-parameter-service.js';
import type { ParameterService } from '../params/parameter-service.js';
import type { PushAdmission } from '../params/push-admission.js';
import type { WorkerAssignments } from '../worker/assignments.js';
import type { Confusion } from './evaluation-schedule.js';
import type { Job } from './job.js';
import type { InitialModel } from './model-init.js';
import type { ReplicaNotice } from './replica-board.js';

/** The ledger as others may see it: its tables and counts, none of its moves. */
export type LedgerView = Pick<
  ShardLedger,
  'shardCount' | 'shardSizes' | 'epochsCompleted' | 'finished' | 'activeLeases' | 'examples' | 'get' | 'all' | 'leasesOf' | 'leaseTable' | 'misfit' | 'exportState'
>;

/** What the parameter service is built from, besides the job's spec. */
export interface ParameterContext {
  clock: Clock;
  /** The job's workers that are training right now (a sync round's quorum). */
  activeWorkers: () => ReadonlySet<string>;
}

export interface JobDeps {
  dataset: Dataset;
  shards: ShardInfo[];
  /** Norms of the PS's own gradient at the initial parameters, per tensor (anchor the norm bound); null: none. */
  referenceNorm: ReferenceNorms | null;
  model: InitialModel;
  /** The model's layer costs when the job splits it into stages (server/jobs/stage-refusals.ts); null or absent: data parallelism. */
  stageCosts?: LayerCost[] | null;
  evaluation: EvaluationService;
  /** Computes the PS's own gradients (norm bound reference, direction check) off the event loop. */
  trustedGradients: TrustedGradientService;
  checkpoints: CheckpointStore | null;
  /** Times records and leases, and runs the evaluation and checkpoint schedules and sync round deadlines. */
  clock: Clock;
  /** Who is on which job (the worker namespace assigns; the job only asks). */
  assignments: Pick<WorkerAssignments, 'workersOf'>;
  /** Told after every state change, so workers can be reassigned and the change stored. */
  onStateChange: (job: Job) => void;
  onEval: (job: Job, rec: EvalRecord) => void;
  /** A push of `workerId` was accepted and its `examples` (the lease's count, not the worker's claim) credited; default: nothing. */
  onCredited?: (job: Job, workerId: string, examples: number) => void;
  /** The process's bound on pushes taken at once (BUSY beyond it), shared by every job; default: none. */
  admission?: PushAdmission;
  /** Tells a worker that it joined a replica or that its replica is gone (stages > 1); default: nothing. */
  onReplicaNotice?: (job: Job, workerId: string, notice: ReplicaNotice) => void;
  /** How the in-process parameter server applies updates; default DEFAULT_APPLY_SETTINGS. */
  apply?: ApplySettings;
  /** Builds the job's parameter service; default: a LocalParameterService from `model`, `referenceNorm` and `apply`. */
  parameters?: (spec: JobSpec, ctx: ParameterContext) => ParameterService;
}

/** Evaluations, the latest confusion matrix and metric history kept by a store, given back at restart. */
export interface JobRecords {
  evals: readonly EvalRecord[];
  confusion: Confusion | null;
  history: readonly MetricPoint[];
}

/**
 * The job's parameter service: the one its deps build (`parameters`: on ps tasks), or by
 * default a LocalParameterService that holds them in this process. The job knows only
 * the ParameterService seam (server/params/parameter-service.ts), whichever this is.
 */
export function parameterServiceFor(jobId: string, spec: JobSpec, deps: JobDeps, ctx: ParameterContext): ParameterService {
  return (
    deps.parameters?.(spec, ctx) ??
    new LocalParameterService(spec, {
      tensors: deps.model.tensors,
      initial: deps.model.values,
      referenceNorm: deps.referenceNorm,
      apply: deps.apply,
      jobId,
      topology: deps.model.topology,
      dataset: deps.dataset,
      trustedGradients: deps.trustedGradients,
      ...ctx,
    })
  );
}
