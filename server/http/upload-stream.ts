/**
 * A request body as it arrives, decoded (Content-Encoding identity, gzip, deflate or
 * br) and counted against a limit, for routes that take files: nothing is gathered into
 * one buffer (joining 50 MB alone held the event loop for half a second). The errors
 * carry the status and type body-parser gives its own, so errors.ts codes them alike.
 */
import type { Request } from 'express';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Readable, Transform } from 'node:stream';

const DECODERS: Record<string, () => Transform> = { gzip: createGunzip, deflate: createInflate, br: createBrotliDecompress };

const raised = (status: number, message: string, fields: object = {}) => Object.assign(new Error(message), { status, expose: true, ...fields });

/** The decoded body in chunks; throws a 413 past `limit` bytes, a 415 for an unknown encoding, a 400 for bytes that do not decode. */
export async function* requestChunks(req: Request, limit: number): AsyncGenerator<Buffer> {
  const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
  const declared = Number(req.headers['content-length']);
  if (encoding === 'identity' && declared > limit) throw raised(413, 'request entity too large', { type: 'entity.too.large', limit });
  let source: Readable = req;
  if (encoding !== 'identity') {
    const decoder = DECODERS[encoding];
    if (!decoder) throw raised(415, `unsupported content encoding "${encoding}"`, { type: 'encoding.unsupported', encoding });
    source = req.pipe(decoder());
    // A request that dies mid-body must end the decoder's iteration too.
    req.once('error', (err) => source.destroy(err));
  }
  let total = 0;
  try {
    for await (const chunk of source) {
      total += (chunk as Buffer).length;
      if (total > limit) throw raised(413, 'request entity too large', { type: 'entity.too.large', limit });
      yield chunk as Buffer;
    }
  } catch (err) {
    // zlib's errors (Z_DATA_ERROR…) are the client's bytes, not ours.
    if (err instanceof Error && !('status' in err) && 'code' in err) throw Object.assign(err, { status: 400, expose: true });
    throw err;
  } finally {
    if (source !== req) source.destroy();
  }
}
