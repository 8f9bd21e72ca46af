/**
 * A round mode's open round on one ps task (sync and local modes across tasks). The
 * chief owns the round (server/params/chief-rounds.ts): which workers are in it and
 * when it closes (quorum or deadline). The task only holds what workers pushed for it
 * and, when the chief says `round:close` with the members, combines those members'
 * slices with the job's rule, applies once and moves to the next version.
 *
 * The round is this task's version: a push computed on an older version is LATE, on a
 * newer one FUTURE_VERSION. What a round holds is bounded: pushes and parts of at most
 * ROUND_HELD_GRADIENTS whole gradients' worth of this task's slices in bytes (a
 * volunteer rejoining under new worker ids cannot fill the task); beyond, a new one is
 * BUSY and nothing is held. A worker that pushes again for the open round replaces what
 * it held: only the chief counts pushes per round (ALREADY_PUSHED is its answer), and a
 * worker whose push one task refused retries on every task after its next pull. Held
 * gradients are copied into buffers reused across rounds (no allocation per push once
 * the rounds are as large as they get), and summed in the order they arrived, as the
 * in-process barrier sums them, so the mean over tasks is the mean in one process bit
 * for bit; the median and the trimmed mean are per coordinate, so exact per task.
 *
 * A split job's round (model parallelism in a round mode): a round's member is a
 * replica, and each of its stages holds here only the part of its gradient that falls
 * on this task's slices (`holdPart`, from `grads:hold`), under a part number
 * (round-parts.ts). The chief's close names each member as the parts (worker, number)
 * its accepted step was shown receipts for; they must cover every
 * slice exactly once, and together they are that member's gradient over this task's
 * slices, combined with the others' by the job's rule as a whole push would be. The
 * members are summed in the chief's order (the order their replica steps completed,
 * which is the order the in-process barrier takes them in): a replica's parts arrive
 * here from different stages at different moments, so no arrival order here is its.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { TensorCodec } from '../../shared/codec.js';
import type { PsHoldRef, PsRoundMember, PsRoundRule } from '../../shared/ps-protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import { createRoundGradients, type RoundGradients } from '../consistency/round-gradients.js';
import type { Gradient } from '../params/gradient.js';
import type { ParameterStore } from '../params/parameter-store.js';
import type { UncheckedManifest } from '../params/push-validation.js';
import type { PartNormBound } from './part-norm-bound.js';
import { RoundParts } from './round-parts.js';
import { decodeStagePart } from './stage-part.js';

/** Whole gradients' worth of this task's slices a round holds at most, in bytes: far more workers than a round of volunteers has. */
export const ROUND_HELD_GRADIENTS = 64;

export class TaskRound {
  /** The open round's pushes, by worker, in arrival order (a replacement keeps its place). */
  private readonly held = new Map<string, Float32Array[]>();
  /** Copies free for the next pushes. */
  private readonly spare: Float32Array[][] = [];
  private readonly gradients: RoundGradients;
  /** The last round closed here, its members (sorted) and the version it made: a chief that missed the answer asks again and gets the same one. */
  private lastClosed: { round: number; members: string; version: number } | null = null;
  /** A split job's stage parts held for the open round, by worker and number. */
  private readonly parts = new RoundParts();
  /** The most bytes the open round holds: ROUND_HELD_GRADIENTS × this task's slices. */
  private readonly maxHeldBytes: number;
  /** One member's gradient assembled from its stages' parts (RoundGradients.add copies it). */
  private assembled: Float32Array[] | null = null;
  private readonly index: Map<string, number>;

  constructor(
    private readonly store: ParameterStore,
    rule: PsRoundRule,
    /** The job's codec, for a split job's stage parts. */
    private readonly codec: TensorCodec,
    /** The job's norm bound on a split job's parts here; null: off (whole pushes pass the task's gate before `hold`). */
    private readonly norm: PartNormBound | null = null,
  ) {
    this.gradients = createRoundGradients(this.sizes(), rule);
    this.index = new Map(store.specs.map((s, i) => [s.name, i]));
    this.maxHeldBytes = ROUND_HELD_GRADIENTS * store.parameterCount * 4;
  }

