/**
 * Which shard of which epoch is queued, leased to whom, or done. A lease that is
 * not renewed (a push or a completion from its worker) within its TTL, or whose worker
 * disconnects, goes back to the front of its epoch's queue: no example is skipped,
 * whatever workers come and go. An epoch is complete only when every shard is done.
 *
 * Up to two epochs are open at once so that workers stay busy while the last shards
 * of an epoch are still out; the next epoch opens when the current one's queue is empty.
 */
import { seededRandom } from '../../shared/seeded-random.js';

export interface Lease {
  leaseId: string;
  workerId: string;
  epoch: number;
  shardIndex: number;
  expiresAt: number;
}

interface EpochState {
  epoch: number;
  pending: number[];
  leased: Set<number>;
  done: Set<number>;
}

export interface ShardLedgerOptions {
  shardCount: number;
  /** Total epochs to train; leases stop after the last. */
  epochs: number;
  leaseMs: number;
  /** Shuffles each epoch's shard order; deterministic for a given seed. */
  seed: number;
  now?: () => number;
}

export interface Completion {
  epoch: number;
  epochDone: boolean;
}

const MAX_OPEN_EPOCHS = 2;

/** What a checkpoint keeps of the ledger. Leased shards are saved as pending: their workers are gone after a restart. */
export interface LedgerState {
  completedEpochs: number;
  nextLeaseId: number;
  open: { epoch: number; pending: number[]; done: number[] }[];
  history: number[][];
}

export class ShardLedger {
  private readonly open: EpochState[] = [];
  private readonly leases = new Map<string, Lease>();
  private nextLeaseId = 1;
  private completedEpochs = 0;
  /** Completions per epoch per shard: the ledger that proves no shard was skipped. */
  readonly history: number[][] = [];
  private readonly now: () => number;

  constructor(private readonly opts: ShardLedgerOptions) {
    if (opts.shardCount < 1) throw new Error('A ledger needs at least one shard');
    this.now = opts.now ?? Date.now;
  }

  get shardCount(): number {
    return this.opts.shardCount;
  }

  /** Epochs whose every shard is done. */
  get epochsCompleted(): number {
    return this.completedEpochs;
  }

  get finished(): boolean {
    return this.completedEpochs >= this.opts.epochs;
  }

  get activeLeases(): number {
    return this.leases.size;
  }

  exportState(): LedgerState {
    return {
      completedEpochs: this.completedEpochs,
      nextLeaseId: this.nextLeaseId,
      open: this.open.map((e) => ({ epoch: e.epoch, pending: [...e.leased, ...e.pending], done: [...e.done] })),
      history: this.history.map((h) => [...h]),
    };
  }

  restore(state: LedgerState): void {
    this.leases.clear();
    this.completedEpochs = state.completedEpochs;
    this.nextLeaseId = state.nextLeaseId;
    this.open.length = 0;
    for (const e of state.open) this.open.push({ epoch: e.epoch, pending: [...e.pending], leased: new Set(), done: new Set(e.done) });
    this.history.length = 0;
    state.history.forEach((h, i) => (this.history[i] = [...h]));
  }

  /** Leased shard of each worker (for the worker table). */
  leaseTable(): Map<string, { epoch: number; shardIndex: number }[]> {
    const out = new Map<string, { epoch: number; shardIndex: number }[]>();
    for (const l of this.leases.values()) {
      const list = out.get(l.workerId) ?? [];
      list.push({ epoch: l.epoch, shardIndex: l.shardIndex });
      out.set(l.workerId, list);
    }
    return out;
  }

  /** A shard for `workerId`, or null if none can be handed out now. */
  lease(workerId: string): Lease | null {
    this.expire();
    const epoch = this.epochWithPending();
    if (!epoch) return null;
    const shardIndex = epoch.pending.shift()!;
    epoch.leased.add(shardIndex);
    const lease: Lease = {
      leaseId: `L${this.nextLeaseId++}`,
      workerId,
      epoch: epoch.epoch,
      shardIndex,
      expiresAt: this.now() + this.opts.leaseMs,
    };
    this.leases.set(lease.leaseId, lease);
    return lease;
  }

  /** Extends every lease `workerId` holds (called on each accepted push). */
  renew(workerId: string): void {
    const expiresAt = this.now() + this.opts.leaseMs;
    for (const l of this.leases.values()) if (l.workerId === workerId) l.expiresAt = expiresAt;
  }

  /** Marks a leased shard done; null when the lease is unknown, expired or not this worker's. */
  complete(leaseId: string, workerId: string): Completion | null {
    this.expire();
    const lease = this.leases.get(leaseId);
    if (!lease || lease.workerId !== workerId) return null;
    this.leases.delete(leaseId);
    const state = this.open.find((e) => e.epoch === lease.epoch)!;
    state.leased.delete(lease.shardIndex);
    state.done.add(lease.shardIndex);
    this.history[lease.epoch]![lease.shardIndex]! += 1;
    const epochDone = this.closeFinishedEpochs(lease.epoch);
    this.renew(workerId);
    return { epoch: lease.epoch, epochDone };
  }

  /** Returns every lease of `workerId` to its queue (the worker left). */
  release(workerId: string): number {
    let n = 0;
    for (const l of [...this.leases.values()]) {
      if (l.workerId === workerId) {
        this.requeue(l);
        n++;
      }
    }
    return n;
  }

  /** Requeues leases past their expiry; returns how many. */
  expire(): number {
    const now = this.now();
    let n = 0;
    for (const l of [...this.leases.values()]) {
      if (l.expiresAt <= now) {
        this.requeue(l);
        n++;
      }
    }
    return n;
  }

  private requeue(l: Lease): void {
    this.leases.delete(l.leaseId);
    const state = this.open.find((e) => e.epoch === l.epoch)!;
    state.leased.delete(l.shardIndex);
    state.pending.unshift(l.shardIndex);
  }

  private epochWithPending(): EpochState | null {
    for (const e of this.open) if (e.pending.length > 0) return e;
    const newest = this.open.length ? this.open[this.open.length - 1]!.epoch : this.completedEpochs - 1;
    const next = newest + 1;
    if (next >= this.opts.epochs || this.open.length >= MAX_OPEN_EPOCHS) return null;
    const state: EpochState = { epoch: next, pending: this.shuffledOrder(next), leased: new Set(), done: new Set() };
    this.open.push(state);
    this.history[next] = new Array<number>(this.opts.shardCount).fill(0);
    return state;
  }

  private closeFinishedEpochs(epoch: number): boolean {
    let closedThis = false;
    while (this.open.length && this.open[0]!.done.size === this.opts.shardCount) {
      if (this.open[0]!.epoch === epoch) closedThis = true;
      this.open.shift();
      this.completedEpochs += 1;
    }
    // A later epoch can finish before an earlier one; it closes when the earlier does.
    return closedThis;
  }

  private shuffledOrder(epoch: number): number[] {
    const order = Array.from({ length: this.opts.shardCount }, (_, i) => i);
    const rand = seededRandom(this.opts.seed * 2654435761 + epoch * 40503 + 1);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  }
}
