/**
 * How a shard's examples become mini-batches, the same on the coordinator and on every
 * worker: the examples are permuted by a seed the lease names (`order`), and batch k is
 * the k-th run of `batchSize` examples of that permutation (the last batch may be
 * short). A lease covers a range of these batches, so the coordinator knows exactly
 * which examples a push carries, and the part of a shard a refused push leaves
 * untrained can be handed to another worker, who trains the very same examples.
 */
import { seededRandom } from './seeded-random.js';

/** Batches [from, to) of a shard's permutation. */
export interface BatchRange {
  from: number;
  to: number;
}

/** Mini-batches a shard of `examples` examples is cut into. */
export function batchCount(examples: number, batchSize: number): number {
  return Math.ceil(examples / batchSize);
}

/** Examples in batches [from, to) of a shard of `examples` examples (only the shard's last batch is short). */
export function examplesIn(examples: number, batchSize: number, range: BatchRange): number {
  const start = Math.min(range.from * batchSize, examples);
  const end = Math.min(range.to * batchSize, examples);
  return Math.max(0, end - start);
}

/** The permutation of a shard's `count` example indices that seed `order` names (Fisher–Yates over mulberry32). */
export function exampleOrder(count: number, order: number): Uint32Array {
  const perm = new Uint32Array(count);
  for (let i = 0; i < count; i++) perm[i] = i;
  const rand = seededRandom(order);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  return perm;
}

/** The seed of shard `shard`'s example order in epoch `epoch` of a job seeded `seed`: a new order every epoch. */
export function shardOrderSeed(seed: number, epoch: number, shard: number): number {
  // Three odd multipliers mix the parts; the result is any uint32.
  return (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca77) ^ Math.imul(shard + 1, 0xc2b2ae3d)) >>> 0;
}
