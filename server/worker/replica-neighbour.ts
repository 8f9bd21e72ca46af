/**
 * Who a stage may talk to: the neighbour `to` of worker `from` in live replica
 * `replicaId`, and its socket. The relay (relay.ts) and WebRTC signalling
 * (peer-signalling.ts) both ask this before forwarding anything; nothing is forwarded to
 * a neighbour that has more than RELAY_UNREAD_BYTES unread.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { ClientToServerEvents, ServerToClientEvents, WorkerSocketData } from '../../shared/protocol.js';
import { MAX_RELAY_FRAME_BYTES } from '../../shared/replica-protocol.js';
import { fail, ok, type Result } from '../../shared/result.js';
import type { Job } from '../jobs/job.js';
import type { Namespace, Socket } from 'socket.io';
import { unreadBytes } from './unread-bytes.js';
import type { WorkerDirectory } from './worker-directory.js';

export type WorkerNsp = Namespace<ClientToServerEvents, ServerToClientEvents, Record<string, never>, WorkerSocketData>;
type WorkerSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, WorkerSocketData>;

/** What may wait unread for a stage before frames to it are dropped: two of the largest frames (the socket's own bound, 64 MiB, is never reached by frames). */
export const RELAY_UNREAD_BYTES = 2 * MAX_RELAY_FRAME_BYTES;

/** Which neighbour a message may go to: 'next' (stage k → k + 1), 'prev', or either. */
export type Direction = 'next' | 'prev' | 'either';

export function neighbourOf(
  nsp: WorkerNsp,
  job: Job | null,
  directory: Pick<WorkerDirectory, 'get'>,
  from: string,
  replicaId: string,
  to: string,
  direction: Direction,
): Result<{ replicaId: string; target: WorkerSocket }> {
  const replica = job?.replicas?.get(replicaId);
  const stage = replica ? replica.members.indexOf(from) : -1;
  if (!replica || stage < 0) return fail(ErrorCode.UNKNOWN_REPLICA, `Replica ${replicaId} is not this worker's (dissolved, or never its)`);
  const next = to === replica.members[stage + 1];
  const prev = to === replica.members[stage - 1];
  if (!(direction === 'next' ? next : direction === 'prev' ? prev : next || prev)) {
    const which = direction === 'either' ? 'a neighbour' : `the ${direction} stage`;
    return fail(ErrorCode.NOT_A_PEER, `Worker ${to} is not ${which} of stage ${stage} in replica ${replica.id}`);
  }
  const target = nsp.sockets.get(directory.get(to)?.socketId ?? '');
  // Its socket is gone and its departure is being handled: the replica dissolves in that turn.
  if (!target) return fail(ErrorCode.UNKNOWN_REPLICA, `Worker ${to} has left replica ${replica.id}`);
  // A neighbour that does not read what it is sent (or cannot as fast as this stage sends) would have it all kept here.
  // The frame is dropped, not the neighbour cut off: a hostile sender could otherwise have an honest receiver cut.
  const unread = unreadBytes(target);
  if (unread > RELAY_UNREAD_BYTES) return fail(ErrorCode.BUSY, `Worker ${to} of replica ${replica.id} has ${unread} bytes unread: the frame is dropped`);
  return ok({ replicaId: replica.id, target });
}
