/**
 * The chief's side of the norm bound on ps tasks: each task judges its slices of every
 * push (server/ps-task/task-job.ts), and only the chief computes the PS's own gradient
 * that anchors the bound while few workers have samples. Its sums of squares are kept
 * per placed slice (a row partition's from its rows of the full gradient), and each task
 * gets its own slices' columns: in `job:create`, on adoption, and at every trusted
 * refresh (the PS's gradient at the values gathered from the tasks). A worker that
 * leaves the job is forgotten by every task's bound, as the in-process gate forgets it.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { JobSpec } from '../../shared/job-spec.js';
import type { Placement } from '../../shared/placement.js';
import { MAX_REFERENCE_ROWS, type PsNormBound } from '../../shared/ps-protocol.js';
import type { TensorSpec } from '../../shared/tensors.js';
import type { PsCluster } from '../cluster/ps-cluster.js';
import type { Dataset } from '../data/dataset.js';
import { createLogger } from '../logger.js';
import type { ReferenceNorms, TensorPiece } from './reference-norms.js';
import type { TrustedGradientService } from './trusted-gradient.js';
import { trustedSnapshotsFor, type TrustedSnapshots } from './trusted-snapshots.js';

const log = createLogger('remote-params');

export interface TaskNormOptions {
  jobId: string;
  tensors: readonly TensorSpec[];
  cluster: PsCluster;
  /** The tasks holding slices of the job. */
  used: readonly number[];
  /** The PS's own gradient norms per placed slice at the initial parameters; null: none (off, or local mode). */
  referenceNorm: ReferenceNorms | null;
  /** What the trusted refresh takes the PS's gradient with; absent: no refresh. */
  trusted?: { service: TrustedGradientService; topology: object; dataset: Dataset };
  /** The job's global step (the snapshot's version) and its values gathered from the tasks. */
  step: () => number;
  values: () => Promise<Float32Array[]>;
}

/** The placement's slices as pieces of the model's tensors, in its order: what reference norms are kept per. */
export function slicePieces(placement: Placement): TensorPiece[] {
  return placement.slices.map((s) => ({ tensor: s.tensor, offset: s.offset, length: s.length }));
}

export class TaskNormReferences {
  private reference: ReferenceNorms | null;
  /** Per task, the indices in placement.slices of its slices: its columns of the reference. */
  private readonly columns: readonly number[][];
  /** The PS's own gradient at the tasks' values every trustedRefreshSeconds; null when the bound is off (or local mode). */
  readonly trusted: TrustedSnapshots | null;
  private disposed = false;

  constructor(
    private readonly spec: JobSpec,
    placement: Placement,
    private readonly o: TaskNormOptions,
  ) {
    this.reference = o.referenceNorm;
    this.columns = placement.byTask.map((slices) => slices.map((sl) => placement.slices.indexOf(sl)));
    this.trusted = spec.normBound > 0 && o.trusted ? this.snapshots(o.trusted, slicePieces(placement)) : null;
  }

  /** What `job:create` tells `task` of the bound; absent when it is off. */
  createField(task: number): { normBound?: PsNormBound } {
    if (this.spec.normBound <= 0) return {};
    const batches = this.spec.mode === 'local' ? this.spec.localSteps : this.spec.nPush;
    return { normBound: { factor: this.spec.normBound, batches, reference: this.rows(task) } };
  }

  /** Every used task gets the latest reference; a task that misses it keeps its last (the next refresh tries again). */
  async send(): Promise<void> {
    if (!this.reference || this.disposed) return;
    await Promise.all(
      this.o.used.map(async (task) => {
        const r = await this.o.cluster.request(task, 'job:reference', { jobId: this.o.jobId, reference: this.rows(task)! });
        if (!r.ok) log.warn('norm bound reference not renewed on a ps task', { job: this.o.jobId, task, code: r.code, reason: r.message });
      }),
    );
  }

  /** Every used task forgets `workerId`'s samples; a task that misses it keeps them until its window pushes them out. */
  async forget(workerId: string): Promise<void> {
    if (this.spec.normBound <= 0 || this.disposed) return;
    await Promise.all(
      this.o.used.map(async (task) => {
        const r = await this.o.cluster.request(task, 'job:forget', { jobId: this.o.jobId, workers: [workerId] });
        if (!r.ok && r.code !== ErrorCode.UNKNOWN_JOB) log.warn('a departed worker not forgotten by a ps task', { job: this.o.jobId, task, worker: workerId, code: r.code });
      }),
    );
  }

  refresh(): void {
    if (!this.disposed) this.trusted?.refresh();
  }

  dispose(): void {
    this.disposed = true;
    this.trusted?.dispose();
  }

  /** `task`'s columns of the reference (thinned to what a task takes); null when there is none. */
  private rows(task: number): number[][] | null {
    return this.reference?.columns(this.columns[task]!, MAX_REFERENCE_ROWS) ?? null;
  }

  private snapshots(t: NonNullable<TaskNormOptions['trusted']>, pieces: TensorPiece[]): TrustedSnapshots | null {
    const { step, values } = this.o;
    const source = { specs: this.o.tensors, get version() { return step(); }, copyValues: values };
    const trusted = trustedSnapshotsFor(this.spec, { store: source, service: t.service, rootKey: this.o.jobId, topology: t.topology, dataset: t.dataset, pieces });
    trusted?.on('trusted', ({ norms }) => {
      this.reference = norms;
      void this.send();
    });
    return trusted;
  }
}
