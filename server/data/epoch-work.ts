/**
 * One open epoch's work: which batches of each shard have been accepted (a bit per
 * batch), and the queue of pieces (runs of untrained batches of one shard) waiting for a
 * worker. A shard is done when every one of its batches was accepted at least once; the
 * epoch when every shard is. A batch accepted a second time (a bug, or work redone
 * after a restart) is counted as such, never as another batch.
 */
import type { BatchRange } from '../../shared/batch-plan.js';

/** A run of untrained batches of one shard, waiting for a worker. */
export interface Piece extends BatchRange {
  shard: number;
  /**
   * The worker the piece was taken from (its pushes were refused, it missed its
   * deadline, or it completed without pushing them): another worker gets it first.
   */
  avoid: string | null;
}

export class EpochWork {
  readonly queue: Piece[] = [];
  /** Per shard, 1 for each batch accepted. */
  private readonly trained: Uint8Array[];
  private readonly untrained: number[];
  private remainingShards: number;

  /** `batches[s]`: batches of shard s; `trainedRanges`: what was accepted already (a restored checkpoint). */
  constructor(
    readonly epoch: number,
    batches: readonly number[],
    trainedRanges: readonly ({ shard: number } & BatchRange)[] = [],
  ) {
    this.trained = batches.map((n) => new Uint8Array(n));
    for (const r of trainedRanges) this.trained[r.shard]!.fill(1, r.from, r.to);
    this.untrained = this.trained.map((t) => t.reduce((n, b) => n + (b ? 0 : 1), 0));
    this.remainingShards = this.untrained.filter((n) => n > 0).length;
  }

  get complete(): boolean {
    return this.remainingShards === 0;
  }

  /**
   * Batches `range` of `shard` were accepted; returns how many of them had been accepted
   * before (0 unless something went wrong, or a checkpoint's work is being redone).
   */
  accepted(shard: number, range: BatchRange): number {
    const bits = this.trained[shard]!;
    let again = 0;
    for (let k = range.from; k < range.to; k++) {
      if (bits[k]) again += 1;
      else bits[k] = 1;
    }
    const fresh = range.to - range.from - again;
    if (fresh > 0) {
      this.untrained[shard]! -= fresh;
      if (this.untrained[shard] === 0) this.remainingShards -= 1;
    }
    return again;
  }

  /** The untrained batch ranges of each shard, in shard order: every piece there is, queued, leased or in a push. */
  untrainedRanges(): ({ shard: number } & BatchRange)[] {
    const out: ({ shard: number } & BatchRange)[] = [];
    this.trained.forEach((bits, shard) => {
      for (let k = 0; k < bits.length; k++) {
        if (bits[k]) continue;
        const from = k;
        while (k < bits.length && !bits[k]) k++;
        out.push({ shard, from, to: k });
      }
    });
    return out;
  }

  /**
   * Puts untrained batches back at the front of the queue (the oldest work goes out
   * first, so the epoch closes sooner), joined to a queued neighbour of the same shard
   * and the same `avoid` when there is one, so that refusals do not cut a shard into
   * many one-batch leases.
   */
  requeue(shard: number, range: BatchRange, avoid: string | null): void {
    if (range.from >= range.to) return;
    for (const p of this.queue) {
      if (p.shard !== shard || p.avoid !== avoid) continue;
      if (p.to === range.from) return void (p.to = range.to);
      if (p.from === range.to) return void (p.from = range.from);
    }
    this.queue.unshift({ shard, from: range.from, to: range.to, avoid });
  }

  /** Index of the first queued piece not to be avoided by `workerId`, or -1. */
  firstFor(workerId: string): number {
    return this.queue.findIndex((p) => p.avoid !== workerId);
  }
}
