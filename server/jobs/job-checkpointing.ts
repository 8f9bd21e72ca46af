/**
 * What a job's checkpoint holds and how the job takes one back: the parameters, the
 * ledger and the counters, captured so the three agree; loading a checkpoint (a
 * coordinator restart, or a rollback after a ps task lost its slices); going back to the
 * start when there is none; and which checkpoint the job resumed from. When a
 * checkpoint is written is the CheckpointSchedule's (checkpoint-schedule.ts), built here
 * around the capture; the job (job.ts) runs it from its timers and its lifecycle.
 */
import type { ResumedFrom } from '../../shared/operator-protocol.js';
import type { CheckpointContent } from '../checkpoints/checkpoint-format.js';
import type { CheckpointStore } from '../checkpoints/checkpoint-store.js';
import type { Clock } from '../clock.js';
import type { ShardLedger } from '../data/shard-ledger.js';
import type { ParameterService } from '../params/parameter-service.js';
import { CheckpointSchedule } from './checkpoint-schedule.js';
import { emptyStats, type JobStats } from './job-stats.js';

export interface JobCheckpointingDeps {
  jobId: string;
  /** null: the job keeps no checkpoints. */
  store: CheckpointStore | null;
  clock: Clock;
  params: ParameterService;
  ledger: ShardLedger;
  /** The job's counters now. */
  stats: () => JobStats;
  /** A restore or a restart replaces the job's counters with `stats`. */
  replaceStats: (stats: JobStats) => void;
}

/** `keepParameters`: the parameters were adopted live from the ps tasks; `passedOver`: newer checkpoints set aside, and why. */
export interface RestoreOptions {
  keepParameters?: boolean;
  passedOver?: string[];
}

export class JobCheckpointing {
  /** When checkpoints are written: the job's timer, its end and its shutdown ask it. */
  readonly schedule: CheckpointSchedule;
  private resumed: ResumedFrom | null = null;
  /** The ledger before any training: where a restart() goes back to. */
  private readonly initialLedger;

  constructor(private readonly d: JobCheckpointingDeps) {
    this.initialLedger = d.ledger.exportState();
    this.schedule = new CheckpointSchedule(d.jobId, d.store, () => d.params.version, () => this.content(), (c) => c.cut && d.params.committed?.(c.cut));
  }

  /** The checkpoint the job resumed from at the last restart, if any. */
  get resumedFrom(): ResumedFrom | null {
    return this.resumed;
  }

  /**
   * The ledger and counters are taken in the same turn as the parameters' snapshot is
   * asked for, so the three agree. On ps tasks the parameters are a cut the tasks take
   * a little later: every push the ledger credited was applied by every task before
   * (its receipts say so), so it is in the parts; pushes applied meanwhile are in them
   * too but not credited, and their batches are trained again after a restore.
   */
  private content(): Promise<CheckpointContent> {
    const { jobId, params } = this.d;
    const at = this.d.clock.now();
    const ledger = this.d.ledger.exportState();
    const stats = structuredClone(this.d.stats());
    if (params.cut) {
      const step = params.version;
      return params.cut().then((cut) => ({ jobId, at, store: { version: step, applies: step, tensors: [] }, cut, ledger, stats }));
    }
    return params.snapshot().then((store) => ({ jobId, at, store, ledger, stats }));
  }

  /**
   * Loads a checkpoint (coordinator restart, or a rollback after a ps task lost its
   * slices) while the job does not train; rejects, changing nothing of the job's own,
   * when it does not fit. `keepParameters`: the parameters were adopted live from the ps
   * tasks (newer than the checkpoint): only the ledger and counters are taken from it.
   */
  async restore(c: CheckpointContent, options: RestoreOptions = {}): Promise<void> {
    const params = this.d.params;
    if (!(options.keepParameters ?? false)) {
      if (c.cut) {
        if (!params.restoreCut) throw new Error('a cut over ps tasks cannot be loaded into a job kept in process');
        await params.restoreCut(c.cut);
      } else {
        await params.restore(c.store);
      }
    }
    this.d.ledger.restore(c.ledger);
    // Checkpoints from before a counter existed lack it: start it at zero.
    this.d.replaceStats({ ...emptyStats(), ...c.stats });
    this.schedule.resumedAt(c.store.version);
    this.resumed = { version: c.store.version, at: c.at, ...(options.passedOver?.length ? { passedOver: options.passedOver } : {}) };
  }

  /**
   * Back to the start: initial parameters and optimizer state, a fresh ledger and
   * counters (a rollback when a ps task lost its slices and there is no checkpoint).
   * Only a service that can reset (ps tasks) can; false otherwise.
   */
  async restart(): Promise<boolean> {
    const params = this.d.params;
    if (!params.reset) return false;
    await params.reset();
    this.d.ledger.restore(this.initialLedger);
    this.d.replaceStats(emptyStats());
    this.schedule.resumedAt(0);
    this.resumed = null;
    return true;
  }
}
