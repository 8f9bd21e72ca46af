/**
 * A round mode's open round on one ps task (sync and local modes across tasks). The
 * chief owns the round (server/params/chief-rounds.ts): which workers are in it and
 * when it closes (quorum or deadline). The task only holds what workers pushed for it
 * and, when the chief says `round:close` with the members, combines those members'
 * slices with the job's rule, applies once and moves to the next version.
 *
 * The round is this task's version: a push computed on an older version is LATE, on a
 * newer one FUTURE_VERSION. A worker that pushes again for the open round replaces what
 * it held: only the chief counts pushes per round (ALREADY_PUSHED is its answer), and a
 * worker whose push one task refused retries on every task after its next pull. Held
 * gradients are copied into buffers reused across rounds (no allocation per push once
 * the rounds are as large as they get), and summed in the order they arrived, as the
 * in-process barrier sums them, so the mean over tasks is the mean in one process bit
 * for bit; the median and the trimmed mean are per coordinate, so exact per task.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { PsRoundRule } from '../../shared/ps-protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import { createRoundGradients, type RoundGradients } from '../consistency/round-gradients.js';
import type { Gradient } from '../params/gradient.js';
import type { ParameterStore } from '../params/parameter-store.js';

export class TaskRound {
  /** The open round's pushes, by worker, in arrival order (a replacement keeps its place). */
  private readonly held = new Map<string, Float32Array[]>();
  /** Copies free for the next pushes. */
  private readonly spare: Float32Array[][] = [];
  private readonly gradients: RoundGradients;
  /** The last round closed here, its members (sorted) and the version it made: a chief that missed the answer asks again and gets the same one. */
  private lastClosed: { round: number; members: string; version: number } | null = null;

  constructor(
    private readonly store: ParameterStore,
    rule: PsRoundRule,
  ) {
    this.gradients = createRoundGradients(this.sizes(), rule);
  }

  /** The open round: this task's version. */
  get round(): number {
    return this.store.version;
  }

  /** Pushes held for the open round. */
  get holding(): number {
    return this.held.size;
  }

  /** Whether a gradient computed on `baseVersion` belongs to the open round; the refusal otherwise. */
  admit(baseVersion: number): Failure | null {
    const round = this.round;
    if (baseVersion > round) return fail(ErrorCode.FUTURE_VERSION, `Base version ${baseVersion} is ahead of this task's ${round}`);
    if (baseVersion < round) return fail(ErrorCode.LATE, `Round ${baseVersion} has closed on this task; its slices are at version ${round}: pull and compute on them`);
    return null;
  }

  /** Holds a copy of `workerId`'s checked gradient for the open round (its earlier one for the round, if any, is replaced). */
  hold(workerId: string, gradient: Gradient): void {
    const copy = this.held.get(workerId) ?? this.spare.pop() ?? this.sizes().map((n) => new Float32Array(n));
    this.held.set(workerId, copy);
    gradient.views.forEach((v, t) => copy[t]!.set(v));
  }

  /**
   * The chief's close of round `round` with `members`: combines their held slices in
   * arrival order, applies once, drops every other held push. Refused (nothing changes)
   * when `round` is not the open round, or a member's push is not held here. Idempotent:
   * the round closed last, asked again with the same members, answers the same version
   * and applies nothing (the chief retries a close whose answer it missed); with other
   * members it is a CONFLICT.
   */
  close(round: number, members: readonly string[]): Result<{ version: number }> {
    const key = JSON.stringify([...members].sort());
    const last = this.lastClosed;
    if (last && last.round === round) {
      return last.members === key ? ok({ version: last.version }) : fail(ErrorCode.CONFLICT, `Round ${round} closed on this task with other members`);
    }
    if (round !== this.round) return fail(ErrorCode.CONFLICT, `Round ${round} is not open on this task (its version is ${this.round})`);
    const wanted = new Set(members);
    const missing = members.find((m) => !this.held.has(m));
    if (missing !== undefined) return fail(ErrorCode.CONFLICT, `Round ${round}: this task holds no push of worker ${missing}`);
    if (!wanted.size) return fail(ErrorCode.BAD_REQUEST, `Round ${round}: a round closes with at least one member`);
    for (const [worker, copy] of this.held) if (wanted.has(worker)) this.gradients.add({ views: copy });
    const version = this.store.apply(this.gradients.aggregateInto(this.store.gradientBuffer));
    this.release();
    this.lastClosed = { round, members: key, version };
    return ok({ version });
  }

  /** Drops every held push and the memory of the last close (the job's slices are deleted or re-created: their rounds start again). */
  drop(): void {
    this.release();
    this.lastClosed = null;
  }

  private release(): void {
    for (const copy of this.held.values()) this.spare.push(copy);
    this.held.clear();
  }

  private sizes(): number[] {
    return this.store.tensors.map((t) => t.values.length);
  }
}
