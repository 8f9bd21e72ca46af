/**
 * The wire contract of a ps task (server/ps-task/): two socket.io namespaces on the
 * task's own port. `/ps-worker`: workers pull and push the slices of a job that the
 * placement put on this task, each message carrying the chief's ticket for that worker,
 * job and task. `/ps-control`: the chief creates and deletes jobs' slices and reads
 * them back for checkpoints and export, each message carrying a chief credential
 * (epoch and proof). Acks are {@link Result}s, as on the coordinator's `/worker`
 * namespace; nothing throws across the wire. docs/cluster.md describes both.
 */
import type { CodecId, TensorManifest } from './codec.js';
import type { AggregationName, OptimizerSpec } from './job-spec.js';
import type { ParamsSnapshot, PushAccepted, SlotGrant } from './protocol.js';
import type { Result } from './result.js';
import type { TensorSpec } from './tensors.js';

export const PS_WORKER_NAMESPACE = '/ps-worker';
export const PS_CONTROL_NAMESPACE = '/ps-control';

/** The chief's proof for one control message (server/cluster/chief-fence.ts). */
export interface ChiefCredential {
  /** Grows with every new chief; a task refuses an older one than it has seen (STALE_CHIEF). */
  epoch: number;
  /** base64url HMAC-SHA256 over the epoch, the event and the job id, under the cluster's control key. */
  proof: string;
}

/** Binary tensors: a manifest (fp32 here) and its bytes. */
export interface SlicePayload {
  manifest: TensorManifest;
  data: ArrayBuffer | Uint8Array;
}

/** `job:create`: this task's part of a job. */
export interface PsJobCreate {
  chief: ChiefCredential;
  jobId: string;
  /** Which task of the cluster this one is, for this job: tickets name it. */
  task: number;
  /** The slices the placement put here, in its order: names (`dense1/kernel/part_1`) and shapes. */
  slices: TensorSpec[];
  /** The parameter server's update rule (the chief's psOptimizerSpec of the job). */
  optimizer: OptimizerSpec;
  /** The job's gradient codec, as workers encode this task's slices. */
  codec: CodecId;
  topkRatio: number;
  /** Pushes more than this many of this task's versions old are refused (STALE). */
  maxStaleness: number;
  /** Staleness-aware async SGD: a push τ of this task's versions old applies with the learning rate over τ. Default false. */
  stalenessAware?: boolean;
  /** Versions kept as bases of delta pulls (0: none); the chief decides, as the coordinator does. */
  keepVersions: number;
  /**
   * Round modes (sync, local): pushes are held for the open round, whose version is
   * this task's, until the chief closes it (`round:close`), and then combined with this
   * rule, coordinate by coordinate. Absent: pushes apply as they come (async).
   */
  rounds?: PsRoundRule;
  /** The slices' initial values, fp32, one manifest entry per slice in `slices` order. */
  initial: SlicePayload;
  /**
   * The optimizer's state to start from (a checkpoint's restore), fp32: per slice in
   * `slices` order, each slot in the optimizer's order, named `<slice>:<slot>`. Absent:
   * the optimizer's own initial state.
   */
  slots?: SlicePayload;
  /**
   * The chief's global step when it gave the task these values (0 at creation, a
   * checkpoint's version at a restore). The task only keeps it and tells it back in
   * `task:status`: a chief re-attaching after a restart counts its step from it. Default 0.
   */
  baseStep?: number;
  /**
   * The job splits its model into stages (docs/model-parallelism.md): its gradients come
   * only as stage parts held for a replica step (`grads:hold`) and applied together at
   * the chief's `step:close`; a whole-slices `grads:push` is refused. Default false.
   */
  split?: boolean;
  /** The job's norm bound, judged here on this task's part of every push (docs/byzantine.md). Absent: off. */
  normBound?: PsNormBound;
}

/**
 * The norm bound on one task: each push's (or stage part's) slices here are judged
 * against factor × the median of recent accepted norms of the same slices here
 * (server/params/norm-bound.ts), per mini-batch.
 */
export interface PsNormBound {
  /** The job's normBound (> 0). */
  factor: number;
  /** Mini-batches every push sums (the job's nPush; localSteps in local mode): norms are judged per batch, as the chief would. */
  batches: number;
  /**
   * The PS's own gradient: per mini-batch (rows), the sum of squares of each of this
   * task's slices (columns, in `slices` order). Null: none (local mode's deltas): the
   * bound holds once workers have samples.
   */
  reference: number[][] | null;
}

