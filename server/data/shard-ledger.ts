/**
 * Which examples of which epoch are trained, queued, or leased to whom, counted in the
 * batches of each shard's example order (shared/batch-plan.ts). A lease covers a run of
 * batches of one shard; each push on it takes the next batches from its cursor. Batches
 * a push had accepted are trained; batches whose push was refused, that a lease left
 * unpushed, or whose worker left or lost the lease, go back to the front of their
 * epoch's queue as a piece, for another worker. An epoch is complete when every batch
 * of every shard was accepted, so no example is skipped, whatever workers come and go
 * or claim, and the examples accepted per shard per epoch are counted here, by the
 * coordinator, from the shard sizes.
 *
 * Up to two epochs are open at once so that workers stay busy while the last pieces
 * of an epoch are still out; the next epoch opens when no open epoch has a piece for
 * the asking worker. The ledger keeps no time: the job's lease terms
 * (server/jobs/lease-terms.ts) set each lease's deadline, and take back what is late.
 */
import { batchCount, examplesIn, shardOrderSeed, type BatchRange } from '../../shared/batch-plan.js';
import { seededRandom } from '../../shared/seeded-random.js';
import { EpochWork } from './epoch-work.js';
import { creditedExamples, exportEpoch, restoreEpoch, type LedgerState } from './ledger-state.js';

export type { LedgerState } from './ledger-state.js';

export interface ShardLedgerOptions {
  /** Examples in each shard, in shard order. */
  shardSizes: readonly number[];
  /** Examples per mini-batch: a shard of n examples has ceil(n / batchSize) batches. */
  batchSize: number;
  /** Total epochs to train; leases stop after the last. */
  epochs: number;
  /** Shuffles each epoch's shard order and seeds each shard's example order; deterministic for a given seed. */
  seed: number;
}

export interface Lease {
  readonly leaseId: string;
  readonly workerId: string;
  readonly epoch: number;
  readonly shardIndex: number;
  /** Seed of the shard's example order this epoch (the same for every piece of the shard). */
  readonly order: number;
  /** The batches it covers, [from, to). */
  readonly from: number;
  readonly to: number;
  /** The first batch the next push on it carries. */
  cursor: number;
  /** Pushes taken from it whose outcome is not known yet (a sync round holds their acks). */
  inFlight: number;
  /** When it became its worker's oldest lease (null while an older one is held). Kept for the lease terms. */
  headSince: number | null;
  /** When it last progressed (granted, became the oldest, a push settled). Kept for the lease terms. */
  lastProgress: number;
  /** When it is taken back unless it progresses; Infinity when no deadline runs. Set by the lease terms. */
  deadline: number;
}

/** The batches one push carries, taken from a lease's cursor. */
export interface TakenBatches extends BatchRange {
  readonly leaseId: string;
  readonly epoch: number;
  readonly shard: number;
  /** Examples in the batches: what the push is credited with when it is accepted. */
  readonly examples: number;
}

export interface Completion {
  epoch: number;
  /** True when every example of the epoch has been accepted. */
  epochDone: boolean;
}

const MAX_OPEN_EPOCHS = 2;
/** Lease ids remembered after they were taken back, so that their worker hears LEASE_LOST rather than UNKNOWN_LEASE. */
const LOST_LEASES_KEPT = 4096;

export class ShardLedger {
  private readonly open: EpochWork[] = [];
  private readonly leases = new Map<string, Lease>();
  /** Each worker's leases, oldest first (asked on every push and report). */
  private readonly byWorker = new Map<string, Lease[]>();
  private readonly inFlight = new Set<TakenBatches>();
  /** Taken-back lease id → its worker. */
  private readonly lost = new Map<string, string>();
  private nextLeaseId = 1;
  private completedEpochs = 0;
  /** Leases completed per epoch per shard. */
  readonly history: number[][] = [];
  /**
   * Examples accepted per epoch per shard, counted from the shard sizes: a closed epoch
   * holds each shard's size here, more only if a batch was accepted twice (the ledger
   * hands no batch out twice: that would be a bug, shown here rather than hidden).
   */
  readonly examples: number[][] = [];

  constructor(private readonly opts: ShardLedgerOptions) {
    if (opts.shardSizes.length < 1) throw new Error('A ledger needs at least one shard');
  }

  get shardCount(): number {
    return this.opts.shardSizes.length;
  }

  get shardSizes(): readonly number[] {
    return this.opts.shardSizes;
  }

  /** Epochs whose every example was accepted. */
  get epochsCompleted(): number {
    return this.completedEpochs;
  }

  get finished(): boolean {
    return this.completedEpochs >= this.opts.epochs;
  }

  get activeLeases(): number {
    return this.leases.size;
  }

