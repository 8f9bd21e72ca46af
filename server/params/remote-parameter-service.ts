/**
 * A job's parameters on ps tasks (TensorFlow's `ps` jobs): the placement splits the
 * model's tensors into slices, `job:create` gives each task its slices' initial values,
 * and workers pull and push those slices at the tasks directly, with the chief's
 * tickets (routeFor). The chief keeps what is whole-job: the global step, evaluation
 * and export (values(), which gathers every task's live values: not a cut), and
 * checkpoints: cut() has every task write its part under one id and answers the
 * manifest (server/cluster/checkpoint-cut.ts), restoreCut() has them load it back.
 *
 * How the chief learns of pushes: once every task answered a worker's push of its
 * slices, the worker sends the chief `grads:push` with an empty payload, naming its
 * lease and batches as always, and `psRefused` with a task's refusal code if one refused.
 * The chief's lease accounting then works unchanged (batches credited or requeued,
 * faults counted), and push() here counts the global step. The chief trusts the worker's
 * word that the tasks accepted: a liar can be credited for examples it did not train,
 * but cannot move a parameter without a task's consent (its ticket and the task's gate).
 * The alternative, tasks reporting accepted pushes to the chief, would need a task to
 * know leases; docs/cluster.md weighs the two.
 *
 * Only what works across tasks is offered: async Downpour (plain or staleness-aware,
 * each task scaling by its own staleness) and the round modes (sync, local: the chief
 * owns the rounds, chief-rounds.ts; each task combines its slices, task-round.ts) in
 * every codec, which workers apply per slice (client/engine/slice-encoder.ts); a split
 * job in every mode too (its replica steps close on the tasks, task-stage-steps.ts, or
 * in a round mode join the round as their replica).
 * The norm bound is judged by each task on its slices (task-job.ts): the chief gives
 * each task its slices' columns of the PS's own gradient norms, at creation, adoption
 * and every trusted refresh (the PS's gradient at the tasks' gathered values).
 * Multi-Krum over more than one task and the direction check (which need the whole
 * gradient) are refused at job creation (psSpecRefusal).
 */
import type { ReceiptLedger } from '../cluster/push-receipts.js';
import { loadCut, takeCut, type CutTarget } from '../cluster/checkpoint-cut.js';
import type { CutManifest } from '../checkpoints/cut-manifest.js';
import { asBytes } from '../../shared/codec.js';
import { ALL_ERROR_CODES, ErrorCode } from '../../shared/errors.js';
import type { JobSpec } from '../../shared/job-spec.js';
import { Placement, type PlacementJson } from '../../shared/placement.js';
import type { PushAccepted } from '../../shared/protocol.js';
import type { PsJobStatus, PsTaskStatus } from '../../shared/ps-protocol.js';
import type { PsRoute } from '../../shared/ps-route.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';
import type { PsCluster } from '../cluster/ps-cluster.js';
import { MODES } from '../../shared/modes.js';
import type { ParameterContext } from '../jobs/job-deps.js';
import { psOptimizerSpec } from '../consistency/registry.js';
import { ChiefRounds, type RoundMember } from './chief-rounds.js';
import { closeOnEveryTask, closeWithRetry, CLOSE_RETRY_DELAYS_MS } from './round-close-retry.js';
import { CloseGate } from './close-gate.js';
import { systemClock, type Clock } from '../clock.js';
import { closeStep, TaskStageSteps } from './task-stage-steps.js';
import { createLogger } from '../logger.js';
import { createOptimizer } from './optimizers.js';
import type { GradientSubmission, ModeCounters, ParameterService, PsPlacement, PulledParams, VersionedValues } from './parameter-service.js';
import type { StoreSnapshot } from './parameter-store.js';
import type { SlicePart } from './slice-parts.js';
import { createTaskSlices, gatherTaskSlices, type TaskSlicesTarget } from './task-slices.js';
import type { Dataset } from '../data/dataset.js';
import type { ReferenceNorms, TensorPiece } from './reference-norms.js';
import { slicePieces, TaskNormReferences } from './task-norm-references.js';
import type { TrustedGradientService } from './trusted-gradient.js';
import type { TrustedSnapshots } from './trusted-snapshots.js';

const log = createLogger('remote-params');

