/**
 * A restarted job takes up its training from the newest of its checkpoints that fits
 * its model and ledger (server/checkpoints/checkpoint-fit.ts). Newer ones that are torn,
 * damaged or another model's are passed over and set aside. When checkpoints exist but
 * none fits, the job cannot go on without losing what it learned: the reason comes back
 * and the job is marked failed, so one job never stops the others from starting.
 * A job on ps tasks resumes from a committed cut: each task loads the part the manifest
 * names; a part missing or not the manifest's falls back to an older committed
 * checkpoint (intact-checkpoint.ts), and fails the job with the task's code only when
 * none is intact.
 */
import { checkpointMisfit } from '../checkpoints/checkpoint-fit.js';
import type { CheckpointContent } from '../checkpoints/checkpoint-format.js';
import type { CheckpointStore } from '../checkpoints/checkpoint-store.js';
import { createLogger } from '../logger.js';
import { restoreIntact, type IntactOutcome } from './intact-checkpoint.js';
import type { Job } from './job.js';

const log = createLogger('jobs');

/** Why checkpoint `c` cannot be the job's, or null. */
function misfitFor(job: Job): (c: CheckpointContent) => string | null {
  const target = { tensors: job.parameters.specs, slots: job.parameters.slotCount, shardCount: job.ledger.shardCount, epochs: job.spec.epochs, cuts: job.checkpointsAreCuts };
  // The ledger checks what only it knows: its pieces fit the shards' batches.
  return (c) => checkpointMisfit(c, target) ?? job.ledger.misfit(c.ledger);
}

/**
 * Loads the job's newest fitting checkpoint; returns why the job cannot run, or null.
 * `keepParameters`: its parameters were adopted live from its ps tasks, newer than any
 * checkpoint; only the ledger and counters come from the checkpoint.
 */
export async function resumeFromCheckpoint(job: Job, checkpoints: CheckpointStore, options: { keepParameters?: boolean } = {}): Promise<string | null> {
  const unusable = (why: string) => {
    // Its parameters are not what it learned: they must not become its newest checkpoint.
    checkpoints.stopWrites(job.id, 'failed at restart');
    return why;
  };
  let outcome: IntactOutcome;
  try {
    outcome = await restoreIntact(job, checkpoints, misfitFor(job), options);
  } catch (err) {
    const newest = await checkpoints.latestUsable(job.id, misfitFor(job));
    return unusable(`checkpoint version ${newest.checkpoint?.store.version ?? '?'} could not be loaded: ${err instanceof Error ? err.message : String(err)}`);
  }
  const { checkpoint, refused, partRefused } = outcome;
  // No committed checkpoint is intact: the job fails with the newest one's part refusal (its code).
  if (!checkpoint && partRefused) return unusable(`checkpoint version ${partRefused.version} could not be loaded: ${partRefused.error.message}; no older committed checkpoint is intact`);
  if (!checkpoint) return refused.length ? unusable(`no usable checkpoint: the newest (${refused[0]!.name}) ${refused[0]!.reason}`) : null;
  if (refused.length) {
    await checkpoints.setAside(job.id, refused.map((r) => r.name));
    log.warn('resumed job from an older checkpoint', { job: job.id, version: checkpoint.store.version, passedOver: refused.map((r) => `${r.name}: ${r.reason}`) });
  } else {
    log.info('resumed job from checkpoint', { job: job.id, version: checkpoint.store.version });
  }
  return null;
}

/**
 * A ps task lost the job's slices (it restarted): every task goes back to the job's
 * newest fitting checkpoint, ledger and counters with them, so the tasks agree with each
 * other and with the ledger (a rollback of one task alone would mix two moments of the
 * model). With no checkpoint, back to the start. Rejects when the tasks refuse.
 */
export async function rollBack(job: Job, checkpoints: CheckpointStore | null): Promise<void> {
  const { checkpoint, partRefused } = checkpoints ? await restoreIntact(job, checkpoints, misfitFor(job)) : { checkpoint: null, partRefused: null };
  // Checkpoints exist but no part set is intact: held (the caller's reason), rather than back to the start.
  if (partRefused) throw partRefused.error;
  if (checkpoint) {
    log.warn('job rolled back to its checkpoint: a ps task had lost its slices', { job: job.id, version: checkpoint.store.version });
  } else {
    if (!(await job.restart())) throw new Error('its parameters cannot be reset');
    log.warn('job restarted from its initial parameters: a ps task had lost its slices and there is no checkpoint', { job: job.id });
  }
}