  /** Examples in batches [from, to) of shard `shard`. */
  examplesIn(shard: number, range: BatchRange): number {
    return examplesIn(this.opts.shardSizes[shard]!, this.opts.batchSize, range);
  }

  get(leaseId: string): Lease | undefined {
    return this.leases.get(leaseId);
  }

  /** The worker whose lease `leaseId` was taken back, if it was. */
  lostBy(leaseId: string): string | undefined {
    return this.lost.get(leaseId);
  }

  all(): IterableIterator<Lease> {
    return this.leases.values();
  }

  /** `workerId`'s leases, oldest first. */
  leasesOf(workerId: string): Lease[] {
    return [...(this.byWorker.get(workerId) ?? [])];
  }

  /** Leased shards of each worker (for the worker table). */
  leaseTable(): Map<string, { epoch: number; shardIndex: number }[]> {
    const out = new Map<string, { epoch: number; shardIndex: number }[]>();
    for (const l of this.leases.values()) {
      const list = out.get(l.workerId) ?? [];
      list.push({ epoch: l.epoch, shardIndex: l.shardIndex });
      out.set(l.workerId, list);
    }
    return out;
  }

  /** Whether a lease asked for now would get a piece (a queued one, or the next epoch's first); changes nothing. */
  get canLease(): boolean {
    return this.open.some((e) => e.queue.length > 0) || this.nextEpochOpens();
  }

  /** A piece for `workerId` (one not taken from it if there is any), or null if none can be handed out now. */
  lease(workerId: string): Lease | null {
    const found = this.findPiece(workerId);
    if (!found) return null;
    const [work, index] = found;
    const piece = work.queue.splice(index, 1)[0]!;
    const lease: Lease = {
      leaseId: `L${this.nextLeaseId++}`,
      workerId,
      epoch: work.epoch,
      shardIndex: piece.shard,
      order: shardOrderSeed(this.opts.seed, work.epoch, piece.shard),
      from: piece.from,
      to: piece.to,
      cursor: piece.from,
      inFlight: 0,
      headSince: null,
      lastProgress: 0,
      deadline: Infinity,
    };
    this.leases.set(lease.leaseId, lease);
    const held = this.byWorker.get(workerId);
    if (held) held.push(lease);
    else this.byWorker.set(workerId, [lease]);
    return lease;
  }

  /** The next `batches` batches of `lease` for a push (the caller checked the claim); the cursor moves past them. */
  take(lease: Lease, batches: number): TakenBatches {
    if (!(batches >= 1 && lease.cursor + batches <= lease.to)) throw new Error(`Lease ${lease.leaseId} has ${lease.to - lease.cursor} batches left, not ${batches}`);
    const range = { from: lease.cursor, to: lease.cursor + batches };
    const taken: TakenBatches = { leaseId: lease.leaseId, epoch: lease.epoch, shard: lease.shardIndex, ...range, examples: this.examplesIn(lease.shardIndex, range) };
    lease.cursor = range.to;
    lease.inFlight += 1;
    this.inFlight.add(taken);
    return taken;
  }

  /**
   * The push carrying `taken` was answered: accepted, its examples are trained and
   * counted; refused, they go back to the queue, preferably for a worker other than
   * `avoid`. Works whether or not the lease is still held.
   */
  settle(taken: TakenBatches, accepted: boolean, avoid: string | null): Completion {
    if (!this.inFlight.delete(taken)) throw new Error(`Batches ${taken.from}–${taken.to} of lease ${taken.leaseId} were settled already`);
    const lease = this.leases.get(taken.leaseId);
    if (lease) lease.inFlight -= 1;
    const work = this.openEpoch(taken.epoch);
    if (!accepted) {
      work.requeue(taken.shard, taken, avoid);
      return { epoch: taken.epoch, epochDone: false };
    }
    // Every accepted example is counted; one trained before as well would show as more than the shard holds.
    work.accepted(taken.shard, taken);
    this.examples[taken.epoch]![taken.shard]! += taken.examples;
    return { epoch: taken.epoch, epochDone: this.closeFinishedEpochs(taken.epoch) };
  }

  /** Closes a lease its worker reports finished; batches it never pushed go back to the queue for another worker. */
  complete(lease: Lease): Completion {
    this.drop(lease);
    const work = this.open.find((e) => e.epoch === lease.epoch);
    work?.requeue(lease.shardIndex, { from: lease.cursor, to: lease.to }, lease.workerId);
    this.history[lease.epoch]![lease.shardIndex]! += 1;
    return { epoch: lease.epoch, epochDone: !work || work.complete };
  }

