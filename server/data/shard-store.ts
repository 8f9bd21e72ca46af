/**
 * Content-addressed training shards. A dataset cut at a shard size gives a catalog of
 * shards, each encoded once (shared/shard-format.ts) and named by the SHA-256 of its
 * bytes, so its URL can be cached forever by browsers and proxies.
 */
import { createHash } from 'node:crypto';
import { encodeShard } from '../../shared/shard-format.js';
import { featureLength, type Dataset } from './dataset.js';

export interface ShardInfo {
  index: number;
  /** First training example of the shard. */
  start: number;
  count: number;
  hash: string;
  url: string;
}

export const SHARD_ROUTE_PREFIX = '/shards/';

export class ShardStore {
  private readonly bytesByHash = new Map<string, Uint8Array>();
  private readonly catalogs = new Map<string, ShardInfo[]>();

  /** The shards of `ds`'s training split at `shardSize` examples each (the last may be short). */
  catalog(ds: Dataset, shardSize: number): ShardInfo[] {
    const key = `${ds.name}:${shardSize}`;
    let shards = this.catalogs.get(key);
    if (!shards) {
      shards = this.build(ds, shardSize);
      this.catalogs.set(key, shards);
    }
    return shards;
  }

  /** Drops the shards of a deleted dataset: a new upload under its name must not be served the old ones. */
  forget(datasetName: string): void {
    for (const key of [...this.catalogs.keys()]) if (key.startsWith(`${datasetName}:`)) this.catalogs.delete(key);
    const kept = new Set<string>();
    for (const shards of this.catalogs.values()) for (const s of shards) kept.add(s.hash);
    for (const hash of [...this.bytesByHash.keys()]) if (!kept.has(hash)) this.bytesByHash.delete(hash);
  }

  get(hash: string): Uint8Array | undefined {
    return this.bytesByHash.get(hash);
  }

  private build(ds: Dataset, shardSize: number): ShardInfo[] {
    const len = featureLength(ds);
    const shards: ShardInfo[] = [];
    for (let start = 0, index = 0; start < ds.train.count; start += shardSize, index++) {
      const count = Math.min(shardSize, ds.train.count - start);
      const bytes = encodeShard(
        { count, featureLength: len, numClasses: ds.numClasses, encoding: ds.encoding },
        ds.train.features.subarray(start * len, (start + count) * len),
        ds.train.labels.subarray(start, start + count),
      );
      const hash = createHash('sha256').update(bytes).digest('hex');
      this.bytesByHash.set(hash, bytes);
      shards.push({ index, start, count, hash, url: `${SHARD_ROUTE_PREFIX}${hash}.bin` });
    }
    return shards;
  }
}
