/**
 * Serves training shards at content-addressed URLs. The name is the SHA-256 of the
 * bytes, so the response never changes: browsers and proxies may cache it forever.
 */
import { Router } from 'express';
import { ErrorCode } from '../../shared/errors.js';
import { fail } from '../../shared/result.js';
import type { ShardStore } from '../data/shard-store.js';

const NAME = /^([0-9a-f]{64})\.bin$/;

export function shardRouter(store: ShardStore): Router {
  const router = Router();
  router.get('/:name', (req, res) => {
    const m = NAME.exec(req.params.name);
    const bytes = m ? store.get(m[1]!) : undefined;
    if (!bytes) {
      res.status(404).json(fail(ErrorCode.BAD_REQUEST, `No shard named ${req.params.name.slice(0, 80)}`));
      return;
    }
    res.set({
      'Content-Type': 'application/octet-stream',
      'Cache-Control': 'public, max-age=31536000, immutable',
      ETag: `"${m![1]}"`,
    });
    if (req.headers['if-none-match'] === `"${m![1]}"`) {
      res.status(304).end();
      return;
    }
    res.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  });
  return router;
}
