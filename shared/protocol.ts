/**
 * The wire contract between the coordinator and its workers: socket.io event maps
 * for the `/worker` namespace, plus the HTTP shapes both sides read. Acks are
 * {@link Result}s; nothing throws across the wire.
 */
import type { BatchRange } from './batch-plan.js';
import type { CodecId, TensorManifest } from './codec.js';
import type { JobSpec } from './job-spec.js';
import type { ConsistencyModeName, WorkerFieldsOf } from './modes.js';
import type { DeltaManifest } from './param-delta.js';
import type { PeerCandidateIn, PeerCandidateOut, PeerDescriptionIn, PeerDescriptionOut, RelayFrameIn, RelayFrameOut, ReplicaAssignment, ReplicaDissolved, ReplicaReport } from './replica-protocol.js';
import type { PsRoute, PsTickets } from './ps-route.js';
import type { Result } from './result.js';
import type { TensorSpec } from './tensors.js';

export const WORKER_NAMESPACE = '/worker';

export const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** What a tab tells the coordinator about its WebGPU adapter (GPUAdapterInfo). */
export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
}

/**
 * What the job's consistency mode asks of a worker: the mode's name and the spec
 * fields its descriptor passes on (shared/modes.ts, workerFields), e.g.
 * `{ name: 'local', backupWorkers, localSteps, optimizer }`. async and staleness-aware:
 * the pipelined Downpour loop. sync: push, then wait for the round's version before the
 * next gradient. local: take `localSteps` steps with `optimizer` (on the worker, tfjs),
 * push the parameter delta, then wait for the round's version like sync.
 */
export type ModeAssignment = { [M in ConsistencyModeName]: { name: M } & Pick<JobSpec, WorkerFieldsOf<M>> }[ConsistencyModeName];

/** Everything a worker needs to train on a job. */
export interface JobAssignment {
  jobId: string;
  name: string;
  description: string;
  /** tfjs Layers topology (model.toJSON()). */
  topology: object;
  /** Trainable tensors in the order pushes and pulls carry them. */
  tensors: TensorSpec[];
  batchSize: number;
  nFetch: number;
  nPush: number;
  /** Gradient encoding for pushes (pulls are always fp32). */
  codec: CodecId;
  /** topk: fraction of each tensor's entries a push carries (ignored by other codecs). */
  topkRatio: number;
  mode: ModeAssignment;
  /** Local learning rate for standalone runs (benchmarks); the PS owns the real optimizer. */
  learningRate: number;
  dataset: { name: string; featureShape: number[]; numClasses: number };
  /** Workers per model replica: 1 is data parallelism (every worker holds the whole model). */
  stages: number;
  /**
   * stages > 1: this worker's stage of its replica, or null while it waits for enough
   * workers to form one (a job:assign with it follows). Always null when stages is 1.
   */
  replica: ReplicaAssignment | null;
  /**
   * Present when the job's parameters live on ps tasks (docs/cluster.md): the worker
   * pulls and pushes its slices at the tasks, one socket each, and tells the chief of
   * each push with an empty payload (GradientPush.psRefused says if a task refused it).
   */
  ps?: PsRoute;
}

export interface HelloMessage {
  userAgent: string;
  /** Set when the page was told which backend to use (`?backend=`). */
  forcedBackend?: BackendName | null;
  /**
   * The browser's lasting anonymous volunteer id (VOLUNTEER_ID_PATTERN), under which the
   * coordinator adds up this tab's contribution. Untrusted: it labels, never grants.
   */
  volunteerId?: string | null;
}

export interface WorkerReport {
  backend: BackendName;
  adapter: AdapterInfo | null;
  examplesPerSecond: number;
}

export interface PullRequest {
  jobId: string;
  /** A stage's own tensors (its ReplicaAssignment's): the snapshot carries only these (none: only the version, for a stage without weights). Default: every tensor. */
  tensors?: string[];
  /**
   * The version whose parameters this worker holds exactly as pulled: the server may
   * then answer with only what changed since (a DeltaManifest).
   */
  have?: number;
}

export interface ParamsSnapshot {
  jobId: string;
  version: number;
  /** Every parameter (fp32), or the entries changed since the request's `have`. */
  manifest: TensorManifest | DeltaManifest;
  data: ArrayBuffer | Uint8Array;
}

