/**
 * One job's slices on this ps task: a ParameterStore over the slices the placement put
 * here, with the job's optimizer, and the gate every push passes (payload cap, layout
 * in the job's codec, finite values). The task keeps its own version of the job (the
 * pushes it applied), so staleness is per task: a worker's base version is the one it
 * pulled from this task. Pushes apply as they come (async Downpour, or staleness-aware:
 * the learning rate over each push's staleness here), or in a round mode are held for
 * the open round until the chief closes it (task-round.ts). With the job's norm bound
 * on, every push (and a split job's stage part) is judged on its slices here against the
 * bound of those slices here, before it is applied or held (part-norm-bound.ts says why
 * per task is enough); the reference the bound starts from is the chief's (`setReference`).
 */
import type { z } from 'zod';
import { codecOf } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { PsJobStatus, PsSliceSnapshot } from '../../shared/ps-protocol.js';
import type { ParamsSnapshot, PushAccepted } from '../../shared/protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import { totalSize } from '../../shared/tensors.js';
import { PARAMETERS_PER_PS_TASK } from '../cluster/capacity.js';
import { PS_TASK_APPLY_SETTINGS, type ApplySettings } from '../params/apply-engine.js';
import { GradientGate } from '../params/gradient-gate.js';
import { createOptimizer } from '../params/optimizers.js';
import { ParameterStore } from '../params/parameter-store.js';
import type { UncheckedManifest } from '../params/push-validation.js';
import { checkStaleness } from '../params/staleness-policy.js';
import type { PartContent, PartSource } from './checkpoint-parts.js';
import type { jobCreateSchema } from './schemas.js';
import { decodeSliceValues, encodeSnapshot } from './slice-payload.js';
import { ReferenceNorms } from '../params/reference-norms.js';
import { PartNormBound } from './part-norm-bound.js';
import { TaskRound } from './task-round.js';
import { TaskStageHolds, type HeldPart } from './task-stage-holds.js';
import { selectTensors } from '../../shared/tensor-parts.js';

export type JobCreate = z.output<typeof jobCreateSchema>;

export class TaskJob {
  /** A checkpoint part being written from the live arrays: pushes wait for it (worker-namespace.ts). */
  private hold: Promise<unknown> | null = null;

  private constructor(
    readonly id: string,
    /** This task's index in the cluster, as tickets for the job name it. */
    readonly task: number,
    private readonly maxStaleness: number,
    /** Staleness-aware SGD (server/consistency/staleness-aware.ts): the learning rate over τ for a push τ versions old. */
    private readonly stalenessAware: boolean,
    private readonly store: ParameterStore,
    private readonly gate: GradientGate,
    /** A round mode's open round (sync, local); null: pushes apply as they come. */
    readonly round: TaskRound | null,
    /** The chief's step when it gave these values (kept for a re-attaching chief). */
    private baseStep: number,
    /** A split job's stage parts, held for the chief's step:close (task-stage-holds.ts); null: not split, or split in a round mode. */
    readonly stageHolds: TaskStageHolds | null = null,
    /** A split job: its stages send parts (`grads:hold`), never whole pushes. */
    readonly split = false,
    /** Mini-batches a push sums (the norm bound judges norms per batch). */
    private readonly batches = 1,
    /** The norm bound on a split job's stage parts; null: off, or not split. */
    private readonly partBound: PartNormBound | null = null,
    /** The norm bound's reference, the chief's latest (task:status reports it); null: none. */
    private reference: ReferenceNorms | null = null,
  ) {}

