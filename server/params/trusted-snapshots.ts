/**
 * The parameter server's own view of where the model is, refreshed as it trains: every
 * trustedRefreshSeconds on the job's clock it snapshots the current parameters and its
 * thread (trusted-gradient.ts) takes the gradient of the job's root set there. Two
 * defences read it:
 * - the norm bound's reference (norm-bound.ts) becomes the PS's norm per mini-batch at
 *   that snapshot, so the bound follows the model: an honest worker whose gradients
 *   grow as training starts is not barred against a norm taken at the initial
 *   parameters, and a worker cannot move the reference (it is the PS's own);
 * - the direction check (direction-check.ts) compares pushes computed near the snapshot
 *   with its trusted gradient.
 * If the thread fails, listeners are told once ('off'): the norm reference stays the last
 * one, the direction check drops its verdicts, and the next refresh tries a new thread.
 */
import { EventEmitter } from 'node:events';
import type { JobSpec } from '../../shared/job-spec.js';
import type { Dataset } from '../data/dataset.js';
import { createLogger } from '../logger.js';
import type { TensorSpec } from '../../shared/tensors.js';
import { ReferenceNorms, type TensorPiece } from './reference-norms.js';
import { drawRootSet, type RootSet } from './root-set.js';
import type { TrustedGradientService } from './trusted-gradient.js';

const log = createLogger('trusted');

/** One snapshot of the parameters, numbered in the order taken. */
export interface Snapshot {
  id: number;
  version: number;
}

export interface TrustedSnapshotEvents {
  /**
   * A snapshot's trusted gradient is ready in the thread; `batchNorm`: the PS's median
   * gradient norm per mini-batch there; `norms`: the same per range of tensors (a stage's).
   */
  trusted: [snapshot: Snapshot & { batchNorm: number; norms: ReferenceNorms }];
  /** The thread failed; the next refresh tries again. */
  off: [err: unknown];
}

/** Where the parameters are: the in-process ParameterStore, or a job's ps tasks (whose values are gathered). */
export interface TrustedSource {
  readonly version: number;
  readonly specs: readonly TensorSpec[];
  /** A copy of the parameters now. */
  copyValues(): Float32Array[] | Promise<Float32Array[]>;
}

export interface TrustedSnapshotsDeps {
  store: TrustedSource;
  service: TrustedGradientService;
  /** Names the job's root set in the thread. */
  rootKey: string;
  topology: object;
  rootSet: () => RootSet;
  /** The job's mini-batch size: the norm per batch is taken over batches of this size, as workers push. */
  batchSize: number;
  /** The norms are kept per these pieces (a job's ps task slices) rather than per tensor. */
  pieces?: TensorPiece[];
}

/**
 * The job's snapshots, when a defence reads them: the norm bound (normBound > 0) or the
 * direction check (directionThreshold not null). None in local mode, whose pushes are
 * parameter deltas after several local steps, not gradients.
 */
export function trustedSnapshotsFor(
  spec: Pick<JobSpec, 'normBound' | 'directionThreshold' | 'mode' | 'rootSetSize' | 'seed' | 'batchSize'>,
  deps: Omit<TrustedSnapshotsDeps, 'rootSet' | 'batchSize'> & { dataset: Dataset },
): TrustedSnapshots | null {
  if (spec.mode === 'local' || (spec.normBound <= 0 && spec.directionThreshold === null)) return null;
  const { dataset, ...rest } = deps;
  return new TrustedSnapshots({ ...rest, batchSize: spec.batchSize, rootSet: () => drawRootSet(dataset, spec.rootSetSize, spec.seed) });
}

export class TrustedSnapshots extends EventEmitter<TrustedSnapshotEvents> {
  /** Snapshots sent to the thread, and those whose trusted gradient arrived. */
  taken = 0;
  trusted = 0;
  /** The snapshot being computed or computed last, which pushes are compared with; null while the thread is failing. */
  current: Snapshot | null = null;
  private computing = false;
  private lastVersion = -1;
  private failed = false;
  private disposed = false;

  constructor(private readonly deps: TrustedSnapshotsDeps) {
    super();
  }

  /**
   * Takes a snapshot of the current parameters for the thread, unless one is being
   * computed or the parameters have not changed since the last (taken or failed).
   * Called on the job's clock.
   */
  refresh(): void {
    const { store, service, rootKey, topology, rootSet, batchSize, pieces } = this.deps;
    if (this.computing || this.disposed || store.version === this.lastVersion) return;
    const snapshot = { id: ++this.taken, version: store.version };
    this.computing = true;
    const tensors = store.specs.map((s) => ({ name: s.name, shape: [...s.shape] }));
    // Comparing starts now: pushes based near this version arrive while the thread computes.
    if (!this.failed) this.current = snapshot;
    const values = store.copyValues();
    // In process the copy is taken now; a job's ps tasks answer theirs a moment later (live values, as export gathers them).
    const trusted = values instanceof Promise ? values.then((v) => service.trust({ rootKey, snapshot: snapshot.id, topology, tensors, values: v, rootSet, batchSize, pieces })) : service.trust({ rootKey, snapshot: snapshot.id, topology, tensors, values, rootSet, batchSize, pieces });
    trusted.then(
      ({ batchNorm, batchSquares }) => {
        this.computing = false;
        this.trusted += 1;
        this.lastVersion = snapshot.version;
        if (this.disposed) return;
        if (this.failed) {
          log.info('trusted gradient computed again', { job: rootKey, version: snapshot.version });
          this.failed = false;
          this.current = snapshot;
        }
        this.emit('trusted', { ...snapshot, batchNorm, norms: new ReferenceNorms(batchSquares) });
      },
      (err: unknown) => {
        this.computing = false;
        // Not again at the same parameters (diverged ones would fail every second, at the cost of a core): at the next version.
        this.lastVersion = snapshot.version;
        if (this.disposed) return;
        if (!this.failed) log.warn('trusted gradient could not be computed: the norm bound keeps its last reference and the direction check is off until it can', { job: rootKey, err });
        this.failed = true;
        this.current = null;
        this.emit('off', err);
      },
    );
  }

  /** The job is gone: the thread forgets its root set and later answers are ignored. */
  dispose(): void {
    this.disposed = true;
    this.current = null;
    this.deps.service.forget(this.deps.rootKey);
  }
}
