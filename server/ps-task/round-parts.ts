/**
 * A split job's stage parts held on one ps task for its open round (task-round.ts), each
 * under a part number the close names. A worker's part is not replaced by its next one:
 * the chief accepted a replica's step with the parts its receipts named, and a stage
 * worker may hold another part in the same round (its replica dissolved and it joined a
 * new one, or it retries after a refused step). The close applies exactly the parts it
 * names, so a stage cannot swap what its accepted step contributes. The last
 * PARTS_KEPT of a worker's parts are kept (an honest stage has at most its accepted part
 * and one more); a close naming one that went is refused.
 *
 * A part's number names its round: `round × PARTS_A_ROUND + n`, n counting the worker's
 * parts in the round (roundPartNumber, server/cluster/hold-receipts.ts). The receipt
 * binds the number, so the chief reads the round from it, and one worker's numbers are
 * never reused.
 */
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';
import { PARTS_A_ROUND, roundPartNumber } from '../cluster/hold-receipts.js';
import type { StagePart } from './stage-part.js';

/** A worker's parts kept per round: the one its accepted step named, and one newer. */
export const PARTS_KEPT = 2;

interface WorkerParts {
  /** The worker's parts held so far this round (the next one's n). */
  count: number;
  /** Its last PARTS_KEPT parts, oldest first. */
  kept: { number: number; part: StagePart; bytes: number }[];
}

export class RoundParts {
  private readonly byWorker = new Map<string, WorkerParts>();
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
    return this.byWorker.get(worker)?.kept.at(-1)?.part;
  }

  /** `worker`'s part numbered `number`, if it is still held. */
  find(worker: string, number: number): StagePart | undefined {
    return this.byWorker.get(worker)?.kept.find((k) => k.number === number)?.part;
  }

  /**
   * Holds `part` for `round` under its new number, its worker's oldest part going when
   * it keeps more than PARTS_KEPT; refused BUSY (nothing held) when the parts would then
   * take more than `room` bytes, or the worker held PARTS_A_ROUND parts this round.
   */
  add(worker: string, round: number, part: StagePart, room: number): number | Failure {
    const mine = this.byWorker.get(worker) ?? { count: 0, kept: [] };
    if (mine.count >= PARTS_A_ROUND) return fail(ErrorCode.BUSY, `Worker ${worker} held ${PARTS_A_ROUND} parts in round ${round} here`);
    const bytes = part.values.reduce((n, v) => n + v.byteLength, 0);
    const going = mine.kept.length >= PARTS_KEPT ? mine.kept[0]!.bytes : 0;
    if (this.heldBytes - going + bytes > room) return fail(ErrorCode.BUSY, `Round ${round} holds as many parts as this task keeps for a round: retry in the next`);
    if (mine.kept.length >= PARTS_KEPT) this.heldBytes -= mine.kept.shift()!.bytes;
    const number = roundPartNumber(round, mine.count);
    mine.count += 1;
    mine.kept.push({ number, part, bytes });
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