/** `job:forget`: workers that left the job for good: their norm samples and clip runs on this task go (as the chief's gate forgets them in process). */
export interface PsJobForget {
  chief: ChiefCredential;
  jobId: string;
  workers: string[];
}

/** Reference rows (mini-batches of the PS's own gradient) a task takes at most: the chief thins more to this. */
export const MAX_REFERENCE_ROWS = 256;

/** `job:reference`: the PS's own gradient at recent parameters, this task's columns as in PsNormBound (the chief's trusted refresh). */
export interface PsJobReference {
  chief: ChiefCredential;
  jobId: string;
  reference: number[][];
}

/**
 * How a task combines its slices of a round's gradients. Mean, median and trimmed mean
 * are coordinate-wise, so per task is exact; Multi-Krum compares whole gradients, so the
 * chief sends it only to a job's one task (it refuses it over more).
 */
export interface PsRoundRule {
  aggregation: AggregationName;
  trimFraction: number;
}

/**
 * `round:close`: the chief closes round `round` (this task's version) with `members`,
 * the workers whose pushes every task of the job held for it (their receipts showed the
 * chief), whether the round met its quorum or its deadline. The task combines those
 * members' slices, applies once and moves to version `round` + 1; any other push it held
 * for the round is dropped. In a split job a member is a replica, named on each task by
 * the parts its step was accepted with there, each a stage worker's with its part
 * number (together they cover its slices once).
 */
export interface PsRoundClose {
  chief: ChiefCredential;
  jobId: string;
  round: number;
  members: PsRoundMember[];
}

/** A round's member on a task: a worker, or a split job's replica as the stage parts (worker, part number) its accepted step holds there. */
export type PsRoundMember = string | PsHoldRef[];

export interface PsJobRef {
  chief: ChiefCredential;
  jobId: string;
}

/** `dropParts`: the job is deleted, not re-created: its checkpoint parts on the task's disk go too (also when the task holds no slices of it). */
export interface PsJobDelete extends PsJobRef {
  dropParts?: boolean;
}

/** `params:snapshot`: values and optimizer state of a job's slices here, for checkpoints and export. */
export interface PsSliceSnapshot {
  jobId: string;
  /** This task's version of the job: the pushes it applied. */
  version: number;
  applies: number;
  /** The optimizer's per-slice state arrays, in order (e.g. adagrad's `accumulator`). */
  slotNames: string[];
  /** fp32: per slice, its values (named as the slice), then each slot (`<slice>:<slot>`). */
  manifest: TensorManifest;
  data: ArrayBuffer | Uint8Array;
}

export interface PsJobStatus {
  jobId: string;
  task: number;
  version: number;
  slices: number;
  parameters: number;
  /** job:create's baseStep: the chief's step at which the task's version was 0. */
  baseStep: number;
  /** The norm bound's reference over all the job's slices here, per batch (the chief's latest); absent: none. */
  normReference?: number;
}

/** `task:status`: what a (re-)attaching chief needs to know. */
export interface PsTaskStatus {
  /** The highest chief epoch this task has seen (the caller's, if it was the highest). */
  epoch: number;
  jobs: PsJobStatus[];
}

/**
 * `ckpt:write`: this task's part of checkpoint `checkpointId` (a consistent cut, see
 * docs/cluster.md): the task holds the job's pushes, writes values, optimizer state and
 * its version atomically into its data directory, and lets them go on.
 */
export interface PsCheckpointWrite {
  chief: ChiefCredential;
  jobId: string;
  /** One id for every task's part of one checkpoint: `[A-Za-z0-9_-]`, 1 to 64 characters. */
  checkpointId: string;
  /** Parts of this job that committed manifests name: never pruned, whatever their age (at most 16). */
  keep: string[];
}

/** A part written: what the chief's manifest records of it. */
export interface PsCheckpointPart {
  checkpointId: string;
  task: number;
  /** This task's version of the job in the part: the pushes it had applied. */
  version: number;
  /** The part file's size. */
  bytes: number;
  /** hex SHA-256 of the part file's header and payload (its trailer). */
  sha256: string;
}

/** `ckpt:load`: replace the job's slices here with the part of `checkpointId`, if its checksum is `sha256`. */
export interface PsCheckpointLoad {
  chief: ChiefCredential;
  jobId: string;
  checkpointId: string;
  sha256: string;
  /** The chief's step at which the loaded slices' version would be 0 (job:create's baseStep), reported by task:status from then on. */
  baseStep: number;
}

