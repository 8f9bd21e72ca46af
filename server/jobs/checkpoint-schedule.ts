/**
 * A job's checkpoints: written when the parameter version moved since the last one,
 * one at a time. The job says what a checkpoint holds (`capture`); this file only
 * decides when, and keeps what is in flight.
 */
import type { CheckpointContent } from '../checkpoints/checkpoint-format.js';
import { CheckpointCancelledError, type CheckpointStore } from '../checkpoints/checkpoint-store.js';
import { createLogger } from '../logger.js';

const log = createLogger('job');

export class CheckpointSchedule {
  private inFlight: Promise<void> | null = null;
  private lastVersion = -1;

  /** `store` null: the job keeps no checkpoints. */
  constructor(
    private readonly jobId: string,
    private readonly store: CheckpointStore | null,
    private readonly currentVersion: () => number,
    private readonly capture: () => Promise<CheckpointContent>,
    /** Told of each checkpoint once it is committed (written whole). */
    private readonly onCommitted: (content: CheckpointContent) => void = () => {},
  ) {}

  get enabled(): boolean {
    return this.store !== null;
  }

  /** A checkpoint being written, if any (shutdown waits for it). */
  get pending(): Promise<void> | null {
    return this.inFlight;
  }

  /** The job resumed from the checkpoint of `version`: it need not be written again. */
  resumedAt(version: number): void {
    this.lastVersion = version;
  }

  /** Writes a checkpoint when the version moved since the last one. */
  ifChanged(): Promise<void> {
    const store = this.store;
    if (!store || this.inFlight || this.currentVersion() === this.lastVersion) return this.inFlight ?? Promise.resolve();
    this.inFlight = this.capture()
      .then((content) =>
        store.write(content).then((info) => {
          this.lastVersion = content.store.version;
          this.onCommitted(content);
          log.debug('checkpoint written', { job: this.jobId, version: info.version, bytes: info.bytes });
        }),
      )
      .catch((err: unknown) => {
        // A deleted job's last writes are cancelled on purpose: nothing went wrong.
        if (err instanceof CheckpointCancelledError) log.debug('checkpoint cancelled', { job: this.jobId, reason: err.message });
        // A cut a ps task refused or did not answer: nothing was committed, the previous checkpoint stays in force.
        else log.error('checkpoint failed; the previous one stays in force', { job: this.jobId, err });
      })
      .finally(() => (this.inFlight = null));
    return this.inFlight;
  }
}
