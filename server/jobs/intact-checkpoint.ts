/**
 * Loads a job's newest checkpoint that fits it and whose parts its ps tasks accept. A
 * committed cut names parts on the tasks' disks, which the chief cannot check before a
 * task reads them: a part can be missing (a task's data dir replaced or lost) or
 * damaged. Then the next older committed checkpoint is tried, and so on, rather than
 * failing a job that still has an intact one (logged, and the job's `resumedFrom` names
 * what was passed over and why). Only a part's refusal falls back; anything else (a task
 * unreachable, a cut over another cluster) rejects at once, as before.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { CheckpointContent } from '../checkpoints/checkpoint-format.js';
import type { CheckpointStore, RefusedCheckpoint } from '../checkpoints/checkpoint-store.js';
import { CutRefusedError } from '../cluster/checkpoint-cut.js';
import { createLogger } from '../logger.js';
import type { Job } from './job.js';

const log = createLogger('jobs');

/** A part's refusals that an older checkpoint may not share. */
const PART_REFUSALS: ReadonlySet<string> = new Set([ErrorCode.CHECKPOINT_PART_MISSING, ErrorCode.CHECKPOINT_PART_CORRUPT]);

export interface IntactOutcome {
  /** The checkpoint loaded; null when none fits (or none is intact: `partRefused`). */
  checkpoint: CheckpointContent | null;
  /** Newer checkpoints passed over, newest first, with why (not this model's, torn, a part refused). */
  refused: RefusedCheckpoint[];
  /** The newest cut whose part a task refused, when no checkpoint could be loaded because of it. */
  partRefused: { version: number; error: CutRefusedError } | null;
}

/** `misfit`: why a checkpoint cannot be this job's, or null (checkpoint-fit.ts and the ledger's check). */
export async function restoreIntact(job: Job, checkpoints: CheckpointStore, misfit: (c: CheckpointContent) => string | null, options: { keepParameters?: boolean } = {}): Promise<IntactOutcome> {
  /** Cuts a task refused a part of: checkpoint id → why. */
  const refusedCuts = new Map<string, string>();
  let first: IntactOutcome['partRefused'] = null;
  for (;;) {
    const { checkpoint, refused } = await checkpoints.latestUsable(job.id, (c) => (c.cut && refusedCuts.get(c.cut.checkpointId)) ?? misfit(c));
    if (!checkpoint) return { checkpoint: null, refused, partRefused: first };
    try {
      await job.restore(checkpoint, { ...options, passedOver: refused.map((r) => `${r.name}: ${r.reason}`) });
      return { checkpoint, refused, partRefused: null };
    } catch (err) {
      // Adopted parameters load nothing from the tasks: no part can have been refused.
      if (!(err instanceof CutRefusedError) || !PART_REFUSALS.has(err.code) || !checkpoint.cut) throw err;
      log.warn('a ps task refused its part of a committed checkpoint: trying an older one', { job: job.id, version: checkpoint.store.version, checkpoint: checkpoint.cut.checkpointId, reason: err.message });
      first ??= { version: checkpoint.store.version, error: err };
      refusedCuts.set(checkpoint.cut.checkpointId, `its part on ${err.message}`);
    }
  }
}