  /** Checks the chief's request (sizes, names, initial values) and builds the store; a coded refusal otherwise. `apply`: default PS_TASK_APPLY_SETTINGS. */
  static create(req: JobCreate, apply: ApplySettings | undefined, now: () => number = Date.now): TaskJob | Failure {
    const names = new Set(req.slices.map((s) => s.name));
    if (names.size !== req.slices.length) return fail(ErrorCode.BAD_REQUEST, 'slices: two slices share a name');
    const parameters = totalSize(req.slices);
    if (parameters > PARAMETERS_PER_PS_TASK) return fail(ErrorCode.MODEL_TOO_LARGE, `slices: ${parameters} parameters; a ps task holds at most ${PARAMETERS_PER_PS_TASK}`);
    const initial = decodeSliceValues(req.slices, req.initial.manifest, req.initial.data);
    if ('ok' in initial) return initial;
    const optimizer = createOptimizer(req.optimizer);
    let slots: Float32Array[] | null = null;
    if (req.slots) {
      // A checkpoint's optimizer state: per slice, each slot in the optimizer's order.
      const specs = req.slices.flatMap((s) => optimizer.slotNames.map((n) => ({ name: `${s.name}:${n}`, shape: s.shape })));
      const decoded = decodeSliceValues(specs, req.slots.manifest, req.slots.data);
      if ('ok' in decoded) return decoded;
      slots = decoded;
    }
    const store = new ParameterStore(req.slices, initial, optimizer, { keepVersions: req.keepVersions, apply: apply ?? PS_TASK_APPLY_SETTINGS });
    if (slots) {
      const per = optimizer.slotNames.length;
      store.restore({ version: 0, applies: 0, tensors: req.slices.map((s, i) => ({ name: s.name, shape: s.shape, values: initial[i]!, slots: slots.slice(i * per, (i + 1) * per) })) });
    }
    const norm = req.normBound;
    const reference = norm?.reference ? referenceOf(norm.reference, req.slices.length) : null;
    if (reference && 'ok' in reference) return reference;
    // The bound judges this task's part of each push against this task's history of the same slices.
    const gate = new GradientGate(store, codecOf(req), norm?.factor ?? 0, reference);
    const partBound = norm && req.split ? new PartNormBound(norm.factor, norm.batches, reference) : null;
    const round = req.rounds ? new TaskRound(store, req.rounds, codecOf(req), partBound) : null;
    // A split job in a round mode holds its stage parts for the open round instead (task-round.ts).
    const holds = req.split && !round ? new TaskStageHolds(store, codecOf(req), req.maxStaleness, req.stalenessAware ?? false, partBound, now) : null;
    return new TaskJob(req.jobId, req.task, req.maxStaleness, req.stalenessAware ?? false, store, gate, round, req.baseStep ?? 0, holds, req.split ?? false, norm?.batches ?? 1, partBound, reference);
  }

  /** `workerId` left the job (the chief says): its norm samples and clip runs here go. */
  forget(workerId: string): void {
    this.gate.forget(workerId);
    this.partBound?.forget(workerId);
  }

  /** The chief's trusted refresh: the PS's own norms per slice here at recent parameters become the bound's reference. */
  setReference(rows: number[][]): Result {
    const reference = referenceOf(rows, this.store.specs.length);
    if ('ok' in reference) return reference;
    this.reference = reference;
    this.gate.setReference(reference);
    this.partBound?.setReference(reference);
    return ok({});
  }

  get version(): number {
    return this.store.version;
  }

  /** Threads that share one apply of this job here (1: the event loop alone). */
  get applyThreads(): number {
    return this.store.engine.threads;
  }

  /** This task's slices at its current version, fp32; a delta when the worker holds `have` and the delta is smaller. */
  pull(have?: number, slices?: readonly string[]): Result<ParamsSnapshot> {
    const names = slices && new Set(slices);
    if (names && (names.size !== slices.length || slices.some((n) => !this.store.specs.some((s) => s.name === n)))) {
      return fail(ErrorCode.TENSOR_MISMATCH, 'The pull names a slice this task does not hold for the job, or one twice');
    }
    const delta = have === undefined ? null : this.store.delta(have);
    const { version, manifest, data } = delta ?? { version: this.store.version, ...this.store.payload().payload };
    // A stage holds only its own tensors: the answer (or delta) carries only their slices.
    return ok({ jobId: this.id, version, ...(names ? selectTensors({ manifest, data }, names) : { manifest, data }) });
  }

  /** `workerId`'s push (its ticket's worker): staleness against this task's version, then the gate, then one optimizer step over this task's slices. */
  push(workerId: string, baseVersion: number, manifest: UncheckedManifest, data: ArrayBuffer | Uint8Array): Result<PushAccepted> {
    if (this.split) return fail(ErrorCode.BAD_REQUEST, `Job ${this.id} is split into stages: a stage sends its part with grads:hold, applied at its replica step's close`);
    if (this.round) return this.holdForRound(this.round, workerId, baseVersion, manifest, data);
    const fresh = checkStaleness(this.store.version, baseVersion, this.maxStaleness);
    if ('ok' in fresh) return fresh;
    const gradient = this.gate.check({ manifest, data, batches: this.batches }, workerId);
    if ('ok' in gradient) return gradient;
    const lrScale = this.stalenessAware ? 1 / Math.max(1, fresh.staleness) : 1;
    const clipped = gradient.clipped;
    const accepted = { version: this.store.apply(gradient, lrScale), staleness: fresh.staleness };
    return ok(clipped === null ? accepted : { ...accepted, clipped });
  }

  /** A round mode's push: checked, then held for the open round (its version, which the answer names) until the chief closes it. */
  private holdForRound(round: TaskRound, workerId: string, baseVersion: number, manifest: UncheckedManifest, data: ArrayBuffer | Uint8Array): Result<PushAccepted> {
    const late = round.admit(baseVersion, workerId);
    if (late) return late;
    const gradient = this.gate.check({ manifest, data, batches: this.batches }, workerId);
    if ('ok' in gradient) return gradient;
    round.hold(workerId, gradient);
    return ok(gradient.clipped === null ? { version: round.round, staleness: 0 } : { version: round.round, staleness: 0, clipped: gradient.clipped });
  }

