/** Downloads a leased shard and cuts it into the mini-batches its lease covers. */
import { exampleOrder, type BatchRange } from '../../shared/batch-plan.js';
import { decodeShard, type DecodedShard } from '../../shared/shard-format.js';
import type { Batch } from './model-trainer.js';
import type { TrafficMeter } from './traffic-meter.js';

export interface ShardFetchOptions {
  signal?: AbortSignal;
  /** Counts the body's bytes as received. Default: not counted. */
  meter?: TrafficMeter;
}

export async function fetchShard(url: string, o: ShardFetchOptions = {}): Promise<DecodedShard> {
  const res = await fetch(url, { signal: o.signal });
  if (!res.ok) throw new Error(`Shard download ${url} failed: HTTP ${res.status}`);
  const body = new Uint8Array(await res.arrayBuffer());
  o.meter?.count('received', body.byteLength);
  return decodeShard(body);
}

/**
 * `fetch` keeping its last shard: the pieces a worker leases one after another are often
 * of the shard it just trained (a requeued piece, the next piece of it), so that one is
 * not downloaded and decoded again. A failed download is not kept.
 */
export function lastShardKept(fetch: (url: string) => Promise<DecodedShard>): (url: string) => Promise<DecodedShard> {
  let kept: { url: string; shard: Promise<DecodedShard> } | null = null;
  return (url) => {
    if (kept?.url !== url) kept = { url, shard: fetch(url) };
    const mine = kept;
    mine.shard.catch(() => kept === mine && (kept = null));
    return mine.shard;
  };
}

/** Which batches of which example order: what a lease grant names (ShardLeaseGrant's `order` and `batches`). */
export interface BatchPlan {
  order: number;
  batches: BatchRange;
}

/**
 * Batches `plan.batches` of the shard's examples in the order seed `plan.order` gives
 * (shared/batch-plan.ts), the same examples on every worker; without a plan, every
 * example once in a random order (training that pushes nothing, e.g. a benchmark
 * baseline). Only the shard's last batch may be smaller.
 */
export function* batchesOf(shard: DecodedShard, batchSize: number, plan?: BatchPlan): Generator<Batch> {
  const order = exampleOrder(shard.count, plan?.order ?? Math.floor(Math.random() * 2 ** 32));
  const range = plan?.batches ?? { from: 0, to: Math.ceil(shard.count / batchSize) };
  const len = shard.featureLength;
  for (let k = range.from; k < range.to; k++) {
    const start = k * batchSize;
    const size = Math.min(batchSize, shard.count - start);
    if (size <= 0) return;
    const features = new Float32Array(size * len);
    const labels = new Uint8Array(size);
    for (let i = 0; i < size; i++) {
      const ex = order[start + i]!;
      features.set(shard.features.subarray(ex * len, (ex + 1) * len), i * len);
      labels[i] = shard.labels[ex]!;
    }
    yield { features, labels, size };
  }
}
