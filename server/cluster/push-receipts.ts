/**
 * Receipts for pushes on ps tasks. The chief credits a worker's push (its lease's
 * batches, the volunteer's contribution, the global step) only when the worker shows,
 * for every task that holds a slice of the job, the task's receipt that it applied that
 * worker's slices. A task signs a receipt with a key derived from the cluster token that
 * workers never see, so a worker cannot make one; it binds the task, the job, the worker
 * and the version the task's push made, which only one push ever makes, so a receipt
 * counts once: the chief keeps each task's versions used, and refuses any at or below
 * the floor it has pruned to.
 *
 *   receipt = base64url(HMAC-SHA256(receiptKey, JSON ["dpr1", task, job, worker, version]))
 */
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';
import { mac, macEquals, type ClusterKeys } from './cluster-keys.js';

const VERSION = 'dpr1';
/** Versions of one task remembered as used; an older receipt is refused as stale (far more than any push stays in flight). */
const REMEMBERED = 65_536;
/** A receipt (any tag's) is 32 bytes in base64url: 43 characters. */
export const RECEIPT_LENGTH = 43;

export interface PushReceipt {
  task: number;
  /** The task's version after it applied the push. */
  version: number;
  receipt: string;
}

export function signReceipt(keys: Pick<ClusterKeys, 'receiptKey'>, r: { task: number; job: string; worker: string; version: number }): string {
  return mac(keys.receiptKey, JSON.stringify([VERSION, r.task, r.job, r.worker, r.version])).toString('base64url');
}

const ROUND_TAG = 'dprr1';

/**
 * A task's receipt that it holds `worker`'s slices for round `round` of a sync or local
 * job, until the chief closes the round: a tag of its own, so it is never an async
 * receipt for version `round`.
 */
export function signRoundReceipt(keys: Pick<ClusterKeys, 'receiptKey'>, r: { task: number; job: string; worker: string; round: number }): string {
  return mac(keys.receiptKey, JSON.stringify([ROUND_TAG, r.task, r.job, r.worker, r.round])).toString('base64url');
}

/** What the chief remembers of one job's receipts. */
export class ReceiptLedger {
  /** Per task: versions used, and the floor below which every receipt is refused. */
  private readonly used: Set<number>[];
  private readonly floor: number[];

  constructor(
    private readonly keys: Pick<ClusterKeys, 'receiptKey'>,
    private readonly job: string,
    /** The tasks that hold a slice of the job: each must give a receipt. */
    private readonly tasks: readonly number[],
    /** Per task: receipts at or below this version are refused (a chief adopting tasks whose past receipts it never saw). Default 0. */
    floors?: readonly number[],
  ) {
    this.used = tasks.map(() => new Set());
    this.floor = tasks.map((_, i) => floors?.[i] ?? 0);
  }

  /**
   * Checks `receipts` for a push of `worker`: exactly one per task of the job, each
   * signed by its task for this job and worker, none used before. Only when all pass
   * are they marked used (a refused push leaves them usable for nothing either: a
   * task's version is never made twice).
   */
  redeem(worker: string, receipts: readonly PushReceipt[] | undefined): Failure | null {
    const slots = this.verify(worker, receipts, (r) => signReceipt(this.keys, { task: r.task, job: this.job, worker, version: r.version }));
    if (!Array.isArray(slots)) return slots;
    for (const [i, r] of receipts!.entries()) {
      if (r.version <= this.floor[slots[i]!]! || this.used[slots[i]!]!.has(r.version)) return this.bad(`task ${r.task}'s receipt for version ${r.version} was used already`);
    }
    receipts!.forEach((r, i) => this.use(slots[i]!, r.version));
    return null;
  }

  /**
   * Checks `receipts` for a push of `worker` that every task holds for round `round`
   * (sync and local modes: server/ps-task/task-round.ts): exactly one per task, each
   * signed by its task as held for this job, worker and round. The chief counts a worker
   * once per round, so nothing is marked used here.
   */
  checkHeld(worker: string, round: number, receipts: readonly PushReceipt[] | undefined): Failure | null {
    const slots = this.verify(worker, receipts, (r) => signRoundReceipt(this.keys, { task: r.task, job: this.job, worker, round: r.version }));
    if (!Array.isArray(slots)) return slots;
    const other = receipts!.find((r) => r.version !== round);
    if (!other) return null;
    return fail(other.version > round ? ErrorCode.FUTURE_VERSION : ErrorCode.LATE, `ps task ${other.task} holds this push for round ${other.version}; round ${round} is open`);
  }

  private bad(why: string): Failure {
    return fail(ErrorCode.BAD_RECEIPT, `A push on ps tasks is credited with every task's receipt: ${why}`);
  }

  /** The ledger slot of each receipt when there is one per task and each MAC is `sign`'s; the refusal otherwise. */
  private verify(worker: string, receipts: readonly PushReceipt[] | undefined, sign: (r: PushReceipt) => string): number[] | Failure {
    if (!receipts || receipts.length !== this.tasks.length) return this.bad(`expected ${this.tasks.length}, got ${receipts?.length ?? 0}`);
    const slots: number[] = [];
    for (const r of receipts) {
      const slot = this.tasks.indexOf(r.task);
      if (slot < 0) return this.bad(`task ${r.task} holds no slice of this job`);
      if (slots.includes(slot)) return this.bad(`two receipts of task ${r.task}`);
      slots.push(slot);
      if (typeof r.receipt !== 'string' || r.receipt.length !== RECEIPT_LENGTH) return this.bad(`task ${r.task}'s receipt is malformed`);
      const expected = Buffer.from(sign(r), 'base64url');
      if (!macEquals(expected, Buffer.from(r.receipt, 'base64url'))) return this.bad(`task ${r.task}'s receipt is not worker ${worker}'s for this job and version`);
    }
    return slots;
  }

  private use(slot: number, version: number): void {
    const used = this.used[slot]!;
    used.add(version);
    if (used.size <= REMEMBERED) return;
    // Forget the oldest half; everything at or below the new floor is refused from now on.
    const sorted = [...used].sort((a, b) => a - b);
    const floor = sorted[sorted.length - REMEMBERED / 2 - 1]!;
    for (const v of sorted) if (v <= floor) used.delete(v);
    this.floor[slot] = floor;
  }
}
