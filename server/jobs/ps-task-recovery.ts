/**
 * What a job on ps tasks does when one of its tasks goes down and comes back
 * (PsCluster.watch, server/cluster/task-liveness.ts):
 *
 * - a task holding slices of the job goes down: the job is held, paused with that
 *   task's reason (the API and dashboard show it, refused workers are told it);
 * - every such task is up again: each is asked what it holds (`task:status`). If every
 *   one still holds the job at the versions the chief has receipts for (a network blip,
 *   a stalled process), the job resumes as it was. If one holds nothing or less (it
 *   restarted), every task is rolled back to the job's last checkpoint (job-resume.ts's
 *   rollBack), then the job resumes. A rollback that fails keeps the job held, with why.
 *
 * - a chief restarted while a task was down (RemoteParameterService.attach left the
 *   service `detached`, the job held with the task's reason): when every task is up,
 *   their live state is adopted if they all hold the job, as a restart adopts it;
 *   otherwise every task is rolled back to the last checkpoint.
 * - a sync or local round that a task did not close (the chief's retries spent,
 *   round-close-retry.ts): the job is held and checked at once, as on a return; the
 *   tasks' versions are apart, so they are rolled back.
 * - a replica step applied on some task and not on every one (task-stage-steps.ts):
 *   the job is held ("a close did not reach every ps task (…)") and rolled back once
 *   every task answers, whatever their versions say (a half step leaves no trace in
 *   them: each task's version is one its pushes made).
 *
 * Checks run one at a time; a change during one runs another after it.
 */
import { ErrorCode } from '../../shared/errors.js';
import type { PsCluster } from '../cluster/ps-cluster.js';
import type { TaskChange } from '../cluster/task-liveness.js';
import { createLogger } from '../logger.js';
import type { RemoteParameterService } from '../params/remote-parameter-service.js';
import type { Job } from './job.js';

const log = createLogger('ps-recovery');

export interface PsTaskRecoveryOptions {
  job: Job;
  service: RemoteParameterService;
  cluster: PsCluster;
  /** Puts every task back to the job's last checkpoint (or its start); rejects when that fails. */
  rollBack: () => Promise<void>;
}

export class PsTaskRecovery {
  private readonly unwatch: () => void;
  private checking: Promise<void> | null = null;
  private again = false;
  private disposed = false;
  /** Why the job must go back to its last checkpoint before it runs again (a half-applied step); null otherwise. */
  private rollBackDue: string | null = null;

  constructor(private readonly o: PsTaskRecoveryOptions) {
    this.unwatch = o.cluster.watch((change) => this.changed(change));
    // A round one task did not close (retries spent) leaves the tasks' versions apart: held, and checked as a return is.
    o.service.onDiverged = (why, what) => {
      if (this.disposed) return;
      const reason = what === 'step' ? `a close did not reach every ps task (${why.code}: ${why.message})` : `a round did not close on every ps task (${why.code}: ${why.message})`;
      if (what === 'step') this.rollBackDue = reason;
      o.job.hold(reason);
      this.check();
    };
    // A task already down when the job was built (a restarted chief's, say).
    for (const task of o.service.tasks) {
      const reason = o.cluster.downReason(task);
      if (reason !== null) o.job.hold(reason);
    }
  }

  /** Settles when the check under way (if any) is done: tests wait on it. */
  get settled(): Promise<void> {
    return this.checking ?? Promise.resolve();
  }

  dispose(): void {
    this.disposed = true;
    this.o.service.onDiverged = null;
    this.unwatch();
  }

  private changed(change: TaskChange): void {
    if (this.disposed || !this.o.service.tasks.includes(change.task)) return;
    // A half step stays the reason shown: a task down is why it waits, the rollback what it waits for.
    if (!change.up) this.o.job.hold(this.rollBackDue ?? change.reason);
    else if (this.o.job.pausedReason !== null) this.check();
  }

  private check(): void {
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = this.settle()
      .catch((err: unknown) => {
        const why = err instanceof Error ? err.message : String(err);
        log.error('job could not be recovered on its ps tasks', { job: this.o.job.id, err: why });
        this.o.job.hold(`restoring it on its ps tasks failed: ${why}`);
      })
      .finally(() => {
        this.checking = null;
        if (this.again && !this.disposed) {
          this.again = false;
          this.check();
        }
      });
  }

  private async settle(): Promise<void> {
    const { job, service, cluster } = this.o;
    const down = service.tasks.map((t) => cluster.downReason(t)).find((r) => r !== null);
    if (down) return job.hold(this.rollBackDue ?? down);
    const statuses = await Promise.all(service.tasks.map((t) => cluster.request(t, 'task:status', {})));
    if (this.disposed) return;
    const refused = statuses.find((s) => !s.ok);
    if (refused && !refused.ok) {
      // Unreachable again: the task is down once more, and its return checks again.
      if (refused.code !== ErrorCode.PS_TASK_UNREACHABLE) job.hold(`a ps task refused task:status: ${refused.code}: ${refused.message}`);
      return;
    }
    const held = statuses.map((s) => (s.ok ? s : { epoch: 0, jobs: [] }));
    // Restored while a task was down: the tasks' state is first seen now. Adopted when they all hold it live, as at a restart.
    if (this.rollBackDue === null && service.detached && service.attachLive(held)) {
      log.info('ps tasks back with the job live: adopted', { job: job.id, version: job.version });
      return job.unhold();
    }
    if (this.rollBackDue === null && !service.detached && service.holdsLive(held)) {
      log.info('ps tasks back with the job as it was: resuming', { job: job.id, version: job.version });
      return job.unhold();
    }
    job.hold(this.rollBackDue ?? (service.detached ? 'restored while a ps task was down; its tasks do not all hold the job: restoring every task from the last checkpoint' : 'a ps task lost its slices: restoring every task from the last checkpoint'));
    await this.o.rollBack();
    service.detached = false;
    this.rollBackDue = null;
    if (this.disposed) return;
    log.info('job restored on its ps tasks: resuming', { job: job.id, version: job.version });
    job.unhold();
  }
}