export interface RemoteParameterOptions {
  jobId: string;
  /** The model's tensors and their initial values, in order. */
  tensors: readonly TensorSpec[];
  initial: readonly Float32Array[];
  cluster: PsCluster;
  /** Waits before asking the tasks again for a replica step's close one of them missed. Default CLOSE_RETRY_DELAYS_MS. */
  closeRetryDelaysMs?: readonly number[];
  /** The PS's own gradient norms per placed slice (piecesOf) at the initial parameters: the norm bound's first reference; null or absent: none. */
  referenceNorm?: ReferenceNorms | null;
  /** What the trusted refresh takes the PS's gradient with (the norm bound follows the model); absent: no refresh. */
  trusted?: { service: TrustedGradientService; topology: object; dataset: Dataset };
}

/** What failed to close on every task: a sync or local round, or a split job's replica step. */
export type DivergedClose = 'round' | 'step';

/** Why `spec` cannot run on `tasks` ps tasks yet, or null (docs/cluster.md lists what is refused and why). */
export function psSpecRefusal(spec: JobSpec, tasks: number): Failure | null {
  const refuse = (field: string, why: string) => fail(ErrorCode.PS_UNSUPPORTED, `${field}: ${why} (this coordinator keeps its parameters on ps tasks)`);
  if (MODES[spec.mode].rounds && spec.aggregation === 'multi-krum' && tasks > 1) {
    return refuse('aggregation', `Multi-Krum compares whole gradients, and each of the ${tasks} ps tasks holds only its slices: use mean, median or trimmed-mean (coordinate-wise, exact per task)`);
  }
  if (spec.directionThreshold !== null) return refuse('directionThreshold', 'the direction check needs the whole gradient, which no task sees: set it to null');
  return null;
}

export class RemoteParameterService implements ParameterService {
  private step = 0;
  private readonly route: PlacementJson;
  private readonly slotNames: readonly string[];
  /** Tasks holding at least one slice (a small model over many tasks leaves some empty). */
  private readonly used: number[];
  private disposed = false;
  /** The tasks' receipts redeemed: a push is credited once, and only with every task's receipt. */
  private receipts: ReceiptLedger;
  /** Ids of the committed cuts the chief keeps (newest last): the tasks never prune their parts. */
  private inForce: string[] = [];
  /** The global step when the tasks' slices were last given their values (their version 0). */
  private baseStep = 0;
  /** Per used task: the highest of its versions the chief has a receipt for (a task holding less lost pushes). */
  private known: number[];
  /** The round modes' rounds (withContext); null in the async modes. */
  private rounds: ChiefRounds | null = null;
  /** The round the tasks are at when the rounds begin (an adopted job's tasks' version). */
  private firstRound = 0;
  /** Told when a round's or a replica step's close failed for good on some task (the recovery holds the job and rolls it back). */
  onDiverged: ((why: Failure, what: DivergedClose) => void) | null = null;
  /** The job's clock (withContext): a missed step close is asked again on it. */
  private clock: Clock = systemClock;
  /** Round closes, replica-step closes and checkpoint cuts never overlap: no cut holds half a round or half a step. */
  private readonly gate = new CloseGate();
  /** Restored while a task was down: the tasks' state is unknown until it is back, then adopted or rolled back. */
  detached = false;
  /** A split job's replica steps on the tasks (task-stage-steps.ts); undefined when not split. */
  readonly stageSteps?: TaskStageSteps;
  /** The norm bound's reference for each task, and the trusted refresh that renews it (task-norm-references.ts). */
  private readonly norms: TaskNormReferences;

  private constructor(
    private readonly spec: JobSpec,
    private readonly o: RemoteParameterOptions,
    private readonly placement: Placement,
  ) {
    this.route = placement.toJSON();
    this.slotNames = createOptimizer(psOptimizerSpec(spec)).slotNames;
    this.used = placement.byTask.flatMap((slices, t) => (slices.length ? [t] : []));
    this.receipts = o.cluster.receiptLedger(o.jobId, this.used);
    this.known = this.used.map(() => 0);
    this.norms = new TaskNormReferences(spec, placement, {
      ...o,
      used: this.used,
      referenceNorm: o.referenceNorm ?? null,
      step: () => this.step,
      values: async () => (await this.values()).values,
    });
    if (spec.stages > 1) {
      this.stageSteps = new TaskStageSteps({
        jobId: o.jobId,
        tensors: o.tensors,
        placement,
        cluster: o.cluster,
        ledger: o.cluster.holdLedger(o.jobId),
        retry: (attempt) => this.gate.close(() => closeWithRetry(this.clock, attempt, o.closeRetryDelaysMs ?? CLOSE_RETRY_DELAYS_MS, `replica step of ${o.jobId}`)),
        diverged: (why) => this.onDiverged?.(why, 'step'),
        rounds: MODES[spec.mode].rounds,
      });
    }
  }

