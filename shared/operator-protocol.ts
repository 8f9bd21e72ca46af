/**
 * The operator's contract: the live `/operator` socket.io namespace (push-only state
 * for the dashboard) and the shapes of the authenticated REST API. Mutations go
 * through REST (`Authorization: Bearer <token>`); the socket authenticates with
 * `io('/operator', { auth: { token } })` and is refused without it.
 *
 * REST (all answers JSON; failures `{ok:false, code, message}` with HTTP 4xx; details in
 * docs/operator-api.md):
 *   GET    /api/health                      public
 *   GET    /api/jobs                        public  → JobSummary[]
 *   GET    /api/jobs/:id                    public  → JobDetail
 *   POST   /api/auth/check                  operator → {ok:true}
 *   POST   /api/jobs                        operator body JobCreateRequest → 201 {ok, job: JobDetail}
 *   POST   /api/jobs/:id/{start|pause|resume|stop}  operator → {ok, job: JobDetail}
 *   DELETE /api/jobs/:id                    operator → {ok:true}
 *   GET    /api/jobs/:id/model              operator → tfjs model.json (weightsManifest → weights.bin)
 *   GET    /api/jobs/:id/model/weights.bin  operator → binary weights
 *   GET    /api/jobs/:id/model.zip          operator → <name>-<id>-v<version>/{model.json, weights.bin, README.txt}
 *   GET    /api/jobs/:id/metrics.json       operator → {job, evals (with confusion), history}
 *   GET    /api/jobs/:id/evals.csv          operator → one row per evaluation, per-class accuracy columns
 *   GET    /api/jobs/:id/history.csv        operator → one row per sampled second
 *   GET    /api/jobs/:id/checkpoints        operator → CheckpointInfo[]
 *   GET    /api/jobs/:id/checkpoints/:name  operator → checkpoint file
 *   GET    /api/datasets                    public  → DatasetInfo[]
 *   POST   /api/datasets?name=N&format=F    operator body: the file → 201 {ok, dataset}
 *   DELETE /api/datasets/:name              operator → {ok:true} (409 for built-ins and datasets jobs use)
 *   GET    /metrics                         Prometheus text
 */
import type { ErrorCode } from './errors.js';
import type { JobSpec, JobSpecInput } from './job-spec.js';
import type { AdapterInfo, BackendName, EvalRecord, JobSummary } from './protocol.js';
import type { StagePath } from './replica-protocol.js';

export const OPERATOR_NAMESPACE = '/operator';

export interface JobCreateRequest {
  spec: JobSpecInput;
  /** tfjs Layers topology (model.toJSON()) when spec.model is 'custom'. */
  topology?: object;
  /** Start at once instead of staying a draft. */
  start?: boolean;
}

/** One point of a job's live series, sampled every second while it runs. */
export interface MetricPoint {
  at: number;
  version: number;
  examplesSeen: number;
  examplesPerSecond: number;
  pushesPerSecond: number;
  /** Moving average of the training loss workers report. */
  trainLoss: number | null;
  bytesIn: number;
  bytesOut: number;
}

export interface JobDetail extends JobSummary {
  description: string;
  spec: JobSpec;
  /** Why the job failed, when state is 'failed'. */
  failure: string | null;
  /**
   * Why the job is paused ("paused by the operator", or what holds it: "ps task 1
   * (host:port) is unreachable …"); also set while a hold is on a job that is not running. Null otherwise.
   */
  pausedReason: string | null;
  createdAt: number;
  pushesAccepted: number;
  /** Accepted pushes the norm bound scaled down to it (a warm worker's early transient); a replica step counts once. */
  pushesClipped: number;
  pushesRejected: Partial<Record<ErrorCode, number>>;
  /** staleness → accepted pushes. */
  staleness: Record<number, number>;
  bytesIn: number;
  bytesOut: number;
  /** Mean encoded gradient bytes per accepted push (null before the first). */
  bytesPerPush: number | null;
  /** fp32 size ÷ encoded size of the accepted gradients (1 for fp32; null before the first push). */
  compressionRatio: number | null;
  /** Mean parameter bytes per pull: below the fp32 model size when pulls are deltas. */
  bytesPerPull: number | null;
  /** Pulls answered with only the entries changed since the worker's version. */
  deltaPulls: number;
  /**
   * Examples the coordinator accepted in each epoch opened so far, counted from its
   * leases' batches (never from what workers claim), against the examples an epoch has:
   * a closed epoch shows them all.
   */
  examplesAccepted: { perEpoch: number; byEpoch: number[] };
  parameters: number;
  /** Set when the job was resumed from a checkpoint after a coordinator restart. */
  resumedFrom: ResumedFrom | null;
  /** The dataset's class names, by label. */
  classNames: string[];
  /** Training examples in one epoch (the dataset's training split). */
  examplesPerEpoch: number;
  /** The latest evaluation's confusion matrix (matrix[true][predicted]); not in ticks, it comes with `job:eval`. */
  confusion: { version: number; matrix: number[][] } | null;
  evals: EvalRecord[];
  /** The last few minutes of MetricPoints (oldest first). */
  history: MetricPoint[];
  /** A job split into stages (spec.stages > 1): its model replicas and the workers waiting for one; null for data parallelism. */
  replicas: ReplicasView | null;
  /** A job whose parameters live on ps tasks: which tensor or partition is on which task, and bytes per task; null in process. */
  placement: PlacementView | null;
  /** A job in a round mode (sync, local): its rounds so far and what a round waits for; null in the async modes. */
  rounds: RoundsView | null;
}

