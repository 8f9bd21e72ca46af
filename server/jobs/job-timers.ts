/**
 * What a running job does on its clock, besides what pushes and lease requests set off:
 * evaluations and checkpoints when the version moved, the sweep for late leases and
 * steps, and the refresh of the PS's own gradient. The job (job.ts) starts them each
 * time it starts or resumes running and stops them whenever it leaves running, is
 * disposed or shuts down. They run on the job's injected Clock, so tests can drive them.
 */
import type { JobSpec } from '../../shared/job-spec.js';
import type { Clock, Timer } from '../clock.js';

/** How often late leases are looked for on the job's clock (pushes and lease requests also check exactly). */
const LEASE_SWEEP_MS = 1000;

export interface RunningWork {
  /** Evaluates the parameters unless their version was already scored (every evalIntervalSeconds). */
  evaluate: () => void;
  /** Checkpoints them when the version moved (every checkpointSeconds); null: the job keeps no checkpoints. */
  checkpoint: (() => void) | null;
  /** Looks for late leases and replica steps (every LEASE_SWEEP_MS). */
  sweep: () => void;
  /** Recomputes the PS's own gradient (every trustedRefreshSeconds). */
  refreshTrusted: () => void;
}

export class JobTimers {
  private timers: Timer[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly spec: Pick<JobSpec, 'evalIntervalSeconds' | 'checkpointSeconds' | 'trustedRefreshSeconds'>,
    private readonly work: RunningWork,
  ) {}

  /** The job began running: its work starts (the job stops any earlier run's first). */
  start(): void {
    const { clock, spec, work } = this;
    this.timers.push(clock.setInterval(work.evaluate, spec.evalIntervalSeconds * 1000));
    if (work.checkpoint) this.timers.push(clock.setInterval(work.checkpoint, spec.checkpointSeconds * 1000));
    // A late lease goes back to the queue even when nobody asks for one.
    this.timers.push(clock.setInterval(work.sweep, LEASE_SWEEP_MS));
    // The PS's own gradient at the moving parameters: the norm bound's reference and the trusted direction.
    this.timers.push(clock.setInterval(work.refreshTrusted, spec.trustedRefreshSeconds * 1000));
  }

  stop(): void {
    for (const t of this.timers) this.clock.clear(t);
    this.timers = [];
  }
}
