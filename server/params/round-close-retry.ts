/**
 * The chief asks again for a close (a round's, or a replica step's) that a task missed: its answer timed out, its
 * socket dropped for a moment, it was briefly too busy. A task's close is idempotent
 * (server/ps-task/task-round.ts: the same round with the same members answers the same
 * version and applies nothing twice), so asking every task again is safe: those that
 * closed answer as before, the one that missed closes now. Bounded, with back-off on
 * the chief's clock; a refusal that asking again cannot change (UNKNOWN_JOB: the task
 * restarted; CONFLICT: it holds other pushes; STALE_CHIEF) ends it at once, and the
 * caller falls back to holding the job and rolling its tasks back.
 */
import { ErrorCode } from '../../shared/errors.js';
import { ok, type Failure, type Result } from '../../shared/result.js';
import type { Clock } from '../clock.js';
import type { PsCluster } from '../cluster/ps-cluster.js';
import { createLogger } from '../logger.js';
import type { PsRoundMember } from '../../shared/ps-protocol.js';
import type { RoundMember } from './chief-rounds.js';

const log = createLogger('chief-rounds');

/** Waits before each new attempt: 7.75 s in all, a few of the liveness probe's 2 s periods, in which a task cut off briefly is back up. */
export const CLOSE_RETRY_DELAYS_MS: readonly number[] = [250, 1500, 2000, 4000];

/** Refusals that may pass: the task did not answer, or could not take the message just then. */
export const TRANSIENT_CLOSE_CODES: ReadonlySet<string> = new Set([ErrorCode.PS_TASK_UNREACHABLE, ErrorCode.BUSY, ErrorCode.RATE_LIMITED, ErrorCode.INTERNAL]);

/** `attempt` (a close on every task), asked again after each of `delays` while its refusal is transient; the last answer. */
export async function closeWithRetry(clock: Clock, attempt: () => Promise<Result>, delays: readonly number[] = CLOSE_RETRY_DELAYS_MS, what = 'round'): Promise<Result> {
  let answer = await attempt();
  for (const [i, delay] of delays.entries()) {
    if (answer.ok || !TRANSIENT_CLOSE_CODES.has(answer.code)) return answer;
    log.warn('a ps task missed a close: asking again', { close: what, attempt: i + 2, inMs: delay, code: answer.code, message: answer.message });
    await new Promise<void>((resolve) => clock.setTimeout(resolve, delay));
    answer = await attempt();
  }
  return answer;
}

/**
 * Closes round `round` of `jobId` with `members` on every task in `tasks`; the first
 * refusal (naming its task), or ok when every task has closed it. A split job's replica
 * is named on each task by the parts (worker, part number) its step was accepted with there.
 */
export async function closeOnEveryTask(cluster: PsCluster, jobId: string, tasks: readonly number[], round: number, members: readonly RoundMember[]): Promise<Result> {
  const on = (task: number): PsRoundMember[] => members.map((m) => (m.step ? (m.step.holds.get(task) ?? []) : m.id));
  const answers = await Promise.all(tasks.map((task) => cluster.request(task, 'round:close', { jobId, round, members: on(task) })));
  const refused = answers.findIndex((a) => !a.ok);
  if (refused < 0) return ok({});
  const r = answers[refused] as Failure;
  return { ...r, message: `ps task ${tasks[refused]}: ${r.message}` };
}
