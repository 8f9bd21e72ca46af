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

/** Loads the job's newest fitting checkpoint; returns why the job cannot run, or null. */
export async function resumeFromCheckpoint(job: Job, checkpoints: CheckpointStore): Promise<string | null> {
  const target = { tensors: job.parameters.specs, slots: job.parameters.slotCount, shardCount: job.ledger.shardCount, epochs: job.spec.epochs, cuts: job.checkpointsAreCuts };
  // The ledger checks what only it knows: its pieces fit the shards' batches.
  const { checkpoint, refused } = await checkpoints.latestUsable(job.id, (c) => checkpointMisfit(c, target) ?? job.ledger.misfit(c.ledger));
  const unusable = (why: string) => {
    // Its parameters are not what it learned: they must not become its newest checkpoint.
    checkpoints.stopWrites(job.id, 'failed at restart');
    return why;
  };
  if (!checkpoint) return refused.length ? unusable(`no usable checkpoint: the newest (${refused[0]!.name}) ${refused[0]!.reason}`) : null;
  try {
    await job.restore(checkpoint);
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