export interface GradientPush {
  jobId: string;
  /** The lease whose batches the gradient was computed on: a push never spans two leases. A stage after stage 0 (which holds its replica's lease) names its replicaId. */
  leaseId: string;
  /** Parameter version the gradient was computed against. */
  baseVersion: number;
  /**
   * Mini-batches summed into this gradient: the next batches of the lease from where the
   * last push on it ended, exactly min(nPush, batches left) — localSteps instead of
   * nPush in local mode — or the push is refused BATCH_CLAIM. The coordinator counts the
   * examples itself from the lease.
   */
  batches: number;
  /** Mean training loss over those mini-batches, in [0, 16.2] (NaN is sent as null, and refused). A stage other than the last sends null: only the last has the loss. */
  loss: number | null;
  /**
   * A stage's push (stages > 1): the replica's step it closes, counted from 0 by every
   * stage alike. Its tensors are the stage's own; the job holds it until every stage of
   * the replica pushed that step, then applies them as one update. Absent otherwise.
   */
  replicaStep?: number;
  manifest: TensorManifest;
  data: ArrayBuffer | Uint8Array;
  /**
   * A job on ps tasks: the worker pushed its slices to the tasks and sends the chief an
   * empty payload; this is the code of a task's refusal (the chief requeues the batches),
   * absent when every task accepted its slices.
   */
  psRefused?: string;
  /** A job on ps tasks: each task's receipt that it applied this push's slices (the chief credits nothing without all of them). */
  psReceipts?: { task: number; version: number; receipt: string }[];
  /** The grant of `grads:slot`, when the coordinator asked for one (shared/push-slots.ts). */
  slot?: string;
  /**
   * A stage's push that its pull follows (docs/model-parallelism.md, "Where stage 0's idle
   * time went"): answer with these tensors as they stand once the push is settled
   * (`PushAccepted.params`), as the pull sent after the answer would, one round trip
   * sooner. Parameters held by the coordinator only: on ps tasks the stage pulls from them.
   * `have`, as in a pull: the version the stage holds exactly as pulled, so the answer may
   * carry only what changed since (a DeltaManifest).
   */
  pull?: { tensors: string[]; have?: number };
}

export interface PushAccepted {
  version: number;
  staleness: number;
  /** Ask `grads:slot` before the next push: the parameter server is under load. Absent: push directly. */
  slots?: true;
  /** The gradient was over the norm bound and scaled by this factor (< 1) down to it, an early transient (docs/byzantine.md). Absent: applied as pushed. */
  clipped?: number;
  /** The tensors the push asked for (`GradientPush.pull`), taken when it was settled. Absent: pull them. */
  params?: ParamsSnapshot;
}

/** A request for a push slot (the coordinator asked for one: `slots: true` in an answer). */
export interface SlotRequest {
  jobId: string;
  /** The payload's bytes: a grant waits for their upload. */
  bytes: number;
}

export interface SlotGrant {
  /** Send it with the push (GradientPush.slot); it is good for one push on this socket and job. */
  slot: string;
  /** How long the grant lasts. */
  ttlMs: number;
}

export interface LeaseRequest {
  jobId: string;
}

export interface ShardLeaseGrant {
  leaseId: string;
  epoch: number;
  shardIndex: number;
  /** Content-addressed, immutable: safe to cache forever. */
  url: string;
  /**
   * Seed of the shard's example order (shared/batch-plan.ts exampleOrder): batch k is the
   * same examples on every worker, so a piece of a shard can be trained by anyone.
   */
  order: number;
  /** The batches of that order this lease covers, [from, to). A fresh shard: [0, ceil(examples / batchSize)). */
  batches: BatchRange;
  /** Examples in those batches. */
  examples: number;
  /**
   * The longest the lease lasts once it is the worker's oldest; between pushes it lasts
   * as long as the worker's reported rate needs, with slack (server/jobs/lease-terms.ts).
   * A lease taken back answers LEASE_LOST.
   */
  ttlMs: number;
}

export interface LeaseAnswer {
  /** null when no shard is available right now (the job's last epoch is draining). */
  lease: ShardLeaseGrant | null;
}

