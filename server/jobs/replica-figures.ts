/**
 * What each stage of a live replica reports of itself (`replica:report`), checked
 * against what the coordinator saw: the frame bytes its relay forwarded between each
 * pair of neighbours. A stage cannot claim more relayed bytes than went through the
 * relay, more busy time than wall time, bytes with a neighbour it does not have, or
 * figures lower than its last report's (they are cumulative). Figures live as long as
 * their replica: `drop` when it dissolves.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { NeighbourBytes, ReplicaReport } from '../../shared/replica-protocol.js';
import { fail, ok, type Result } from '../../shared/result.js';
import type { Replica } from './replica-board.js';

export class ReplicaFigures {
  /** Per replica: bytes the relay forwarded, by `from>to`. */
  private readonly relayedBytes = new Map<string, Map<string, number>>();
  /** Per replica: each worker's latest report. */
  private readonly reports = new Map<string, Map<string, ReplicaReport>>();

  constructor(private readonly replicaById: (replicaId: string) => Replica | undefined) {}

  /** The relay forwarded `bytes` from `from` to `to` in `replicaId`. */
  relayed(replicaId: string, from: string, to: string, bytes: number): void {
    let pairs = this.relayedBytes.get(replicaId);
    if (!pairs) this.relayedBytes.set(replicaId, (pairs = new Map()));
    pairs.set(`${from}>${to}`, (pairs.get(`${from}>${to}`) ?? 0) + bytes);
  }

  /** A stage's report: kept if it is `workerId`'s, of a live replica, and consistent with what the coordinator saw. */
  report(workerId: string, r: ReplicaReport): Result {
    const replica = this.replicaById(r.replicaId);
    if (!replica) return fail(ErrorCode.UNKNOWN_REPLICA, `Replica ${r.replicaId} is not live (dissolved, or never formed)`);
    const stage = replica.members.indexOf(workerId);
    if (stage < 0) return fail(ErrorCode.NOT_A_PEER, `This worker is not a stage of replica ${r.replicaId}`);
    if (r.busyMs > r.wallMs) return fail(ErrorCode.BAD_REQUEST, `Busy ${r.busyMs} ms is more than the wall time ${r.wallMs} ms`);
    const neighbours = { prev: replica.members[stage - 1], next: replica.members[stage + 1] };
    for (const side of ['prev', 'next'] as const) {
      const peer = neighbours[side];
      const sent = r.bytesSent[side];
      const received = r.bytesReceived[side];
      if (!peer && (sent > 0 || received > 0)) return fail(ErrorCode.BAD_REQUEST, `Stage ${stage} has no ${side} neighbour to exchange bytes with`);
      if (!peer || r.path !== 'relay') continue;
      // Frames on a socket arrive in order: every frame counted by the sender went through the relay before its report.
      const out = this.relayedOf(r.replicaId, workerId, peer);
      const back = this.relayedOf(r.replicaId, peer, workerId);
      if (sent > out) return fail(ErrorCode.BAD_REQUEST, `${sent} bytes sent to the ${side} stage; the relay forwarded ${out}`);
      if (received > back) return fail(ErrorCode.BAD_REQUEST, `${received} bytes received from the ${side} stage; the relay forwarded ${back}`);
    }
    const last = this.reports.get(r.replicaId)?.get(workerId);
    if (last && decreased(last, r)) return fail(ErrorCode.BAD_REQUEST, 'Figures are cumulative: one is lower than in the last report');
    let byWorker = this.reports.get(r.replicaId);
    if (!byWorker) this.reports.set(r.replicaId, (byWorker = new Map()));
    byWorker.set(workerId, r);
    return ok({});
  }

  /** `workerId`'s latest report in `replicaId`, if any. */
  reportOf(replicaId: string, workerId: string): ReplicaReport | undefined {
    return this.reports.get(replicaId)?.get(workerId);
  }

  drop(replicaId: string): void {
    this.relayedBytes.delete(replicaId);
    this.reports.delete(replicaId);
  }

  private relayedOf(replicaId: string, from: string, to: string): number {
    return this.relayedBytes.get(replicaId)?.get(`${from}>${to}`) ?? 0;
  }
}

function decreased(a: ReplicaReport, b: ReplicaReport): boolean {
  const bytes = (x: NeighbourBytes, y: NeighbourBytes) => y.prev < x.prev || y.next < x.next;
  return b.busyMs < a.busyMs || b.wallMs < a.wallMs || b.examples < a.examples || bytes(a.bytesSent, b.bytesSent) || bytes(a.bytesReceived, b.bytesReceived);
}
