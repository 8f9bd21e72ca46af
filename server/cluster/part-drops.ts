/**
 * A deleted job's checkpoint parts leave the tasks' disks. The chief tells every task
 * holding slices of the job `job:delete {dropParts: true}`; a task that is down then
 * (unreachable, or it did not answer) is told again each time it comes back up, until
 * it answers. With a file (the chief's data dir) the list outlives the chief: a chief
 * restarted before the task returns reads it and tells the task then (docs/cluster.md).
 */
import { ErrorCode } from '../../shared/errors.js';
import type { Result } from '../../shared/result.js';
import { createLogger } from '../logger.js';
import { OwedDropsFile, readOwedDrops } from './owed-drops-file.js';
import type { TaskChange } from './task-liveness.js';

const log = createLogger('ps-cluster');

export interface PartDropsContext {
  /** Sends the drop of `jobId` to `task` (PsCluster.request). */
  send(task: number, jobId: string): Promise<Result>;
  watch(listener: (change: TaskChange) => void): () => void;
  /** Where the list is kept across chief restarts; none: in memory only. */
  file?: string;
}

export class PartDrops {
  /** Per task, the deleted jobs it has not confirmed dropping yet. */
  private readonly pending: Map<number, Set<string>>;
  private readonly file: OwedDropsFile | null;
  private readonly unwatch: () => void;

  constructor(private readonly ctx: PartDropsContext) {
    this.pending = ctx.file ? readOwedDrops(ctx.file) : new Map();
    this.file = ctx.file ? new OwedDropsFile(ctx.file) : null;
    this.unwatch = ctx.watch((change) => {
      if (change.up) for (const jobId of this.pending.get(change.task) ?? []) void this.tell(change.task, jobId);
    });
    // Owed by an earlier chief: told now, or when the task is up.
    for (const [task, jobs] of this.pending) for (const jobId of jobs) void this.tell(task, jobId);
  }

  /** Deleted jobs `task` has not confirmed dropping (tests, status). */
  owed(task: number): string[] {
    return [...(this.pending.get(task) ?? [])];
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
      if (set.has(jobId)) return;
      set.add(jobId);
      this.pending.set(task, set);
      await this.file?.save(this.pending);
      return;
    }
    if (set.delete(jobId)) {
      if (!set.size) this.pending.delete(task);
      await this.file?.save(this.pending);
    }
    if (!r.ok && r.code !== ErrorCode.UNKNOWN_JOB) log.warn('ps task kept a deleted job', { job: jobId, task, code: r.code, message: r.message });
  }
}