export interface PsControlEvents {
  'job:create': (req: PsJobCreate, ack: (r: Result<{ version: number }>) => void) => void;
  'job:delete': (req: PsJobDelete, ack: (r: Result) => void) => void;
  'params:snapshot': (req: PsJobRef, ack: (r: Result<PsSliceSnapshot>) => void) => void;
  'task:status': (req: { chief: ChiefCredential }, ack: (r: Result<PsTaskStatus>) => void) => void;
  'ckpt:write': (req: PsCheckpointWrite, ack: (r: Result<PsCheckpointPart>) => void) => void;
  'ckpt:load': (req: PsCheckpointLoad, ack: (r: Result<{ version: number }>) => void) => void;
  'round:close': (req: PsRoundClose, ack: (r: Result<{ version: number }>) => void) => void;
  'job:reference': (req: PsJobReference, ack: (r: Result) => void) => void;
  'job:forget': (req: PsJobForget, ack: (r: Result) => void) => void;
  'step:close': (req: PsStepClose, ack: (r: Result<{ version: number }>) => void) => void;
  'step:drop': (req: PsStepClose, ack: (r: Result) => void) => void;
}

/** One stage part a task holds: the worker that sent it and the task's number for it. */
export interface PsHoldRef {
  worker: string;
  hold: number;
}

/**
 * `step:close`: the chief applies a replica step (server/params/task-stage-steps.ts):
 * the task combines the named holds, which together cover every slice of the job here
 * exactly once, into one gradient and applies it once (one version). `step:drop`
 * lets the named holds go, nothing applied (a stage of the step was refused).
 */
export interface PsStepClose {
  chief: ChiefCredential;
  jobId: string;
  holds: PsHoldRef[];
}

export interface PsPullRequest {
  /** The chief's ticket for this worker, this job, this task. */
  ticket: string;
  jobId: string;
  /** As on the coordinator: the version whose slices the worker holds exactly, for a delta. */
  have?: number;
  /** Only these of this task's slices, in its order (a stage pulls only its own tensors). Absent: all of them. */
  slices?: string[];
}

/**
 * `grads:hold`: a stage's part of a replica step, for the slices of its own tensors
 * this task holds (a subsequence of its slices, in its order), in the job's codec.
 * Checked as a push is (staleness here, layout, finite values), then held until the
 * chief's `step:close` or `step:drop`.
 */
export type PsStagePart = PsGradientPush;

/** A held stage part: the task's number for it, and its receipt binding task, job, worker, hold and the slices held. */
export interface PsPartHeld {
  /** This task's version now. */
  version: number;
  staleness: number;
  hold: number;
  receipt: string;
}

/** A gradient for this task's slices of the job, in its codec, one manifest entry per slice. */
export interface PsGradientPush {
  ticket: string;
  jobId: string;
  /** This task's version the gradient was computed against: staleness is per task. */
  baseVersion: number;
  manifest: TensorManifest;
  data: ArrayBuffer | Uint8Array;
  /** This task's grant of `grads:slot`, when its answers asked for one (as on the coordinator: shared/slot-pusher.ts). */
  slot?: string;
}

/** A push slot on this task, for a push of `bytes` of this job's slices (the task's last answer said `slots: true`). */
export interface PsSlotRequest {
  ticket: string;
  jobId: string;
  bytes: number;
}

export interface PsWorkerEvents {
  /** This task's slices of the job, fp32, at its current version (or a delta since `have`). */
  'params:pull': (req: PsPullRequest, ack: (r: Result<ParamsSnapshot>) => void) => void;
  'grads:push': (push: PsGradientPush, ack: (r: Result<PsPushAccepted>) => void) => void;
  /** Under load, a grant before a push's payload is sent, or BUSY with when to ask again (server/params/push-slots.ts). */
  'grads:slot': (req: PsSlotRequest, ack: (r: Result<SlotGrant>) => void) => void;
  'grads:hold': (part: PsStagePart, ack: (r: Result<PsPartHeld>) => void) => void;
}

/**
 * A task's answer to an applied push (or, in a round mode, a push held for round
 * `version`): with its receipt, which the worker shows the chief to be credited
 * (server/cluster/push-receipts.ts).
 */
export type PsPushAccepted = PushAccepted & { receipt: string };

/** The task pushes nothing unasked, yet. */
export type PsServerEvents = Record<string, never>;