  /** The job's slices as the placement will cut them, in its order: the pieces its reference norms are kept per. */
  static piecesOf(tensors: readonly TensorSpec[], cluster: Pick<PsCluster, 'tasks' | 'partitionBytes'>): TensorPiece[] {
    return slicePieces(Placement.of(tensors, { tasks: cluster.tasks, partitionBytes: cluster.partitionBytes }));
  }

  /** The PS's own gradient at the tasks' values, taken every trustedRefreshSeconds; null when the norm bound is off. Tests wait on it. */
  get trusted(): TrustedSnapshots | null {
    return this.norms.trusted;
  }

  /** Places the job over the cluster and creates its slices on every task; a coded refusal when a task refuses. */
  static async create(spec: JobSpec, o: RemoteParameterOptions): Promise<RemoteParameterService | Failure> {
    const placement = Placement.of(o.tensors, { tasks: o.cluster.tasks, partitionBytes: o.cluster.partitionBytes });
    const service = new RemoteParameterService(spec, o, placement);
    const created = await service.createSlices(placement.splitTensors(o.initial), null);
    if (created) return created;
    log.info('job placed on ps tasks', { job: o.jobId, tasks: placement.tasks, bytesPerTask: placement.bytesPerTask });
    return service;
  }

  /**
   * A restarted chief's service for a stored job: when every task that holds slices of
   * it still holds them as this placement puts them, their live state (values, optimizer
   * state, versions) is adopted and the global step is the tasks' base step plus the
   * most pushes one of them applied since (`adopted: true`); otherwise the slices are
   * created anew, and the checkpoint restore that follows gives them their values.
   */
  static async attach(spec: JobSpec, o: RemoteParameterOptions): Promise<{ service: RemoteParameterService; adopted: boolean } | Failure> {
    const placement = Placement.of(o.tensors, { tasks: o.cluster.tasks, partitionBytes: o.cluster.partitionBytes });
    const service = new RemoteParameterService(spec, o, placement);
    const statuses = await Promise.all(service.used.map((t) => o.cluster.request(t, 'task:status', {})));
    // A task is down: nothing is created; the job is held until it is back, then adopted or rolled back (ps-task-recovery.ts).
    if (statuses.some((r) => !r.ok && r.code === ErrorCode.PS_TASK_UNREACHABLE)) return (service.detached = true), { service, adopted: false };
    if (service.attachLive(statuses.map((r) => (r.ok ? r : { epoch: 0, jobs: [] })))) {
      log.info('job adopted from its ps tasks', { job: o.jobId, step: service.step });
      return { service, adopted: true };
    }
    const created = await service.createSlices(placement.splitTensors(o.initial), null);
    return created ?? { service, adopted: false };
  }

  /**
   * The job's side of the service: its clock and active workers, which the round modes'
   * rounds need (given once, when the job is built).
   */
  withContext(ctx: ParameterContext): this {
    this.clock = ctx.clock;
    if (MODES[this.spec.mode].rounds && !this.rounds) {
      const closeOnTasks = (round: number, members: RoundMember[]) => closeOnEveryTask(this.o.cluster, this.o.jobId, this.used, round, members);
      this.rounds = new ChiefRounds({ ...ctx, closeOnTasks, gate: this.gate, diverged: (why) => this.onDiverged?.(why, 'round') }, { backupWorkers: this.spec.backupWorkers, roundTimeoutMs: this.spec.roundTimeoutSeconds * 1000 }, () => ++this.step);
      // Adopted tasks are at their version's round already.
      if (this.firstRound) this.rounds.restart(fail(ErrorCode.JOB_NOT_RUNNING, `Job ${this.o.jobId} was adopted`), this.firstRound);
    }
    return this;
  }

  get version(): number {
    return this.step;
  }

  /** The tasks holding at least one slice of the job. */
  get tasks(): readonly number[] {
    return this.used;
  }

