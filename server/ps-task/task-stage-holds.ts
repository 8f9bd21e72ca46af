/**
 * A split job's stage parts on one ps task (model parallelism on ps tasks,
 * docs/model-parallelism.md). A stage pushes only its own tensors' slices, so a task
 * may get a replica step in several parts, one per stage whose tensors have slices
 * here. Each part is checked when it arrives, as a push is (staleness against this
 * task's version, the layout of the slices it names in the job's codec, finite values,
 * the norm bound on its slices here: part-norm-bound.ts),
 * and held, decoded, under a number of the task's; nothing is applied. The chief, once
 * every stage of the step showed it a receipt for each of its parts, closes the step:
 * the named holds are combined into one gradient over this task's slices and applied
 * once (one version), as the in-process replica step applies the joined push. A step
 * that one part of was refused anywhere is dropped instead: nothing of it is applied on
 * any task (the two phases of a commit: holding is the vote, the close the decision).
 *
 * Holds are bounded: at most HOLDS_PER_WORKER per worker (an honest stage has one in
 * flight), and MAX_HELD_STEPS steps' worth of this task's slices in bytes. A worker's
 * part past its own bound is refused BUSY, and none of its holds goes for it: a hold the
 * chief was told of may be in a step it is closing, and a close one task refuses and
 * another applies is half applied, which holds the job and rolls every task back (a stage
 * holding two more parts after its real one could do that every step). Past the bytes
 * bound the oldest holds go, as before: letting anyone's go takes many workers' holds at
 * once, and refusing instead would let a few fill the task and keep it full. A hold the
 * chief never closed nor dropped (its drop lost, its notice refused before it was kept)
 * goes once older than STALE_HOLD_MS. A close naming a hold that went is refused,
 * nothing applied here.
 *
 * A close is idempotent: the last CLOSED_STEPS_KEPT steps closed here are remembered by
 * their holds, and the same close asked again answers the version it made, applying
 * nothing (the chief asks again when it missed the answer: task-stage-steps.ts).
 */
import { randomInt } from 'node:crypto';
import type { TensorCodec } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { PsHoldRef } from '../../shared/ps-protocol.js';
import { fail, ok, type Failure, type Result } from '../../shared/result.js';
import type { ParameterStore } from '../params/parameter-store.js';
import type { UncheckedManifest } from '../params/push-validation.js';
import { checkStaleness } from '../params/staleness-policy.js';
import type { PartNormBound } from './part-norm-bound.js';
import { decodeStagePart } from './stage-part.js';

/** Stage parts one worker may have held here at once: an honest stage waits for its step's answer before its next part. */
const HOLDS_PER_WORKER = 2;
/** Whole steps' worth of this task's slices held at most (in bytes), over all workers. */
const MAX_HELD_STEPS = 8;
/**
 * A hold older than this was neither closed nor dropped by the chief: it goes, making
 * room. Longer than any step may wait: a step's parts wait at the chief at most the job's
 * lease period, which is at most an hour (60 s by default).
 */
export const STALE_HOLD_MS = 61 * 60_000;
/** Closed steps remembered per job: a chief's retries span seconds, in which a task closes far fewer steps than this. */
export const CLOSED_STEPS_KEPT = 256;

interface Held {
  worker: string;
  /** When it was held (the task's clock): STALE_HOLD_MS on, it goes. */
  since: number;
  baseVersion: number;
  /** Indices of the slices held, ascending (this task's order). */
  slices: number[];
  values: Float32Array[];
  bytes: number;
}

export interface HeldPart {
  version: number;
  staleness: number;
  hold: number;
  /** The names of the slices held, in this task's order (the receipt binds them). */
  slices: string[];
}

export class TaskStageHolds {
  private readonly held = new Map<number, Held>();
  /** Hold numbers start at a random point: a restarted task does not reissue numbers a chief has seen redeemed. */
  private next = randomInt(1, 2 ** 47);
  private bytes = 0;
  /** The last closed steps (their holds, as stepKey gives them) and the version each made, oldest first. */
  private readonly closed = new Map<string, number>();
  private readonly index: Map<string, number>;
  private readonly maxBytes: number;

  constructor(
    private readonly store: ParameterStore,
    private readonly codec: TensorCodec,
    private readonly maxStaleness: number,
    private readonly stalenessAware: boolean,
    /** The job's norm bound on this task's parts; null: off. */
    private readonly norm: PartNormBound | null = null,
    /** The task's clock (stale holds). */
    private readonly now: () => number = Date.now,
  ) {
    this.index = new Map(store.specs.map((s, i) => [s.name, i]));
    this.maxBytes = MAX_HELD_STEPS * store.parameterCount * 4;
  }

  /** Parts held now (tests, status). */
  get holding(): number {
    return this.held.size;
  }