  /** The open round: this task's version. */
  get round(): number {
    return this.store.version;
  }

  /** Pushes held for the open round. */
  get holding(): number {
    return this.held.size + this.parts.size;
  }

  /**
   * Whether a gradient computed on `baseVersion` belongs to the open round; the refusal
   * otherwise. With `workerId`, a whole push: BUSY when it would be a new one beyond the
   * bytes a round holds (a worker's next push replaces its held one in place).
   */
  admit(baseVersion: number, workerId?: string): Failure | null {
    const round = this.round;
    if (baseVersion > round) return fail(ErrorCode.FUTURE_VERSION, `Base version ${baseVersion} is ahead of this task's ${round}`);
    if (baseVersion < round) return fail(ErrorCode.LATE, `Round ${baseVersion} has closed on this task; its slices are at version ${round}: pull and compute on them`);
    if (workerId !== undefined && !this.held.has(workerId) && this.wholeBytes() + this.parts.bytes + this.store.parameterCount * 4 > this.maxHeldBytes) {
      return fail(ErrorCode.BUSY, `Round ${round} holds as many pushes as this task keeps for a round: retry in the next`);
    }
    return null;
  }

  /** Holds a copy of `workerId`'s checked gradient for the open round (its earlier one for the round, if any, is replaced). */
  hold(workerId: string, gradient: Gradient): void {
    const copy = this.held.get(workerId) ?? this.spare.pop() ?? this.sizes().map((n) => new Float32Array(n));
    this.held.set(workerId, copy);
    gradient.views.forEach((v, t) => copy[t]!.set(v));
  }

  /**
   * A split job's stage part for the open round, checked and held: the slices it names
   * and its part number (answered, for the receipt). A worker's later parts in a round
   * keep the slices of its first (CONFLICT otherwise), so each of its parts covers what
   * the chief checked its receipt for.
   */
  holdPart(workerId: string, baseVersion: number, manifest: UncheckedManifest, data: ArrayBuffer | Uint8Array): Result<{ slices: string[]; part: number }> {
    const late = this.admit(baseVersion);
    if (late) return late;
    const part = decodeStagePart(this.store, this.codec, this.index, manifest, data);
    if ('ok' in part) return part;
    const earlier = this.parts.latest(workerId);
    if (earlier && (earlier.slices.length !== part.slices.length || earlier.slices.some((i, k) => i !== part.slices[k]))) {
      return fail(ErrorCode.CONFLICT, `This worker holds other slices for round ${this.round} here`);
    }
    const outlier = this.norm?.judge(workerId, part);
    if (outlier) return outlier;
    const number = this.parts.add(workerId, this.round, part, this.maxHeldBytes - this.wholeBytes());
    if (typeof number !== 'number') return number;
    return ok({ slices: part.slices.map((i) => this.store.specs[i]!.name), part: number });
  }