  get specs(): readonly TensorSpec[] {
    return this.o.tensors;
  }

  get parameterCount(): number {
    return this.placement.parameters;
  }

  get slotCount(): number {
    return this.slotNames.length;
  }

  /** Where this job's slices are: the job API and the dashboard show it. */
  get psPlacement(): PsPlacement {
    return { endpoints: this.o.cluster.endpoints, placement: this.route };
  }

  counters(): ModeCounters {
    return { rounds: this.rounds?.rounds ?? 0, timedOut: this.rounds?.timedOut ?? 0 };
  }

  pull(): Failure {
    return fail(ErrorCode.BAD_REQUEST, `Job ${this.o.jobId} keeps its parameters on ps tasks: pull them there (the assignment's ps route)`);
  }

  /**
   * The worker's notice that the tasks took (or refused) its slices: with every task's
   * receipt for it, the global step moves and the chief credits the lease's batches;
   * a task's refusal is refused with its code; a notice without valid, unused receipts
   * is BAD_RECEIPT (a worker cannot be credited for work no task applied).
   */
  push(workerId: string, s: GradientSubmission): Result<PushAccepted> | Promise<Result<PushAccepted>> {
    if (s.psRefused !== undefined) {
      // As in process: a refused gradient stops the open round from waiting for its worker.
      this.rounds?.leave(workerId);
      const code = (ALL_ERROR_CODES as readonly string[]).includes(s.psRefused) ? (s.psRefused as ErrorCode) : ErrorCode.BAD_REQUEST;
      return fail(code, `A ps task refused this push's slices (${s.psRefused})`);
    }
    if (s.psStep && this.stageSteps) {
      // In a round mode the replica's step is its member of the round its parts are held for, closed with it.
      if (this.rounds) return s.psStep.round === null ? fail(ErrorCode.BAD_RECEIPT, 'A round mode\'s step shows no round') : this.rounds.join(workerId, s.psStep.round, s.psStep);
      return closeStep(this.stageSteps, s.psStep, this.used, this.known, () => ++this.step);
    }
    if (s.manifest.tensors.length || asBytes(s.data).byteLength) {
      return fail(ErrorCode.BAD_REQUEST, `Job ${this.o.jobId} takes gradients at its ps tasks: push the slices there and tell the chief with an empty payload`);
    }
    if (this.rounds) {
      // Every task holds the push for the open round: it joins the round, answered when every task has closed it.
      const held = this.receipts.checkHeld(workerId, this.rounds.round, s.psReceipts);
      if (held) {
        this.rounds.leave(workerId);
        return held;
      }
      return this.rounds.join(workerId, this.rounds.round);
    }
    const bad = this.receipts.redeem(workerId, s.psReceipts);
    if (bad) return bad;
    for (const r of s.psReceipts!) {
      const i = this.used.indexOf(r.task);
      this.known[i] = Math.max(this.known[i]!, r.version);
    }
    this.step += 1;
    // Staleness is each task's (they answered the worker); the chief sees none.
    return ok({ version: this.step, staleness: 0 });
  }

  leave(workerId: string): void {
    this.rounds?.leave(workerId);
  }

  /** A worker (or a split job's replica) is gone: the open round stops waiting for it, and the tasks' norm bounds forget its samples, as in process. */
  forget(workerId: string): void {
    this.rounds?.leave(workerId);
    if (!this.disposed && !this.detached) void this.norms.forget(workerId);
  }

  halt(reason: Failure): void {
    this.rounds?.halt(reason);
  }

  refreshTrusted(): void {
    if (!this.detached && !this.disposed) this.norms.refresh();
  }

  routeFor(workerId: string): PsRoute {
    const { signer, endpoints } = this.o.cluster;
    return { tasks: endpoints.map((url, task) => ({ task, url, ticket: signer.sign({ worker: workerId, job: this.o.jobId, task }) })), placement: this.route };
  }

  async values(): Promise<VersionedValues> {
    const version = this.step;
    const parts = await this.gather();
    return { version, specs: this.o.tensors, values: this.placement.joinTensors(parts.map((p) => p.values), this.sizes()) };
  }

