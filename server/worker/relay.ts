/**
 * The relay path of model parallelism: a stage's frame for its neighbour, forwarded
 * through the coordinator as bytes (never decoded here: the receiving stage checks it
 * as a push is checked). Only between the two neighbours of one live replica, and no
 * larger than MAX_RELAY_FRAME_BYTES. An abort frame (a stage refused its neighbour's
 * frame) is forwarded too and dissolves the replica, whichever path the stages' other
 * frames take: a stage sends its aborts by the relay so that the coordinator sees them.
 */
import { isAbortFrame } from '../../shared/activation-frame.js';
import { asBytes } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import { MAX_RELAY_FRAME_BYTES, type RelayFrameOut } from '../../shared/replica-protocol.js';
import { fail, ok, type Result } from '../../shared/result.js';
import type { Job } from '../jobs/job.js';
import type { WorkerDirectory } from './worker-directory.js';
import { neighbourOf, type WorkerNsp } from './replica-neighbour.js';

export function relayFrame(nsp: WorkerNsp, job: Job | null, directory: Pick<WorkerDirectory, 'get'>, from: string, msg: RelayFrameOut): Result {
  const bytes = asBytes(msg.frame);
  if (bytes.byteLength > MAX_RELAY_FRAME_BYTES) return fail(ErrorCode.PAYLOAD_TOO_LARGE, `A frame of ${bytes.byteLength} bytes; the relay forwards at most ${MAX_RELAY_FRAME_BYTES}`);
  const n = neighbourOf(nsp, job, directory, from, msg.replicaId, msg.to, 'either');
  if (!n.ok) return n;
  n.target.emit('relay:frame', { replicaId: n.replicaId, from, frame: bytes });
  job!.relayed(n.replicaId, from, msg.to, bytes.byteLength);
  if (isAbortFrame(bytes)) job!.abortReplica(n.replicaId, from, msg.to);
  return ok({});
}
