/**
 * Which worker is on which job: the one place that knows. The worker namespace
 * assigns (hello, reassignment) and releases (disconnect); jobs ask for their workers,
 * the worker directory and the registry ask who is where. Nothing else keeps a copy.
 */

const NONE: ReadonlySet<string> = new Set();

export class WorkerAssignments {
  private readonly jobOfWorker = new Map<string, string>();
  private readonly workersOfJob = new Map<string, Set<string>>();

  /** Puts `workerId` on `jobId` (null: no job); returns the job it was on, or null. */
  assign(workerId: string, jobId: string | null): string | null {
    const previous = this.release(workerId);
    if (jobId !== null) {
      this.jobOfWorker.set(workerId, jobId);
      let workers = this.workersOfJob.get(jobId);
      if (!workers) this.workersOfJob.set(jobId, (workers = new Set()));
      workers.add(workerId);
    }
    return previous;
  }

  /** Takes `workerId` off its job; returns the job it was on, or null. */
  release(workerId: string): string | null {
    const jobId = this.jobOfWorker.get(workerId);
    if (jobId === undefined) return null;
    this.jobOfWorker.delete(workerId);
    const workers = this.workersOfJob.get(jobId)!;
    workers.delete(workerId);
    if (workers.size === 0) this.workersOfJob.delete(jobId);
    return jobId;
  }

  jobOf(workerId: string): string | null {
    return this.jobOfWorker.get(workerId) ?? null;
  }

  /** The workers on `jobId` now (a live view: copy it to change assignments while iterating). */
  workersOf(jobId: string): ReadonlySet<string> {
    return this.workersOfJob.get(jobId) ?? NONE;
  }
}
