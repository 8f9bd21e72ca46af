/**
 * What a checkpoint keeps of the shard ledger, and how it is read back. Leases are not
 * kept (their workers are gone after a restart): a lease's unpushed batches and pushes
 * still in flight are saved as untrained pieces, to be trained again.
 *
 * Checkpoints written before pushes were tied to leases have no `pieces` and no
 * `examples`: every pending shard is then untrained whole, and a shard done was
 * credited whole.
 */
import { batchCount, type BatchRange } from '../../shared/batch-plan.js';
import { EpochWork } from './epoch-work.js';

export interface LedgerState {
  completedEpochs: number;
  nextLeaseId: number;
  open: OpenEpochState[];
  /** Leases completed per epoch per shard (a shard may take several, one per piece). */
  history: number[][];
  /** Examples accepted per epoch per shard (absent in older checkpoints). */
  examples?: number[][];
}

export interface OpenEpochState {
  epoch: number;
  /** Shards with untrained batches, in queue order. */
  pending: number[];
  /** Shards whose every batch was accepted. */
  done: number[];
  /**
   * The untrained batch ranges of the pending shards, in queue order (absent in older
   * checkpoints: every pending shard is untrained whole).
   */
  pieces?: ({ shard: number } & BatchRange)[];
}

export interface LedgerGeometry {
  shardSizes: readonly number[];
  batchSize: number;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The open epoch as a checkpoint keeps it: every untrained range, whoever held it, queued shards first. */
export function exportEpoch(work: EpochWork, shardCount: number): OpenEpochState {
  const pieces = work.untrainedRanges();
  const untrained = new Set(pieces.map((p) => p.shard));
  const pending = [...new Set([...work.queue.map((p) => p.shard), ...untrained])].filter((s) => untrained.has(s));
  const rank = new Map(pending.map((s, i) => [s, i]));
  pieces.sort((a, b) => rank.get(a.shard)! - rank.get(b.shard)! || a.from - b.from);
  const done = Array.from({ length: shardCount }, (_, s) => s).filter((s) => !untrained.has(s));
  return { epoch: work.epoch, pending, done, pieces };
}

/** Reads an open epoch back; throws an Error naming what does not fit. */
export function restoreEpoch(e: OpenEpochState, g: LedgerGeometry): EpochWork {
  const n = g.shardSizes.length;
  const where = `epoch ${e.epoch} of the checkpoint's ledger`;
  const batches = g.shardSizes.map((size) => batchCount(size, g.batchSize));
  const pending = new Set(e.pending);
  if (!e.pending.every((s) => isCount(s) && s < n) || pending.size !== e.pending.length) throw new Error(`${where} lists a pending shard out of range or twice`);
  const done = new Set(e.done);
  if (e.done.some((s) => !isCount(s) || s >= n || pending.has(s)) || done.size !== e.done.length || done.size + pending.size !== n) {
    throw new Error(`${where} does not account for each of its ${n} shards exactly once`);
  }
  const pieces = e.pieces ?? e.pending.map((shard) => ({ shard, from: 0, to: batches[shard]! }));
  const untrained = batches.map((nb) => new Uint8Array(nb));
  for (const p of pieces) {
    if (!p || !pending.has(p.shard) || !isCount(p.from) || !isCount(p.to) || p.from >= p.to || p.to > batches[p.shard]!) {
      throw new Error(`${where} has a piece ${JSON.stringify(p)} that does not fit its shards of ${g.batchSize}-example batches`);
    }
    const bits = untrained[p.shard]!;
    if (bits.subarray(p.from, p.to).some((b) => b)) throw new Error(`${where} has overlapping pieces of shard ${p.shard}`);
    bits.fill(1, p.from, p.to);
  }
  if (e.pending.some((s) => !untrained[s]!.some((b) => b))) throw new Error(`${where} has a pending shard without untrained batches`);
  // Everything not in a piece was trained.
  const trained = untrained.flatMap((bits, shard) => {
    const out: ({ shard: number } & BatchRange)[] = [];
    for (let k = 0; k < bits.length; k++) if (!bits[k]) out.push({ shard, from: k, to: k + 1 });
    return out;
  });
  const work = new EpochWork(e.epoch, batches, trained);
  for (const p of pieces) work.queue.push({ shard: p.shard, from: p.from, to: p.to, avoid: null });
  return work;
}

/**
 * Examples accepted per epoch per shard from an older checkpoint, which kept only which
 * shards were done: a closed epoch and a done shard were credited whole, a pending one not at all.
 */
export function creditedExamples(state: LedgerState, shardSizes: readonly number[]): number[][] {
  return state.history.map((_, epoch) => {
    const open = state.open.find((o) => o.epoch === epoch);
    if (!open) return epoch < state.completedEpochs ? [...shardSizes] : shardSizes.map(() => 0);
    const done = new Set(open.done);
    return shardSizes.map((size, s) => (done.has(s) ? size : 0));
  });
}
