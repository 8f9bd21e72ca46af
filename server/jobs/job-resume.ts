/**
 * A restarted job takes up its training from the newest of its checkpoints that fits
 * its model and ledger (server/checkpoints/checkpoint-fit.ts). Newer ones that are torn,
 * damaged or another model's are passed over and set aside. When checkpoints exist but
 * none fits, the job cannot go on without losing what it learned: the reason comes back
 * and the job is marked failed, so one job never stops the others from starting.
 * A job on ps tasks resumes from a committed cut: each task loads the part the manifest
 * names, and a part missing or not the manifest's fails the job with the task's code.
 */
import { checkpointMisfit } from '../checkpoints/checkpoint-fit.js';
import type { CheckpointStore } from '../checkpoints/checkpoint-store.js';
import { createLogger } from '../logger.js';
import type { Job } from './job.js';

const log = createLogger('jobs');

/** The job's newest checkpoint that fits it, and the newer ones that do not. */
function latestFitting(job: Job, checkpoints: CheckpointStore) {
  const target = { tensors: job.parameters.specs, slots: job.parameters.slotCount, shardCount: job.ledger.shardCount, epochs: job.spec.epochs, cuts: job.checkpointsAreCuts };
  // The ledger checks what only it knows: its pieces fit the shards' batches.
  return checkpoints.latestUsable(job.id, (c) => checkpointMisfit(c, target) ?? job.ledger.misfit(c.ledger));
}

/**
 * Loads the job's newest fitting checkpoint; returns why the job cannot run, or null.
 * `keepParameters`: its parameters were adopted live from its ps tasks, newer than any
 * checkpoint; only the ledger and counters come from the checkpoint.
 */
export async function resumeFromCheckpoint(job: Job, checkpoints: CheckpointStore, options: { keepParameters?: boolean } = {}): Promise<string | null> {
  const { checkpoint, refused } = await latestFitting(job, checkpoints);
  const unusable = (why: string) => {
    // Its parameters are not what it learned: they must not become its newest checkpoint.
    checkpoints.stopWrites(job.id, 'failed at restart');
    return why;
  };
  if (!checkpoint) return refused.length ? unusable(`no usable checkpoint: the newest (${refused[0]!.name}) ${refused[0]!.reason}`) : null;
  try {
    await job.restore(checkpoint, options);
  } catch (err) {
    return unusable(`checkpoint version ${checkpoint.store.version} could not be loaded: ${err instanceof Error ? err.message : String(err)}`);
  }
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
  const { checkpoint } = checkpoints ? await latestFitting(job, checkpoints) : { checkpoint: null };
  if (checkpoint) {
    await job.restore(checkpoint);
    log.warn('job rolled back to its checkpoint: a ps task had lost its slices', { job: job.id, version: checkpoint.store.version });
  } else {
    if (!(await job.restart())) throw new Error('its parameters cannot be reset');
    log.warn('job restarted from its initial parameters: a ps task had lost its slices and there is no checkpoint', { job: job.id });
  }
}
