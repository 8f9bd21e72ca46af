/**
 * A split job's stage parts held on one ps task for its open round (task-round.ts), each
 * under a part number the close names. A worker's part is not replaced by its next one:
 * the chief accepted a replica's step with the parts its receipts named, and a stage
 * worker may hold another part in the same round (its replica dissolved and it joined a
 * new one, or it retries after a refused step). The close applies exactly the parts it
 * names, so a stage cannot swap what its accepted step contributes. A worker holds at
 * most PARTS_KEPT parts a round (an honest stage has its accepted part and one more);
 * a further one is refused, never put in place of an older: evicting the part a close
 * names would have every task refuse the close, and the job rolled back, at a stage's
 * whim.
 *
 * A part's number names its round: `round × PARTS_A_ROUND + n`, n counting the worker's
 * parts in the round (roundPartNumber, server/cluster/hold-receipts.ts). The receipt
 * binds the number, so the chief reads the round from it, and one worker's numbers are
 * never reused.
 */
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';
import { roundPartNumber } from '../cluster/hold-receipts.js';
import type { StagePart } from './stage-part.js';

/** A worker's parts a round: the one its accepted step named, and one newer. */
export const PARTS_KEPT = 2;

interface HeldPart {
  number: number;
  part: StagePart;
  bytes: number;
}

export class RoundParts {
  /** Each worker's parts this round, oldest first (the next one's n is their count). */
  private readonly byWorker = new Map<string, HeldPart[]>();
  private heldBytes = 0;

  /** Bytes of the parts held. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Workers holding a part. */
  get size(): number {
    return this.byWorker.size;
  }

  /** `worker`'s newest part, if any. */
  latest(worker: string): StagePart | undefined {
    return this.byWorker.get(worker)?.at(-1)?.part;
  }

  /** `worker`'s part numbered `number`, if it is still held. */
  find(worker: string, number: number): StagePart | undefined {
    return this.byWorker.get(worker)?.find((k) => k.number === number)?.part;
  }

  /**
   * Holds `part` for `round` under its new number; refused BUSY (nothing held) when the
   * worker holds PARTS_KEPT parts this round already, or the parts would take more than
   * `room` bytes.
   */
  add(worker: string, round: number, part: StagePart, room: number): number | Failure {
    const mine = this.byWorker.get(worker) ?? [];
    if (mine.length >= PARTS_KEPT) return fail(ErrorCode.BUSY, `Worker ${worker} holds ${PARTS_KEPT} parts for round ${round} here: retry in the next round`);
    const bytes = part.values.reduce((n, v) => n + v.byteLength, 0);
    if (this.heldBytes + bytes > room) return fail(ErrorCode.BUSY, `Round ${round} holds as many parts as this task keeps for a round: retry in the next`);
    const number = roundPartNumber(round, mine.length);
    mine.push({ number, part, bytes });
    this.byWorker.set(worker, mine);
    this.heldBytes += bytes;
    return number;
  }

  /** Every part goes (the round closed, or the job's slices were re-created). */
  clear(): void {
    this.byWorker.clear();
    this.heldBytes = 0;
  }
}
