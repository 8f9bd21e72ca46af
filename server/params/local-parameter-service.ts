/**
 * The parameter service in the coordinator's process: today's ParameterStore,
 * optimizer, GradientGate, consistency mode and delta bases behind the
 * ParameterService seam. A push goes admit → gate → mode, and the gate's decoded
 * gradient is handed to the mode as an argument.
 */
import { codecOf, type TensorCodec } from '../../shared/codec.js';
import type { JobSpec } from '../../shared/job-spec.js';
import type { PushAccepted } from '../../shared/protocol.js';
import type { Failure, Result } from '../../shared/result.js';
import type { TensorSpec } from '../../shared/tensors.js';
import type { Clock } from '../clock.js';
import type { ConsistencyMode } from '../consistency/consistency-mode.js';
import { createConsistencyMode, psOptimizerSpec } from '../consistency/registry.js';
import type { ApplySettings } from './apply-engine.js';
import type { Dataset } from '../data/dataset.js';
import { directionCheckFor, type DirectionCheck } from './direction-check.js';
import { GradientGate } from './gradient-gate.js';
import type { ReferenceNorms } from './reference-norms.js';
import type { TrustedGradientService } from './trusted-gradient.js';
import { trustedSnapshotsFor, type TrustedSnapshots } from './trusted-snapshots.js';
import { createOptimizer } from './optimizers.js';
import type { GradientSubmission, ModeCounters, ParameterService, PulledParams, PushOutcome, VersionedValues } from './parameter-service.js';
import { ParameterStore, type StoreSnapshot } from './parameter-store.js';

/** Pulled versions kept as delta bases: a worker more than this many pulls behind gets a full payload. */
const DELTA_BASE_VERSIONS = 16;

export interface LocalParameterOptions {
  /** The model's tensors and their initial values, in order. */
  tensors: readonly TensorSpec[];
  initial: readonly Float32Array[];
  /** Norms of an honest gradient at the initial parameters, per tensor (anchor the norm bound); null: none. */
  referenceNorm: ReferenceNorms | null;
  /** Runs sync round deadlines. */
  clock: Clock;
  /** The job's workers that are training right now (a sync round's quorum); the controller knows them. */
  activeWorkers: () => ReadonlySet<string>;
  /** How updates are applied; default DEFAULT_APPLY_SETTINGS. */
  apply?: ApplySettings;
  /** The job's id (names its root set on the trusted-gradient thread), model topology and dataset (the root set's examples). */
  jobId: string;
  topology: object;
  dataset: Dataset;
  /** Computes the PS's own gradients (norm bound reference, direction check) off the event loop. */
  trustedGradients: TrustedGradientService;
}

export class LocalParameterService implements ParameterService {
  /** Public for tests and benches that look inside the in-process service; the controller never does. */
  readonly store: ParameterStore;
  /** Decodes this job's pushes: built from the spec, so topk knows the job's ratio. */
  readonly codec: TensorCodec;
  /** How accepted gradients become updates (spec.mode). */
  readonly mode: ConsistencyMode;
  /** Every check a pushed gradient passes (layout, finite values, norm bound, trusted direction). */
  private readonly gate: GradientGate;
  /**
   * The PS's own gradient at recent snapshots (norm bound reference, trusted direction);
   * null in local mode, whose pushes are not gradients, or when neither defence is on.
   */
  readonly trusted: TrustedSnapshots | null;
  /** The trusted-direction check (spec.directionThreshold); null when off or without snapshots. */
  readonly direction: DirectionCheck | null;

  constructor(spec: JobSpec, options: LocalParameterOptions) {
    const optimizer = createOptimizer(psOptimizerSpec(spec));
    this.codec = codecOf(spec);
    // Delta pulls pay only when updates are sparse: top-k gradients under an optimizer that leaves untouched entries alone.
    const deltaBases = this.codec.sparse && optimizer.sparseUpdates ? DELTA_BASE_VERSIONS : 0;
    this.store = new ParameterStore(options.tensors, options.initial, optimizer, { keepVersions: deltaBases, apply: options.apply });
    const service = options.trustedGradients;
    this.trusted = trustedSnapshotsFor(spec, { store: this.store, service, rootKey: options.jobId, topology: options.topology, dataset: options.dataset });
    this.direction = directionCheckFor(spec, { store: this.store, service, rootKey: options.jobId, snapshots: this.trusted });
    this.gate = new GradientGate(this.store, this.codec, spec.normBound, options.referenceNorm, this.direction);
    // The norm bound follows the model: its reference is the PS's own norm per batch at the latest snapshot.
    this.trusted?.on('trusted', ({ norms }) => this.gate.setReference(norms));
    this.mode = createConsistencyMode(spec, { store: this.store, clock: options.clock, activeWorkers: options.activeWorkers });
  }

  get version(): number {
    return this.store.version;
  }

  get specs(): readonly TensorSpec[] {
    return this.store.specs;
  }

  get parameterCount(): number {
    return this.store.parameterCount;
  }

  get slotCount(): number {
    return this.store.optimizer.slotNames.length;
  }

  counters(): ModeCounters {
    return { rounds: this.mode.rounds, timedOut: this.mode.timedOut };
  }

  pull(have?: number): PulledParams {
    const delta = have === undefined ? null : this.store.delta(have);
    if (delta) return { ...delta, delta: true };
    return { version: this.store.version, ...this.store.payload().payload, delta: false };
  }

  push(workerId: string, submission: GradientSubmission): PushOutcome | Promise<PushOutcome> {
    const admitted = this.mode.admit(workerId, submission.baseVersion);
    if ('ok' in admitted) return admitted;
    const gradient = this.gate.check(submission, workerId, submission.baseVersion);
    if ('ok' in gradient) {
      // A sync round stops waiting for a worker whose gradient it refused (a Byzantine one would stall every round to its deadline); a valid retry still joins.
      this.mode.leave(workerId);
      return gradient;
    }
    // Read now: the decoded gradient is the store's buffer, rewritten by the next push.
    const { clipped, stageClips } = gradient;
    const r = this.mode.accept(workerId, admitted, gradient);
    if (clipped === null) return r;
    return r instanceof Promise ? r.then((a) => withClip(a, clipped, stageClips)) : withClip(r, clipped, stageClips);
  }

  leave(workerId: string): void {
    this.mode.leave(workerId);
  }

  forget(workerId: string): void {
    this.mode.leave(workerId);
    this.gate.forget(workerId);
  }

  halt(reason: Failure): void {
    this.mode.halt(reason);
  }

  values(): Promise<VersionedValues> {
    return Promise.resolve({ version: this.store.version, specs: this.store.specs, values: this.store.copyValues() });
  }

  snapshot(): Promise<StoreSnapshot> {
    return Promise.resolve(this.store.snapshot());
  }

  async restore(snapshot: StoreSnapshot): Promise<void> {
    this.store.restore(snapshot);
  }

  refreshTrusted(): void {
    this.trusted?.refresh();
  }

  dispose(): void {
    this.trusted?.dispose();
    this.store.dispose();
  }
}

/** The worker is told its gradient was scaled down to the norm bound (a replica step's stages, each its own part's factor). */
function withClip(r: Result<PushAccepted>, clipped: number, stageClips: readonly (number | null)[] | null): PushOutcome {
  if (!r.ok) return r;
  return stageClips ? { ...r, clipped, stageClips } : { ...r, clipped };
}
