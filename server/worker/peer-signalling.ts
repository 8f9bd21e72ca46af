/**
 * WebRTC signalling for model parallelism (docs/model-parallelism.md): `peer:offer`,
 * `peer:answer` and `peer:ice`, forwarded as they are (after their schema) to one
 * neighbour in the sender's live replica. Stage k offers to k + 1 and k + 1 answers,
 * so a stage cannot open a second connection to its neighbour in the other role;
 * candidates go either way. A stranger, a non-neighbour or a dissolved replica is
 * refused with a code, and nothing reaches anyone.
 */
import type { PeerCandidateOut, PeerDescriptionOut } from '../../shared/replica-protocol.js';
import { ok, type Result } from '../../shared/result.js';
import type { Job } from '../jobs/job.js';
import type { WorkerDirectory } from './worker-directory.js';
import { neighbourOf, type WorkerNsp } from './replica-neighbour.js';

export type PeerEvent = 'peer:offer' | 'peer:answer' | 'peer:ice';

export function forwardSignal(
  nsp: WorkerNsp,
  job: Job | null,
  directory: Pick<WorkerDirectory, 'get'>,
  from: string,
  event: PeerEvent,
  msg: PeerDescriptionOut | PeerCandidateOut,
): Result {
  const n = neighbourOf(nsp, job, directory, from, msg.replicaId, msg.to, event === 'peer:offer' ? 'next' : event === 'peer:answer' ? 'prev' : 'either');
  if (!n.ok) return n;
  if ('sdp' in msg) n.target.emit(event === 'peer:offer' ? 'peer:offer' : 'peer:answer', { replicaId: n.replicaId, from, sdp: msg.sdp });
  else n.target.emit('peer:ice', { replicaId: n.replicaId, from, candidate: msg.candidate });
  return ok({});
}