  /**
   * A split job's stage part: held for its replica step's close (async modes), or for
   * the open round (round modes: `round` is its number, which the receipt binds).
   */
  holdPart(workerId: string, baseVersion: number, manifest: UncheckedManifest, data: ArrayBuffer | Uint8Array): Result<HeldPart & { round: number | null }> {
    if (this.stageHolds) {
      const held = this.stageHolds.hold(workerId, baseVersion, manifest, data);
      return held.ok ? ok({ ...held, round: null }) : held;
    }
    if (!this.split || !this.round) return fail(ErrorCode.BAD_REQUEST, `Job ${this.id} is not split into stages on this task`);
    const round = this.round.round;
    const held = this.round.holdPart(workerId, baseVersion, manifest, data);
    // Its number names the round and the part, as its receipt says.
    return held.ok ? ok({ version: round, staleness: 0, hold: held.part, slices: held.slices, round }) : held;
  }

  snapshot(): PsSliceSnapshot {
    return encodeSnapshot(this.id, this.store);
  }

  /** The write holding this job's pushes, if one is under way: a push waits for it before it applies. */
  get held(): Promise<unknown> | null {
    return this.hold;
  }

  /**
   * Runs `write` over the job's live arrays with its pushes held until it settles, so
   * the part is exactly this task's state at one version. Nothing is mid-apply when it
   * starts: an apply runs whole within one turn of the event loop. One write at a time.
   */
  async holdPushes<T extends object>(write: (src: PartSource) => Promise<T | Failure>): Promise<T | Failure> {
    if (this.hold) return fail(ErrorCode.CHECKPOINT_WRITE_FAILED, `A checkpoint part of job ${this.id} is already being written here`);
    const slotNames = this.store.optimizer.slotNames;
    const running = write({ jobId: this.id, task: this.task, version: this.store.version, applies: this.store.applyCount, slotNames, slices: this.store.tensors });
    this.hold = running.catch(() => undefined);
    try {
      return await running;
    } finally {
      this.hold = null;
    }
  }

  /** Replaces values, optimizer state and version with a checkpoint part's, when it holds exactly this job's slices here. */
  load(part: PartContent, baseStep: number): Result<{ version: number }> {
    const tensors = this.store.tensors;
    const slotNames = this.store.optimizer.slotNames;
    const refuse = (why: string) => fail(ErrorCode.CHECKPOINT_PART_CORRUPT, `The part does not fit job ${this.id} on this task: ${why}`);
    if (part.slotNames.length !== slotNames.length || part.slotNames.some((n, i) => n !== slotNames[i])) return refuse(`optimizer slots [${part.slotNames}], the job's [${slotNames}]`);
    if (part.slices.length !== tensors.length) return refuse(`${part.slices.length} slices, the job has ${tensors.length} here`);
    for (let i = 0; i < tensors.length; i++) {
      const { name, shape } = tensors[i]!.spec;
      const got = part.slices[i]!;
      if (got.name !== name || got.shape.length !== shape.length || got.shape.some((d, k) => d !== shape[k])) return refuse(`slice ${i} is "${got.name}" [${got.shape}], the job's "${name}" [${shape}]`);
      if (!got.values.every(Number.isFinite)) return refuse(`"${name}" holds NaN or Infinity`);
    }
    this.store.restore({ version: part.version, applies: part.applies, tensors: part.slices });
    this.baseStep = baseStep;
    // Pushes held for a round of the state just replaced belong to no round of this one.
    this.round?.drop();
    this.stageHolds?.clear();
    return ok({ version: this.store.version });
  }

  status(): PsJobStatus {
    const status = { jobId: this.id, task: this.task, version: this.store.version, slices: this.store.tensors.length, parameters: this.store.parameterCount, baseStep: this.baseStep };
    return this.reference ? { ...status, normReference: this.reference.normOf(0, status.slices) } : status;
  }

  dispose(): void {
    this.store.dispose();
  }
}

/** The chief's reference rows as norms of this task's `slices` slices; refused when a row has another length. */
function referenceOf(rows: number[][], slices: number): ReferenceNorms | Failure {
  const bad = rows.findIndex((r) => r.length !== slices);
  if (bad >= 0) return fail(ErrorCode.BAD_REQUEST, `normBound.reference: row ${bad} has ${rows[bad]!.length} sums of squares; this task holds ${slices} slices of the job`);
  return new ReferenceNorms(rows);
}
