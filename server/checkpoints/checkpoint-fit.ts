/**
 * Whether an intact checkpoint (checksum verified) can be loaded into a job: the same
 * tensors (names and shapes where the file records them, sizes always), the same
 * optimizer slots, and a ledger over the same shards and epochs in which every shard
 * of every open epoch is either pending or done, exactly once (a shard in neither would
 * never be trained, and its epoch would never end). A checkpoint of another model (a
 * reused job id, an edited file) is refused with its reason instead of being loaded
 * half-way or stopping the coordinator from starting.
 */
import { sizeOf, type TensorSpec } from '../../shared/tensors.js';
import type { CheckpointContent } from './checkpoint-format.js';
import { cutMisfit } from './cut-manifest.js';

export interface CheckpointTarget {
  tensors: readonly TensorSpec[];
  /** Optimizer slots per tensor (Adagrad 1, Adam 2, SGD 0 …). */
  slots: number;
  shardCount: number;
  epochs: number;
  /** The job's parameters are on ps tasks, which load a cut's parts. Default false: a cut does not fit. */
  cuts?: boolean;
}

const count = (v: unknown, min = 0): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

function tensorMisfit(c: CheckpointContent, t: CheckpointTarget): string | null {
  const { store } = c;
  if (!count(store.version) || !count(store.applies)) return `its version (${store.version}) or apply count (${store.applies}) is not a count`;
  if (c.cut !== undefined) {
    if (!t.cuts) return 'it is a cut over ps tasks, and this coordinator keeps the job in process';
    if (store.tensors.length !== 0 || store.version !== c.cut.step) return 'its cut and its header disagree';
    return cutMisfit(c.cut, t.tensors, t.slots);
  }
  if (store.tensors.length !== t.tensors.length) return `the checkpoint has ${store.tensors.length} tensors, the model ${t.tensors.length}`;
  for (let i = 0; i < t.tensors.length; i++) {
    const want = t.tensors[i]!;
    const got = store.tensors[i]!;
    if (got.name !== undefined && got.name !== want.name) return `tensor ${i} is "${String(got.name).slice(0, 60)}", the model's is "${want.name}"`;
    if (got.shape !== undefined && !(Array.isArray(got.shape) && sameShape(got.shape, want.shape))) return `tensor "${want.name}" is [${got.shape}] in the checkpoint, [${want.shape}] in the model`;
    if (got.values.length !== sizeOf(want.shape)) return `tensor "${want.name}" has ${got.values.length} values, the model ${sizeOf(want.shape)}`;
    if (got.slots.length !== t.slots) return `tensor "${want.name}" has ${got.slots.length} optimizer slots, the job's optimizer ${t.slots}`;
    if (got.slots.some((s) => s.length !== got.values.length)) return `an optimizer slot of "${want.name}" is not the tensor's size`;
  }
  return null;
}

function ledgerMisfit(c: CheckpointContent, t: CheckpointTarget): string | null {
  const l = c.ledger as Partial<CheckpointContent['ledger']> | undefined;
  if (!l || !count(l.completedEpochs) || l.completedEpochs > t.epochs || !count(l.nextLeaseId, 1)) return 'its shard ledger is malformed';
  if (!Array.isArray(l.history) || l.history.length > t.epochs) return `its ledger has ${Array.isArray(l.history) ? l.history.length : 'no'} epochs of history, the job ${t.epochs} epochs`;
  for (const row of l.history) {
    if (!Array.isArray(row) || row.length !== t.shardCount || !row.every((n) => count(n))) return `its ledger counts ${Array.isArray(row) ? row.length : 'no'} shards, the job's dataset has ${t.shardCount}`;
  }
  if (!Array.isArray(l.open)) return 'its shard ledger is malformed';
  let previous = l.completedEpochs - 1;
  for (const e of l.open) {
    if (!e || !count(e.epoch) || e.epoch <= previous || e.epoch >= t.epochs || !l.history[e.epoch]) return `its ledger has an open epoch ${e?.epoch} that does not fit`;
    previous = e.epoch;
    if (!Array.isArray(e.pending) || !Array.isArray(e.done)) return 'its shard ledger is malformed';
    const seen = new Set<number>();
    for (const s of [...e.pending, ...e.done]) {
      if (!count(s) || s >= t.shardCount || seen.has(s)) return `epoch ${e.epoch} of its ledger lists shard ${s} out of range or twice`;
      seen.add(s);
    }
    if (seen.size !== t.shardCount) return `epoch ${e.epoch} of its ledger accounts for ${seen.size} of ${t.shardCount} shards`;
  }
  return null;
}

/** Why `c` cannot be loaded into the job described by `t`, or null when it fits. */
export function checkpointMisfit(c: CheckpointContent, t: CheckpointTarget): string | null {
  return tensorMisfit(c, t) ?? ledgerMisfit(c, t) ?? (typeof c.stats === 'object' && c.stats !== null ? null : 'its counters are malformed');
}