  /**
   * The chief's close of round `round` with `members`: combines their held slices (in
   * arrival order; a split job's replicas in the chief's order, each assembled from its
   * stages' parts), applies once, drops every other held push or part. Refused (nothing
   * changes) when `round` is not the open round, a member's push is not held here, or a
   * replica's parts do not cover this task's slices exactly once. Idempotent:
   * the round closed last, asked again with the same members, answers the same version
   * and applies nothing (the chief retries a close whose answer it missed); with other
   * members it is a CONFLICT.
   */
  close(round: number, members: readonly PsRoundMember[]): Result<{ version: number }> {
    const key = JSON.stringify(members.map((m) => (typeof m === 'string' ? m : m.map((r) => `${r.hold}:${r.worker}`).sort())).sort());
    const last = this.lastClosed;
    if (last && last.round === round) {
      return last.members === key ? ok({ version: last.version }) : fail(ErrorCode.CONFLICT, `Round ${round} closed on this task with other members`);
    }
    if (round !== this.round) return fail(ErrorCode.CONFLICT, `Round ${round} is not open on this task (its version is ${this.round})`);
    if (!members.length) return fail(ErrorCode.BAD_REQUEST, `Round ${round}: a round closes with at least one member`);
    const whole = members.filter((m): m is string => typeof m === 'string');
    const split = members.filter((m): m is PsHoldRef[] => typeof m !== 'string');
    if (whole.length && split.length) return fail(ErrorCode.BAD_REQUEST, `Round ${round}: members are all workers or all replicas' stages`);
    const refused = whole.length ? this.missingPush(round, whole) : this.badCover(round, split);
    if (refused) return refused;
    if (whole.length) {
      const wanted = new Set(whole);
      for (const [worker, copy] of this.held) if (wanted.has(worker)) this.gradients.add({ views: copy });
    } else {
      for (const stages of split) this.gradients.add({ views: this.assemble(stages) });
    }
    const version = this.store.apply(this.gradients.aggregateInto(this.store.gradientBuffer));
    // As many spare copies as this round's members: a round of strangers leaves none behind for good.
    this.release(whole.length);
    this.lastClosed = { round, members: key, version };
    return ok({ version });
  }

  /** The first member whose push is not held here. */
  private missingPush(round: number, members: readonly string[]): Failure | null {
    const missing = members.find((m) => !this.held.has(m));
    return missing === undefined ? null : fail(ErrorCode.CONFLICT, `Round ${round}: this task holds no push of worker ${missing}`);
  }

  /** Why the replicas' parts do not each cover this task's slices exactly once (a worker in one replica only); null when they do. */
  private badCover(round: number, replicas: readonly (readonly PsHoldRef[])[]): Failure | null {
    const seen = new Set<string>();
    for (const stages of replicas) {
      const covered = new Array<boolean>(this.store.specs.length).fill(false);
      for (const { worker: w, hold } of stages) {
        const part = this.parts.find(w, hold);
        if (!part) return fail(ErrorCode.CONFLICT, `Round ${round}: this task holds no part ${hold} of worker ${w} (never held, or gone for newer ones)`);
        if (seen.has(w)) return fail(ErrorCode.CONFLICT, `Round ${round}: worker ${w} is in two members`);
        seen.add(w);
        for (const i of part.slices) {
          if (covered[i]) return fail(ErrorCode.CONFLICT, `Round ${round}: slice "${this.store.specs[i]!.name}" is in two parts of one member`);
          covered[i] = true;
        }
      }
      const gap = covered.indexOf(false);
      if (gap >= 0) return fail(ErrorCode.CONFLICT, `Round ${round}: no part of member [${stages.map((r) => r.worker).join(', ')}] holds slice "${this.store.specs[gap]!.name}"`);
    }
    return null;
  }

  /** One replica's gradient over this task's slices, from its stages' parts (checked by badCover). */
  private assemble(stages: readonly PsHoldRef[]): Float32Array[] {
    const out = (this.assembled ??= this.sizes().map((n) => new Float32Array(n)));
    for (const { worker, hold } of stages) {
      const part = this.parts.find(worker, hold)!;
      part.slices.forEach((i, k) => out[i]!.set(part.values[k]!));
    }
    return out;
  }

  /** Drops every held push and the memory of the last close (the job's slices are deleted or re-created: their rounds start again). */
  drop(): void {
    this.release(0);
    this.lastClosed = null;
  }

  /** Lets every held push and part go, keeping at most `spares` copies for the next round's pushes. */
  private release(spares: number): void {
    for (const copy of this.held.values()) this.spare.push(copy);
    this.spare.length = Math.min(this.spare.length, spares);
    this.held.clear();
    this.parts.clear();
  }

  /** Bytes of the whole pushes held (each a copy of this task's slices). */
  private wholeBytes(): number {
    return this.held.size * this.store.parameterCount * 4;
  }

  private sizes(): number[] {
    return this.store.tensors.map((t) => t.values.length);
  }
}
