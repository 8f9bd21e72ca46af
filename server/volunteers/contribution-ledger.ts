/**
 * Adds up what each volunteer gives: the examples of every gradient the parameter
 * server accepted from a tab that said it belongs to a volunteer id, and the time the
 * coordinator saw that tab training. Time is measured here, on the coordinator's clock,
 * not reported by the tab: the gap between two accepted pushes of one worker, capped
 * (a tab that paused and came back does not earn its pause), and restarted when the
 * tab reports it is not training. Deltas gather in memory and go to the store every
 * `flushMs` and at close, so the push path never waits on a disk write.
 */
import type { Clock, Timer } from '../clock.js';
import { createLogger } from '../logger.js';
import type { ContributionDelta, VolunteerStore } from '../store/volunteer-store.js';

const log = createLogger('volunteers');

export interface ContributionLedgerOptions {
  /** How often gathered contribution is written to the store. Default 5000 ms. */
  flushMs?: number;
  /** The longest gap between two accepted pushes of one worker that counts as compute time. Default 60 000 ms. */
  maxGapMs?: number;
}

interface WorkerSpan {
  volunteerId: string;
  /** When its last accepted push arrived in the current training span; null: the next push starts a span. */
  lastAcceptedAt: number | null;
}

export class ContributionLedger {
  private readonly workers = new Map<string, WorkerSpan>();
  private pending = new Map<string, ContributionDelta>();
  private readonly maxGapMs: number;
  private readonly timer: Timer;

  constructor(
    private readonly store: VolunteerStore,
    private readonly clock: Clock,
    options: ContributionLedgerOptions = {},
  ) {
    this.maxGapMs = options.maxGapMs ?? 60_000;
    this.timer = clock.setInterval(() => this.flush(), options.flushMs ?? 5000);
  }

  /** A worker said hello; without a volunteer id its work is counted by the job only. */
  join(workerId: string, volunteerId: string | null | undefined): void {
    if (volunteerId) this.workers.set(workerId, { volunteerId, lastAcceptedAt: null });
  }

  /** The parameter server accepted a push from `workerId` worth `examples` on `job`. */
  credit(workerId: string, job: { id: string; name: string }, examples: number): void {
    const w = this.workers.get(workerId);
    if (!w) return;
    const at = this.clock.now();
    const computeMs = w.lastAcceptedAt === null ? 0 : Math.min(Math.max(at - w.lastAcceptedAt, 0), this.maxGapMs);
    w.lastAcceptedAt = at;
    const key = `${w.volunteerId}\u0000${job.id}`;
    const d = this.pending.get(key) ?? { volunteerId: w.volunteerId, jobId: job.id, jobName: job.name, examples: 0, computeMs: 0 };
    d.examples += examples;
    d.computeMs += computeMs;
    this.pending.set(key, d);
  }

  /** The worker says it is not training (paused, waiting): its next push starts a new span. */
  idle(workerId: string): void {
    const w = this.workers.get(workerId);
    if (w) w.lastAcceptedAt = null;
  }

  leave(workerId: string): void {
    this.workers.delete(workerId);
  }

  /** Writes what gathered since the last flush; a failed write is logged and kept for the next. */
  flush(): void {
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    try {
      this.store.addContributions(batch, this.clock.now());
    } catch (err) {
      log.error('could not store volunteer contribution; retrying at the next flush', { err, volunteers: batch.length });
      for (const d of batch) {
        const key = `${d.volunteerId}\u0000${d.jobId}`;
        const later = this.pending.get(key);
        this.pending.set(key, later ? { ...d, examples: d.examples + later.examples, computeMs: d.computeMs + later.computeMs } : d);
      }
    }
  }

  close(): void {
    this.clock.clear(this.timer);
    this.flush();
  }
}
