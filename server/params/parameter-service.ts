/**
 * The seam between a job's controller (server/jobs/job.ts: lifecycle, leases, epochs,
 * schedules, stats) and its parameters. The controller holds one ParameterService and
 * nothing else of the parameter server; LocalParameterService is the in-process one,
 * and a remote one (a ps task, server/ps-task/) answers the same calls over a socket.
 *
 * What a remote service cannot answer at once returns a promise (snapshot, values,
 * restore). The push path stays as it is in process: an async mode answers a push
 * synchronously, a sync round with the promise it holds until the round closes, so
 * the in-process hot path gains neither an allocation nor a microtask.
 */
import type { PlacementJson } from '../../shared/placement.js';
import type { Failure } from '../../shared/result.js';
import type { GradientPush, ParamsSnapshot, PushAccepted } from '../../shared/protocol.js';
import type { PsRoute } from '../../shared/ps-route.js';
import type { TensorSpec } from '../../shared/tensors.js';
import type { CutManifest } from '../checkpoints/cut-manifest.js';
import type { StoreSnapshot } from './parameter-store.js';
import type { UncheckedManifest } from './push-validation.js';
import type { TaskStageSteps, TaskStep } from './task-stage-steps.js';

/** A pushed gradient as the controller passes it on, its lease already checked. */
export interface GradientSubmission {
  /** The parameter version the worker computed the gradient on. */
  baseVersion: number;
  /** Mini-batches summed into it, as the lease counts them (the norm bound judges per batch). */
  batches: number;
  manifest: UncheckedManifest;
  data: ArrayBuffer | Uint8Array;
  /** A job on ps tasks: the code of a task's refusal of this push's slices (GradientPush.psRefused). */
  psRefused?: string;
  /** A job on ps tasks: each task's receipt for this push (GradientPush.psReceipts). */
  psReceipts?: GradientPush['psReceipts'];
  /** A split job on ps tasks: its replica step's verified stage parts, to close on the tasks (task-stage-steps.ts). */
  psStep?: TaskStep;
  /** A replica step joined in process: its stage parts in order, each judged by the norm bound on its own (range-norm-bounds.ts). */
  stages?: readonly StagePart[];
}

/** One stage's part of a joined replica step: who pushed it, and how many of the job's tensors it holds (in order, after the parts before it). */
export interface StagePart {
  worker: string;
  tensors: number;
}

/**
 * What the service answers a push. For a replica step joined in process it also says
 * which stage a refusal concerns (`stage`: that stage's part was refused, its worker's
 * fault) and each stage's clip factor (`stageClips`, null: as pushed); the replica
 * steps (server/jobs/replica-steps.ts) turn those into each stage's own answer.
 */
export type PushOutcome = ({ ok: true } & PushAccepted & { stageClips?: readonly (number | null)[] }) | (Failure & { stage?: number });

/** The parameters as a worker pulls them: whole, or as a delta from the version it holds. */
export type PulledParams = Omit<ParamsSnapshot, 'jobId'> & {
  /** The answer is a delta (shared/param-delta.ts), not the whole payload. */
  delta: boolean;
};

/** Parameter values at one version (for evaluation and export). */
export interface VersionedValues {
  version: number;
  specs: readonly TensorSpec[];
  values: Float32Array[];
}

/** What the consistency mode counted (the API and dashboard show them). */
export interface ModeCounters {
  /** Sync rounds closed (0 in the async modes). */
  rounds: number;
  /** Sync rounds closed by their deadline rather than by every worker's push. */
  timedOut: number;
}

/** What anyone may read: the controller's read-only views, the export, tests. */
export interface ParameterView {
  /** Updates applied since the job began (a checkpoint's version carries over). */
  readonly version: number;
  readonly specs: readonly TensorSpec[];
  readonly parameterCount: number;
  /** The optimizer's per-tensor state arrays (a checkpoint must carry as many). */
  readonly slotCount: number;
  counters(): ModeCounters;
  /** A copy of the parameters, taken when called (later pushes do not change it). */
  values(): Promise<VersionedValues>;
  /** Parameters on ps tasks: the tasks' endpoints and the placement over them. Absent in process. */
  readonly psPlacement?: PsPlacement;
}

export interface PsPlacement {
  /** Task i's origin at index i. */
  endpoints: readonly string[];
  placement: PlacementJson;
}

/** What the controller alone may do. */
export interface ParameterService extends ParameterView {
  /** Refused when workers pull from elsewhere (the ps tasks of a remote service). */
  pull(have?: number): PulledParams | Failure;
  /**
   * Admits the push under the consistency mode, decodes and checks the gradient (the
   * gradient gate), and applies it or adds it to the open round. A refused gradient
   * stops an open round from waiting for `workerId`.
   */
  push(workerId: string, submission: GradientSubmission): PushOutcome | Promise<PushOutcome>;
  /** `workerId` left the job or went idle: a round stops waiting for it. */
  leave(workerId: string): void;
  /** `workerId` left the job for good: what the service kept about it goes too. */
  forget(workerId: string): void;
  /** The job stopped running: an open round is dropped and its held answers refused with `reason`. */
  halt(reason: Failure): void;
  /** Parameters and optimizer state as of the call (a checkpoint's part). */
  snapshot(): Promise<StoreSnapshot>;
  /** Loads a checkpoint's part; rejects when it does not fit the model. */
  restore(snapshot: StoreSnapshot): Promise<void>;
  /**
   * Parameters elsewhere (ps tasks): the checkpoint as a consistent cut, every task
   * writing its part under one id; the manifest of the parts once all were written,
   * rejected when one is not. Absent in process, where snapshot() is the checkpoint.
   */
  cut?(): Promise<CutManifest>;
  /** Loads the parts a committed manifest names; rejects with the first task's refusal. */
  restoreCut?(cut: CutManifest): Promise<void>;
  /** `cut`'s manifest is committed: its parts must outlive the tasks' pruning. */
  committed?(cut: CutManifest): void;
  /**
   * Takes the parameter server's own gradient at the current parameters, if the job's
   * defences use one and the last is done (the norm bound's reference, the trusted
   * direction); called on the job's clock every trustedRefreshSeconds.
   */
  refreshTrusted(): void;
  /** A split job on ps tasks: where its replica steps' stage parts are checked and closed; absent otherwise. */
  readonly stageSteps?: TaskStageSteps;
  /** Where `workerId` pulls and pushes, with fresh tickets, when not at the chief (ps tasks); absent in process. */
  routeFor?(workerId: string): PsRoute;
  /** Lets go of threads and sockets; the service must not be used after. */
  dispose(): void;
  /** The job is deleted: parameters held elsewhere (ps tasks) go too. Absent in process, where dispose() is all. */
  discard?(): void;
  /** Back to the job's initial parameters and optimizer state at version 0 (a ps task lost its slices and no checkpoint exists). */
  reset?(): Promise<void>;
}
