/**
 * A deleted job's checkpoint parts leave the tasks' disks. The chief tells every task
 * holding slices of the job `job:delete {dropParts: true}`; a task that is down then
 * (unreachable, or it did not answer) is told again each time it comes back up, until
 * it answers. The list lives in the chief's memory: a chief restarted before the task
 * returns forgets it, and those parts stay until someone removes them (docs/cluster.md).
 */
import { ErrorCode } from '../../shared/errors.js';
import type { Result } from '../../shared/result.js';
import { createLogger } from '../logger.js';
import type { TaskChange } from './task-liveness.js';

const log = createLogger('ps-cluster');

export interface PartDropsContext {
  /** Sends the drop of `jobId` to `task` (PsCluster.request). */
  send(task: number, jobId: string): Promise<Result>;
  watch(listener: (change: TaskChange) => void): () => void;
}

export class PartDrops {
  /** Per task, the deleted jobs it has not confirmed dropping yet. */
  private readonly pending = new Map<number, Set<string>>();
  private readonly unwatch: () => void;

  constructor(private readonly ctx: PartDropsContext) {
    this.unwatch = ctx.watch((change) => {
      if (change.up) for (const jobId of this.pending.get(change.task) ?? []) void this.tell(change.task, jobId);
    });
  }

  /** `jobId` is deleted: every task in `tasks` drops its slices and parts, now or when it is back. */
  drop(jobId: string, tasks: readonly number[]): Promise<void> {
    return Promise.all(tasks.map((t) => this.tell(t, jobId))).then(() => undefined);
  }

  close(): void {
    this.unwatch();
  }

  private async tell(task: number, jobId: string): Promise<void> {
    const r = await this.ctx.send(task, jobId);
    const set = this.pending.get(task) ?? new Set<string>();
    // Unreachable: told again when it is up. Any answer (UNKNOWN_JOB: nothing there) settles it.
    if (!r.ok && r.code === ErrorCode.PS_TASK_UNREACHABLE) {
      set.add(jobId);
      this.pending.set(task, set);
      return;
    }
    if (set.delete(jobId) && !set.size) this.pending.delete(task);
    if (!r.ok && r.code !== ErrorCode.UNKNOWN_JOB) log.warn('ps task kept a deleted job', { job: jobId, task, code: r.code, message: r.message });
  }
}