export interface CompleteRequest {
  jobId: string;
  leaseId: string;
}

export interface CompleteAnswer {
  epoch: number;
  /** True when every example of the lease's epoch has been accepted. */
  epochDone: boolean;
}

export interface ClientToServerEvents {
  'worker:hello': (hello: HelloMessage, ack: (r: Result<{ workerId: string; job: JobAssignment | null }>) => void) => void;
  'worker:report': (report: WorkerReport) => void;
  'params:pull': (req: PullRequest, ack: (r: Result<ParamsSnapshot>) => void) => void;
  'grads:push': (push: GradientPush, ack: (r: Result<PushAccepted>) => void) => void;
  /** A slot for the next push, when answers said `slots: true`: a grant, or BUSY before any payload is sent. */
  'grads:slot': (req: SlotRequest, ack: (r: Result<SlotGrant>) => void) => void;
  'shard:lease': (req: LeaseRequest, ack: (r: Result<LeaseAnswer>) => void) => void;
  'shard:complete': (req: CompleteRequest, ack: (r: Result<CompleteAnswer>) => void) => void;
  /** A frame for a neighbouring stage of the same replica (the relay path). */
  'relay:frame': (frame: RelayFrameOut, ack?: (r: Result) => void) => void;
  /** A stage's figures so far in its replica: path, bytes per neighbour, busy and wall time. */
  'replica:report': (report: ReplicaReport, ack?: (r: Result) => void) => void;
  /** WebRTC signalling to a neighbouring stage of the same replica: stage k offers to k + 1, which answers. */
  'peer:offer': (offer: PeerDescriptionOut, ack?: (r: Result) => void) => void;
  'peer:answer': (answer: PeerDescriptionOut, ack?: (r: Result) => void) => void;
  'peer:ice': (ice: PeerCandidateOut, ack?: (r: Result) => void) => void;
}

export interface ServerToClientEvents {
  /** A new assignment (a job started, or this worker's job ended: null). */
  'job:assign': (job: JobAssignment | null) => void;
  /** A neighbouring stage's frame, relayed. */
  'relay:frame': (frame: RelayFrameIn) => void;
  /** This worker's replica is gone: drop the step in flight and wait for a new job:assign. */
  'replica:dissolve': (notice: ReplicaDissolved) => void;
  /** A neighbouring stage's WebRTC signalling, forwarded. */
  'peer:offer': (offer: PeerDescriptionIn) => void;
  'peer:answer': (answer: PeerDescriptionIn) => void;
  'peer:ice': (ice: PeerCandidateIn) => void;
  /** Fresh ps tickets for the worker's job (on ps tasks), sent before the old ones expire. */
  'ps:tickets': (tickets: PsTickets) => void;
}

/** Per-socket state the coordinator keeps (socket.data). */
export interface WorkerSocketData {
  /** The only thing a socket keeps: which job the worker is on is the server's WorkerAssignments'. */
  workerId?: string;
}

/** A test-set evaluation of the parameters at `version`. */
export interface EvalRecord {
  version: number;
  examplesSeen: number;
  accuracy: number;
  loss: number;
  /** Unix ms. */
  at: number;
  /**
   * confusion[t][p]: test examples of class t predicted as p. Sent with the `job:eval`
   * event and stored; the job keeps only its latest (JobDetail.confusion).
   */
  confusion?: number[][];
}

/**
 * A job's lifecycle: draft → running ⇄ paused, then one of three ends: done (every
 * epoch trained, or the target accuracy reached), stopped (the operator ended it
 * early) or failed (with its reason). An end is final.
 */
export const JOB_STATES = ['draft', 'running', 'paused', 'done', 'stopped', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];
/** The states a job cannot leave. */
export const FINAL_JOB_STATES: readonly JobState[] = ['done', 'stopped', 'failed'];

/** GET /api/jobs element. */
export interface JobSummary {
  id: string;
  name: string;
  state: JobState;
  model: string;
  dataset: string;
  version: number;
  epoch: number;
  examplesSeen: number;
  workers: number;
  lastEval: Omit<EvalRecord, 'examplesSeen'> | null;
}