/** A round mode's rounds since the coordinator started (docs/consistency-modes.md). */
export interface RoundsView {
  /** Rounds closed, one version each. */
  closed: number;
  /** Of them, those closed by their deadline (roundTimeoutSeconds) rather than their quorum. */
  timedOut: number;
  /**
   * What a round opened now waits for: a split job's live replicas (their ids: a replica
   * step is one contribution), else the workers training the job. A replica or worker
   * waiting for a shard is not waited for.
   */
  members: string[];
}

/** The checkpoint a job resumed from; `passedOver`: newer ones it could not use, "<file>: <why>" (a ps task refused a part, not this model's, torn). */
export interface ResumedFrom {
  version: number;
  at: number;
  passedOver?: string[];
}

/** Where a job's parameters are on its ps tasks (shared/placement.ts decides; docs/cluster.md). */
export interface PlacementView {
  /** Tensors of more bytes than this are split by rows over the tasks. */
  partitionBytes: number;
  /** Every task of the cluster, in task order, with what it holds of this job (possibly nothing). */
  tasks: PsTaskLoadView[];
  /** Every tensor or row partition, in the model's order. */
  slices: PlacedSliceView[];
}

export interface PsTaskLoadView {
  task: number;
  /** The task's origin, as workers reach it. */
  endpoint: string;
  /** fp32 bytes of this job's parameters on the task. */
  bytes: number;
  slices: number;
}

export interface PlacedSliceView {
  /** The tensor's name, or `<tensor>/part_<k>` for a partition. */
  name: string;
  /** The tensor it is (part of). */
  tensor: string;
  /** Partition index and count (1: the tensor is whole). */
  partition: number;
  partitions: number;
  /** Rows [rowStart, rowEnd) of the tensor's first dimension. */
  rowStart: number;
  rowEnd: number;
  shape: number[];
  bytes: number;
  task: number;
}

/** One stage of a replica as the operator sees it: its worker, layers and what it holds and sends. */
export interface StageView {
  workerId: string;
  /** Layers [from, to) and their names. */
  from: number;
  to: number;
  layers: string[];
  paramBytes: number;
  /** Values per example it sends to the next stage (0 for the last); fp32 bytes are 4 × this each way. */
  sendsValues: number;
  /** From its latest replica:report (null before one): the share of its time spent computing, and how its frames go. */
  busyFraction: number | null;
  path: StagePath | null;
}

/** A replica's boundary between stage i and i + 1 (i from 0). */
export interface BoundaryView {
  /** Frame bytes both ways per example, as stage i reports them (null before it reports examples). */
  bytesPerExample: number | null;
}

export interface ReplicaView {
  replicaId: string;
  formedAt: number;
  /** `relay` if any stage relays, `webrtc` if every stage reported WebRTC, null before any report. */
  path: StagePath | null;
  stages: StageView[];
  /** K − 1 boundaries. */
  boundaries: BoundaryView[];
}

export interface ReplicasView {
  replicas: ReplicaView[];
  waiting: string[];
}

/** A worker's place in a replica of a split job: stage `stage` (from 0) of `of`. */
export interface WorkerStage {
  replicaId: string;
  stage: number;
  of: number;
}

export interface WorkerView {
  id: string;
  jobId: string | null;
  /**
   * Its place in a split job (spec.stages > 1), or `waiting` while it waits for a replica;
   * null for a data-parallel job, without a job, and while its split job is not running
   * (a paused job's replicas are dissolved and nobody waits).
   */
  stage: WorkerStage | 'waiting' | null;
  userAgent: string;
  backend: BackendName | null;
  adapter: AdapterInfo | null;
  examplesPerSecond: number;
  pushesAccepted: number;
  pushesRejected: Partial<Record<ErrorCode, number>>;
  /** The shards the worker holds a lease on. */
  shards: { epoch: number; shardIndex: number }[];
  connectedAt: number;
  lastSeen: number;
}

export interface DatasetInfo {
  name: string;
  featureShape: number[];
  numClasses: number;
  trainCount: number;
  testCount: number;
  source: 'builtin' | 'upload';
}

export interface CheckpointInfo {
  name: string;
  version: number;
  at: number;
  bytes: number;
}

/** What a tick says about a job: everything but the series and the confusion matrix. */
export type JobTick = Omit<JobDetail, 'history' | 'evals' | 'confusion'>;

export interface DashboardState {
  at: number;
  jobs: JobTick[];
  workers: WorkerView[];
}

export interface OperatorServerToClientEvents {
  /** Once on connect: everything, with history. */
  'dashboard:init': (s: { at: number; jobs: JobDetail[]; workers: WorkerView[] }) => void;
  /** Every second: current state without history, plus each running job's new point. */
  'dashboard:tick': (s: DashboardState & { points: Record<string, MetricPoint> }) => void;
  /**
   * A job the dashboards have not yet seen, with its history and evaluations. Sent before
   * the first `job:eval` of a job created since the last tick, so no evaluation names a
   * job the dashboard does not hold.
   */
  'job:added': (job: JobDetail) => void;
  /** A new evaluation of a job. */
  'job:eval': (e: { jobId: string; record: EvalRecord }) => void;
}

export type OperatorClientToServerEvents = Record<string, never>;
