/**
 * The relay path of model parallelism: a stage's frame for its neighbour, forwarded
 * through the coordinator as bytes (never decoded here: the receiving stage checks it
 * as a push is checked). Only between the two neighbours of one live replica, and no
 * larger than MAX_RELAY_FRAME_BYTES.
 */
import { asBytes } from '../../shared/codec.js';
import { ErrorCode } from '../../shared/errors.js';
import type { ClientToServerEvents, ServerToClientEvents, WorkerSocketData } from '../../shared/protocol.js';
import { MAX_RELAY_FRAME_BYTES, type RelayFrameOut } from '../../shared/replica-protocol.js';
import { fail, ok, type Result } from '../../shared/result.js';
import type { Job } from '../jobs/job.js';
import type { Namespace } from 'socket.io';
import type { WorkerDirectory } from './worker-directory.js';

type Nsp = Namespace<ClientToServerEvents, ServerToClientEvents, Record<string, never>, WorkerSocketData>;

export function relayFrame(nsp: Nsp, job: Job | null, directory: Pick<WorkerDirectory, 'get'>, from: string, msg: RelayFrameOut): Result {
  const bytes = asBytes(msg.frame);
  if (bytes.byteLength > MAX_RELAY_FRAME_BYTES) return fail(ErrorCode.PAYLOAD_TOO_LARGE, `A frame of ${bytes.byteLength} bytes; the relay forwards at most ${MAX_RELAY_FRAME_BYTES}`);
  const replica = job?.replicas?.get(msg.replicaId);
  const stage = replica ? replica.members.indexOf(from) : -1;
  if (!replica || stage < 0) return fail(ErrorCode.UNKNOWN_REPLICA, `Replica ${msg.replicaId} is not this worker's (dissolved, or never its)`);
  if (msg.to !== replica.members[stage - 1] && msg.to !== replica.members[stage + 1]) {
    return fail(ErrorCode.NOT_A_PEER, `Worker ${msg.to} is not a neighbour of stage ${stage} in replica ${replica.id}`);
  }
  const target = nsp.sockets.get(directory.get(msg.to)?.socketId ?? '');
  // Its socket is gone and its departure is being handled: the replica dissolves in that turn.
  if (!target) return fail(ErrorCode.UNKNOWN_REPLICA, `Worker ${msg.to} has left replica ${replica.id}`);
  target.emit('relay:frame', { replicaId: replica.id, from, frame: bytes });
  job!.relayed(replica.id, from, msg.to, bytes.byteLength);
  return ok({});
}
