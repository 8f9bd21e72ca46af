/** Downloads a leased shard and cuts it into shuffled mini-batches. */
import { decodeShard, type DecodedShard } from '../../shared/shard-format.js';
import type { Batch } from './model-trainer.js';

export async function fetchShard(url: string, signal?: AbortSignal): Promise<DecodedShard> {
  const res = await fetch(url, { signal });
  if (!res.ok) throw new Error(`Shard download ${url} failed: HTTP ${res.status}`);
  return decodeShard(new Uint8Array(await res.arrayBuffer()));
}

/** Every example exactly once, in a random order; the last batch may be smaller. */
export function* batchesOf(shard: DecodedShard, batchSize: number, random: () => number = Math.random): Generator<Batch> {
  const order = Array.from({ length: shard.count }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const len = shard.featureLength;
  for (let start = 0; start < order.length; start += batchSize) {
    const size = Math.min(batchSize, order.length - start);
    const features = new Float32Array(size * len);
    const labels = new Uint8Array(size);
    for (let k = 0; k < size; k++) {
      const ex = order[start + k]!;
      features.set(shard.features.subarray(ex * len, (ex + 1) * len), k * len);
      labels[k] = shard.labels[ex]!;
    }
    yield { features, labels, size };
  }
}