  async snapshot(): Promise<StoreSnapshot> {
    const version = this.step;
    const parts = await this.gather();
    const values = this.placement.joinTensors(parts.map((p) => p.values), this.sizes());
    const slots = this.slotNames.map((_, k) => this.placement.joinTensors(parts.map((p) => p.slots.map((s) => s[k]!)), this.sizes()));
    return {
      version,
      applies: version,
      tensors: this.o.tensors.map((t, i) => ({ name: t.name, shape: [...t.shape], values: values[i]!, slots: slots.map((s) => s[i]!) })),
    };
  }

  /** This job's checkpoint as a consistent cut: every task's part written under one id; rejects when one is not. */
  cut(): Promise<CutManifest> {
    const take = () => takeCut(this.cutTarget(), this.step, this.inForce);
    // No round or replica step closes during the cut (one gate for both): every task's part is at the same round, or step.
    return this.gate.cut(take);
  }

  /**
   * Loads a committed cut's parts on every task; the global step resumes at the cut's.
   * Through the gate, as a cut: a close still asked again on the tasks would otherwise
   * land on the loaded slices (and close the restarted round with what it names).
   */
  restoreCut(cut: CutManifest): Promise<void> {
    return this.gate.cut(() => this.loadCutNow(cut));
  }

  private async loadCutNow(cut: CutManifest): Promise<void> {
    // The tasks resume at their parts' versions; the base step they are given keeps a later
    // chief's adoption (base step + highest task version) at or above the cut's step.
    const known = this.used.map((t) => cut.parts.find((p) => p.task === t)?.version ?? 0);
    const baseStep = Math.max(0, cut.step - Math.max(0, ...known));
    // A task that restarted holds no slices to load a part into (a rollback): every task gets them anew first.
    const missing = await this.createSlices(this.placement.splitTensors(this.o.initial), null, baseStep);
    if (missing) throw new Error(`Restoring on the ps tasks: ${missing.code}: ${missing.message}`);
    await loadCut(this.cutTarget(), cut, baseStep);
    this.step = cut.step;
    this.baseStep = baseStep;
    this.known = known;
    // Receipts for the parts' versions and below were redeemed before the cut (or never will be).
    this.receipts = this.o.cluster.receiptLedger(this.o.jobId, this.used, known);
    this.rounds?.restart(fail(ErrorCode.JOB_NOT_RUNNING, `Job ${this.o.jobId} was restored from a checkpoint`), cut.parts[0]?.version ?? 0);
    this.inForce = [cut.checkpointId];
  }

  committed(cut: CutManifest): void {
    // As many as the chief's CheckpointStore keeps by default (3), and a little more.
    this.inForce = [...this.inForce, cut.checkpointId].slice(-4);
  }

  /** Re-creates every task's slices from a checkpoint's values and optimizer state; the global step resumes at its version. */
  async restore(snap: StoreSnapshot): Promise<void> {
    const sizes = this.sizes();
    if (snap.tensors.length !== sizes.length) throw new Error(`Checkpoint has ${snap.tensors.length} tensors, the model ${sizes.length}`);
    snap.tensors.forEach((t, i) => {
      if (t.values.length !== sizes[i] || t.slots.length !== this.slotNames.length || t.slots.some((s) => s.length !== sizes[i])) {
        throw new Error(`Checkpoint tensor ${i} does not fit "${this.o.tensors[i]!.name}"`);
      }
    });
    const slots = this.slotNames.map((_, k) => this.placement.splitTensors(snap.tensors.map((t) => t.slots[k]!)));
    const refused = await this.createSlices(this.placement.splitTensors(snap.tensors.map((t) => t.values)), slots, snap.version);
    if (refused) throw new Error(`Restoring on the ps tasks: ${refused.code}: ${refused.message}`);
    this.step = snap.version;
    this.recreated(snap.version);
  }

  /** Back to the job's initial values and optimizer state at step 0 (a rollback with no checkpoint to go to). */
  reset(): Promise<void> {
    // Through the gate, as restoreCut: no close lands on the re-created slices.
    return this.gate.cut(() => this.resetNow());
  }

  private async resetNow(): Promise<void> {
    const refused = await this.createSlices(this.placement.splitTensors(this.o.initial), null, 0);
    if (refused) throw new Error(`Resetting the ps tasks: ${refused.code}: ${refused.message}`);
    this.step = 0;
    this.recreated(0);
  }