  /** Takes a lease back (late, or its worker's pushes keep being refused, or it left): its unpushed batches go back to the queue. */
  takeBack(lease: Lease, avoid: string | null): void {
    this.drop(lease);
    // A closed epoch has nothing left to requeue: its last push was accepted before the lease was completed.
    this.open.find((e) => e.epoch === lease.epoch)?.requeue(lease.shardIndex, { from: lease.cursor, to: lease.to }, avoid);
    this.lost.set(lease.leaseId, lease.workerId);
    if (this.lost.size > LOST_LEASES_KEPT) this.lost.delete(this.lost.keys().next().value!);
  }

  /** Takes back every lease of `workerId` (it left); returns how many. */
  release(workerId: string): number {
    const held = this.leasesOf(workerId);
    for (const l of held) this.takeBack(l, null);
    return held.length;
  }

  exportState(): LedgerState {
    return {
      completedEpochs: this.completedEpochs,
      nextLeaseId: this.nextLeaseId,
      open: this.open.map((work) => exportEpoch(work, this.shardCount)),
      history: this.history.map((h) => [...h]),
      examples: this.examples.map((x) => [...x]),
    };
  }

  /** Why a checkpoint's ledger cannot be loaded into this one (its pieces or counts do not fit these shards), or null. */
  misfit(state: LedgerState): string | null {
    try {
      this.read(state);
      return null;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }

  /** Loads a checkpoint's ledger; throws an Error naming what does not fit this job's shards. */
  restore(state: LedgerState): void {
    const { open, examples } = this.read(state);
    this.leases.clear();
    this.byWorker.clear();
    this.inFlight.clear();
    this.lost.clear();
    this.completedEpochs = state.completedEpochs;
    this.nextLeaseId = state.nextLeaseId;
    this.open.splice(0, this.open.length, ...open);
    this.history.splice(0, this.history.length, ...state.history.map((h) => [...h]));
    this.examples.splice(0, this.examples.length, ...examples.map((x) => [...x]));
  }

  private drop(lease: Lease): void {
    this.leases.delete(lease.leaseId);
    const held = this.byWorker.get(lease.workerId)?.filter((l) => l !== lease);
    if (held?.length) this.byWorker.set(lease.workerId, held);
    else this.byWorker.delete(lease.workerId);
  }

  private read(state: LedgerState): { open: EpochWork[]; examples: number[][] } {
    const open = state.open.map((e) => restoreEpoch(e, this.opts));
    const examples = state.examples ?? creditedExamples(state, this.opts.shardSizes);
    const fits = examples.length === state.history.length && examples.every((row) => row.length === this.shardCount && row.every((n) => Number.isSafeInteger(n) && n >= 0));
    if (!fits) throw new Error(`the checkpoint's ledger counts examples for other epochs or shards than it has`);
    return { open, examples };
  }

  private openEpoch(epoch: number): EpochWork {
    const work = this.open.find((e) => e.epoch === epoch);
    if (!work) throw new Error(`Epoch ${epoch} is not open`);
    return work;
  }

  private findPiece(workerId: string): [EpochWork, number] | null {
    for (const work of this.open) {
      const i = work.firstFor(workerId);
      if (i >= 0) return [work, i];
    }
    const opened = this.openNextEpoch();
    if (opened) return [opened, 0];
    // Only pieces taken from this worker are left: better trained by it than by no one.
    const any = this.open.find((e) => e.queue.length > 0);
    return any ? [any, 0] : null;
  }

  /** The epoch after the newest open one, or the first: its number. */
  private nextEpoch(): number {
    return (this.open.length ? this.open[this.open.length - 1]!.epoch : this.completedEpochs - 1) + 1;
  }

  private nextEpochOpens(): boolean {
    return this.nextEpoch() < this.opts.epochs && this.open.length < MAX_OPEN_EPOCHS;
  }

  private openNextEpoch(): EpochWork | null {
    const next = this.nextEpoch();
    if (!this.nextEpochOpens()) return null;
    const batches = this.opts.shardSizes.map((n) => batchCount(n, this.opts.batchSize));
    const work = new EpochWork(next, batches);
    for (const shard of this.shuffledShards(next)) work.queue.push({ shard, from: 0, to: batches[shard]!, avoid: null });
    this.open.push(work);
    this.history[next] = new Array<number>(this.shardCount).fill(0);
    this.examples[next] = new Array<number>(this.shardCount).fill(0);
    return work;
  }

  /** Closes complete epochs in order; true when `epoch` closed now. */
  private closeFinishedEpochs(epoch: number): boolean {
    let closedThis = false;
    while (this.open.length && this.open[0]!.complete) {
      if (this.open[0]!.epoch === epoch) closedThis = true;
      this.open.shift();
      this.completedEpochs += 1;
    }
    // A later epoch can finish before an earlier one; it closes when the earlier does.
    return closedThis;
  }

  private shuffledShards(epoch: number): number[] {
    const order = Array.from({ length: this.shardCount }, (_, i) => i);
    const rand = seededRandom(this.opts.seed * 2654435761 + epoch * 40503 + 1);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  }
}
