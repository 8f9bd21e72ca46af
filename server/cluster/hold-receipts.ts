/**
 * Receipts for stage parts a ps task holds (model parallelism on ps tasks,
 * docs/model-parallelism.md). A task that checked and holds a stage's part of a replica
 * step signs a receipt binding the task, the job, the worker, its number for the hold
 * and the names of the slices held, under the cluster's receipt key with a tag of its
 * own (never an async or round receipt):
 *
 *   receipt = base64url(HMAC-SHA256(receiptKey, JSON ["dprs1", task, job, worker, hold, slices]))
 *
 * The chief checks it against the slices that stage's tensors have on that task, so a
 * stage cannot hold another stage's slices (or fewer than its own) and have the step
 * closed: every close the chief sends then covers each task's slices exactly once, and
 * a task has no content reason left to refuse it. Each hold is redeemed once.
 *
 * A split job in a round mode holds each stage's part for the open round
 * (server/ps-task/round-parts.ts) under a part number that names the round,
 * `round × PARTS_A_ROUND + n` (n: the worker's parts in the round so far), under a tag
 * of its own:
 *
 *   receipt = base64url(HMAC-SHA256(receiptKey, JSON ["dprp1", task, job, worker, part, slices]))
 *
 * The chief checks it for its open round (the round read from the number) and closes
 * the round naming exactly that part, so a part the worker holds later in the round
 * (its replica re-formed, or a swap) cannot stand in for it. It is not redeemed: the
 * round counts each replica once, and a worker once per round
 * (server/params/chief-rounds.ts).
 */
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';
import { mac, macEquals, type ClusterKeys } from './cluster-keys.js';
import { RECEIPT_LENGTH } from './push-receipts.js';

const TAG = 'dprs1';
/** A round part's own tag: the parts' receipts once bound the round alone (one part a worker and round), under the round pushes' dprr1. */
const ROUND_TAG = 'dprp1';
/** Parts one worker may hold in one round: the room for them in a part number. */
export const PARTS_A_ROUND = 2 ** 16;

/** The number of a worker's `n`th part in round `round` (n < PARTS_A_ROUND). */
export function roundPartNumber(round: number, n: number): number {
  return round * PARTS_A_ROUND + n;
}

/** The round a part number was given in. */
export function roundOfPart(part: number): number {
  return Math.floor(part / PARTS_A_ROUND);
}
/** Holds of one task remembered as redeemed (far more than are ever in flight); the oldest are forgotten first. */
const REMEMBERED = 65_536;

export interface HoldReceiptFields {
  task: number;
  job: string;
  worker: string;
  hold: number;
  slices: readonly string[];
}

export function signHoldReceipt(keys: Pick<ClusterKeys, 'receiptKey'>, r: HoldReceiptFields): string {
  return mac(keys.receiptKey, JSON.stringify([TAG, r.task, r.job, r.worker, r.hold, r.slices])).toString('base64url');
}

/** The receipt of a stage part held for a round (`hold` is its part number, which names the round). */
export function signRoundHoldReceipt(keys: Pick<ClusterKeys, 'receiptKey'>, r: HoldReceiptFields): string {
  return mac(keys.receiptKey, JSON.stringify([ROUND_TAG, r.task, r.job, r.worker, r.hold, r.slices])).toString('base64url');
}

/** The chief's memory of one job's redeemed holds, per task. */
export class HoldLedger {
  private readonly used = new Map<number, Set<number>>();

  constructor(
    private readonly keys: Pick<ClusterKeys, 'receiptKey'>,
    private readonly job: string,
  ) {}

  /** Null when `receipt` is the task's for exactly these fields and the hold was not redeemed before; BAD_RECEIPT otherwise. */
  check(r: HoldReceiptFields, receipt: unknown): Failure | null {
    const bad = (why: string) => fail(ErrorCode.BAD_RECEIPT, `A stage part on ps task ${r.task}: ${why}`);
    if (typeof receipt !== 'string' || receipt.length !== RECEIPT_LENGTH) return bad('the receipt is malformed');
    if (!macEquals(Buffer.from(signHoldReceipt(this.keys, { ...r, job: this.job }), 'base64url'), Buffer.from(receipt, 'base64url'))) {
      return bad(`the receipt is not worker ${r.worker}'s for hold ${r.hold} of this job's slices [${r.slices.join(', ').slice(0, 200)}]`);
    }
    if (this.used.get(r.task)?.has(r.hold)) return bad(`hold ${r.hold} was redeemed already`);
    return null;
  }

  /** Null when `receipt` is the task's for round part `r.hold` with exactly these fields; BAD_RECEIPT otherwise. */
  checkRound(r: HoldReceiptFields, receipt: unknown): Failure | null {
    if (typeof receipt !== 'string' || receipt.length !== RECEIPT_LENGTH) return fail(ErrorCode.BAD_RECEIPT, `A stage part on ps task ${r.task}: the receipt is malformed`);
    if (macEquals(Buffer.from(signRoundHoldReceipt(this.keys, { ...r, job: this.job }), 'base64url'), Buffer.from(receipt, 'base64url'))) return null;
    return fail(ErrorCode.BAD_RECEIPT, `A stage part on ps task ${r.task}: the receipt is not worker ${r.worker}'s for part ${r.hold} (round ${roundOfPart(r.hold)}) of this job's slices [${r.slices.join(', ').slice(0, 200)}]`);
  }

  /** Marks a checked hold redeemed. */
  use(task: number, hold: number): void {
    let used = this.used.get(task);
    if (!used) this.used.set(task, (used = new Set()));
    used.add(hold);
    // A Set iterates in insertion order: the first is the oldest.
    if (used.size > REMEMBERED) used.delete(used.values().next().value!);
  }
}