  /**
   * Whether the tasks still hold the job as the chief left it (`statuses`: each used
   * task's task:status, in `tasks` order): every slice there, the base step the chief
   * gave, and at least the versions the chief has receipts for (in a round mode, exactly
   * the chief's round: a close one task missed leaves it behind). A task that restarted
   * holds nothing; one that lost pushes holds less.
   */
  holdsLive(statuses: readonly PsTaskStatus[]): boolean {
    return this.used.every((task, i) => {
      const held = this.heldOn(task, statuses[i]);
      return held !== null && held.baseStep === this.baseStep && held.version >= this.known[i]! && (!this.rounds || held.version === this.rounds.round);
    });
  }

  /** Lets go of the sockets' use; the tasks keep the slices (a restarted chief adopts them). */
  dispose(): void {
    this.disposed = true;
    this.norms.dispose();
  }

  /** The job is deleted: its slices and checkpoint parts on the tasks go too (a task down now is told when it is back: part-drops.ts). */
  discard(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.norms.dispose();
    void this.o.cluster.drops.drop(this.o.jobId, this.used);
  }

  private cutTarget(): CutTarget {
    return { cluster: this.o.cluster, jobId: this.o.jobId, tasks: this.used, tensors: this.o.tensors, slotNames: this.slotNames };
  }

  /** The slices were given values at `step` (a restore or a reset): versions count from 0 again, and so do the receipts. */
  private recreated(step: number): void {
    // The re-created slices count their versions from 0 again: so do the rounds.
    this.rounds?.restart(fail(ErrorCode.JOB_NOT_RUNNING, `Job ${this.o.jobId} was restored from a checkpoint`));
    this.baseStep = step;
    this.known = this.used.map(() => 0);
    this.receipts = this.o.cluster.receiptLedger(this.o.jobId, this.used);
  }

  /** This job's status on `task` when it holds every slice the placement puts there; null otherwise. */
  private heldOn(task: number, status: PsTaskStatus | undefined): PsJobStatus | null {
    const held = status?.jobs.find((j) => j.jobId === this.o.jobId);
    const slices = this.placement.byTask[task]!;
    if (!held || held.task !== task || held.slices !== slices.length) return null;
    return held.parameters === slices.reduce((n, s) => n + s.length, 0) ? held : null;
  }

  /** Adopts the tasks' live state when every used task (`statuses` in `tasks` order) holds the job with one base step; false otherwise. */
  attachLive(statuses: readonly PsTaskStatus[]): boolean {
    const held = this.used.map((t, i) => this.heldOn(t, statuses[i]));
    if (held.some((h) => h === null || h.baseStep !== held[0]!.baseStep)) return false;
    this.adopt(held as PsJobStatus[]);
    this.detached = false;
    return true;
  }

  /**
   * Takes the tasks' live state as the job's. The global step becomes the base step plus
   * the most pushes one task applied: each credited push was applied by every task, so
   * that is at least the pushes the old chief credited since (more only by pushes a task
   * applied and another refused, which the old chief did not count either).
   */
  private adopt(parts: readonly PsJobStatus[]): void {
    this.baseStep = parts[0]!.baseStep;
    this.step = this.baseStep + Math.max(...parts.map((p) => p.version));
    this.known = parts.map((p) => p.version);
    this.firstRound = parts[0]!.version;
    this.rounds?.restart(fail(ErrorCode.JOB_NOT_RUNNING, `Job ${this.o.jobId} was adopted`), this.firstRound);
    // Receipts the old chief may have redeemed are below these versions: refused from here on.
    this.receipts = this.o.cluster.receiptLedger(this.o.jobId, this.used, this.known);
    // The tasks kept their bounds' samples; their reference becomes this chief's (the next refresh renews it).
    void this.norms.send();
  }

  private sizes(): number[] {
    return this.o.tensors.map((t) => sizeOf(t.shape));
  }

  /** What creates and reads this job's slices on its tasks (task-slices.ts). */
  private slicesTarget(): TaskSlicesTarget {
    return { cluster: this.o.cluster, jobId: this.o.jobId, spec: this.spec, placement: this.placement, used: this.used, slotNames: this.slotNames, extra: (task) => this.norms.createField(task) };
  }

  private createSlices(values: Float32Array[][], slots: Float32Array[][][] | null, baseStep = this.step): Promise<Failure | null> {
    return createTaskSlices(this.slicesTarget(), values, slots, baseStep);
  }

  private gather(): Promise<SlicePart[]> {
    return gatherTaskSlices(this.slicesTarget());
  }

}