  /** Checks `worker`'s stage part and holds it; the refusal when it may not join a step. */
  hold(worker: string, baseVersion: number, manifest: UncheckedManifest, data: ArrayBuffer | Uint8Array): Result<HeldPart> {
    const fresh = checkStaleness(this.store.version, baseVersion, this.maxStaleness);
    if ('ok' in fresh) return fresh;
    const part = decodeStagePart(this.store, this.codec, this.index, manifest, data);
    if ('ok' in part) return part;
    // Before the bound judges it: a part refused BUSY must not count among its worker's samples and clips.
    const busy = this.busy(worker);
    if (busy) return busy;
    const outlier = this.norm?.judge(worker, part);
    if (outlier) return outlier;
    const { slices, values } = part;
    const bytes = values.reduce((n, v) => n + v.byteLength, 0);
    this.makeRoom(bytes);
    const hold = this.next++;
    this.held.set(hold, { worker, since: this.now(), baseVersion, slices, values, bytes });
    this.bytes += bytes;
    return ok({ version: this.store.version, staleness: fresh.staleness, hold, slices: slices.map((i) => this.store.specs[i]!.name) });
  }

  /**
   * The chief's close of one replica step: the holds must be there, be the named
   * workers', and cover each of this task's slices exactly once; then they are applied
   * as one update and let go. Refused with nothing changed otherwise.
   */
  close(refs: readonly PsHoldRef[]): Result<{ version: number }> {
    const key = stepKey(refs);
    const made = this.closed.get(key);
    if (made !== undefined) return ok({ version: made });
    const parts: Held[] = [];
    const covered = new Array<boolean>(this.store.specs.length).fill(false);
    for (const r of refs) {
      const h = this.held.get(r.hold);
      if (!h || h.worker !== r.worker) return fail(ErrorCode.CONFLICT, `This task holds no part ${r.hold} of worker ${r.worker}`);
      for (const i of h.slices) {
        if (covered[i]) return fail(ErrorCode.CONFLICT, `Slice "${this.store.specs[i]!.name}" is in two of the step's parts`);
        covered[i] = true;
      }
      parts.push(h);
    }
    const gap = covered.indexOf(false);
    if (gap >= 0) return fail(ErrorCode.CONFLICT, `No part of the step holds slice "${this.store.specs[gap]!.name}"`);
    const buffer = this.store.gradientBuffer;
    for (const h of parts) h.slices.forEach((i, k) => buffer[i]!.set(h.values[k]!));
    // Staleness counts from the oldest parameters any part was computed on, as in process.
    const staleness = this.store.version - Math.min(...parts.map((h) => h.baseVersion));
    const version = this.store.apply({ views: buffer }, this.stalenessAware ? 1 / Math.max(1, staleness) : 1);
    this.drop(refs);
    this.closed.set(key, version);
    // A Map iterates in insertion order: the oldest close is forgotten first.
    if (this.closed.size > CLOSED_STEPS_KEPT) this.closed.delete(this.closed.keys().next().value!);
    return ok({ version });
  }

  /** Lets the named holds go (a step refused, or closed). */
  drop(refs: readonly PsHoldRef[]): void {
    for (const r of refs) {
      if (this.held.get(r.hold)?.worker === r.worker) this.remove(r.hold);
    }
  }

  /** Every hold goes, and the memory of closes (the job's values were replaced: a checkpoint loaded). */
  clear(): void {
    this.held.clear();
    this.closed.clear();
    this.bytes = 0;
  }

  /** BUSY when `worker` holds HOLDS_PER_WORKER parts once stale holds went; null: it may hold one more. */
  private busy(worker: string): Failure | null {
    const stale = this.now() - STALE_HOLD_MS;
    // A Map iterates in insertion order: the oldest first.
    for (const [id, h] of this.held) {
      if (h.since > stale) break;
      this.remove(id);
    }
    let mine = 0;
    for (const h of this.held.values()) if (h.worker === worker) mine++;
    return mine >= HOLDS_PER_WORKER ? fail(ErrorCode.BUSY, `Worker ${worker} holds ${mine} parts here: its earlier steps are not closed yet`) : null;
  }

  /** Lets the oldest holds go until `bytes` more fit under the bound. */
  private makeRoom(bytes: number): void {
    for (const id of this.held.keys()) {
      if (this.bytes + bytes <= this.maxBytes) break;
      this.remove(id);
    }
  }

  private remove(id: number): void {
    const h = this.held.get(id);
    if (!h) return;
    this.held.delete(id);
    this.bytes -= h.bytes;
  }
}

/** One step's identity here: its holds, in any order (hold numbers are never reused on a task). */
function stepKey(refs: readonly PsHoldRef[]): string {
  return refs
    .map((r) => `${r.hold}:${r.worker}`)
    .sort()
    .join(',');
}
