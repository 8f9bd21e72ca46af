/**
 * A stage's figures in its replica, for `replica:report` (shared/replica-protocol.ts):
 * frame bytes to and from each neighbour, busy time (its own work: computing, and the
 * encoding, decoding and reading around it, stage-phases.ts's OWN_WORK) against wall
 * time since it began, and the examples it has passed forward. Cumulative, so the
 * latest report says it all. Busy time counts overlapping work once: stage 0's next
 * forward can run while a gradient frame is handled, and a busy fraction over 1 would
 * mean nothing.
 */
import type { NeighbourBytes, ReplicaReport, StagePath } from '../../shared/replica-protocol.js';

export type Side = keyof NeighbourBytes;

export class StageMeter {
  private readonly started: number;
  private busyMs = 0;
  private active = 0;
  private activeSince = 0;
  private examples = 0;
  private readonly sent: NeighbourBytes = { prev: 0, next: 0 };
  private readonly received: NeighbourBytes = { prev: 0, next: 0 };

  /** `now`: a millisecond clock (default performance.now). */
  constructor(private readonly now: () => number = () => performance.now()) {
    this.started = now();
  }

  /** Its own work began (a forward, a backward, a loss, an encoding…). */
  begin(): void {
    if (this.active++ === 0) this.activeSince = this.now();
  }

  /** Work that began ended. */
  end(): void {
    if (this.active > 0 && --this.active === 0) this.busyMs += this.now() - this.activeSince;
  }

  sentTo(side: Side, bytes: number): void {
    this.sent[side] += bytes;
  }

  receivedFrom(side: Side, bytes: number): void {
    this.received[side] += bytes;
  }

  /** A forward micro-batch of `n` examples passed this stage. */
  forwarded(n: number): void {
    this.examples += n;
  }

  report(replicaId: string, path: StagePath): ReplicaReport {
    const now = this.now();
    const wallMs = now - this.started;
    const busyMs = this.busyMs + (this.active ? now - this.activeSince : 0);
    return { replicaId, path, bytesSent: { ...this.sent }, bytesReceived: { ...this.received }, busyMs: Math.min(busyMs, wallMs), wallMs, examples: this.examples };
  }
}
