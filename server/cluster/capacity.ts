/**
 * How many parameters one parameter-server task holds, and how many tasks a model
 * needs. One task is what the coordinator's own process holds today
 * (MAX_MODEL_PARAMETERS in server/coordinator.ts, the same number): its push and pull
 * messages, its apply time and its memory are sized for it. With ps tasks the cap is
 * this many per task.
 */
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';

export const PARAMETERS_PER_PS_TASK = 4_000_000;

/** Tasks needed to hold `parameters` (at least 1). */
export function psTasksFor(parameters: number): number {
  return Math.max(1, Math.ceil(parameters / PARAMETERS_PER_PS_TASK));
}

/**
 * MODEL_TOO_LARGE when `parameters` do not fit `tasks` tasks, naming the per-task cap
 * and the ps tasks that would hold them; null when they fit.
 */
export function capacityRefusal(model: string, parameters: number, tasks: number): Failure | null {
  if (parameters <= PARAMETERS_PER_PS_TASK * tasks) return null;
  const needed = psTasksFor(parameters);
  const held = tasks === 1 ? 'one ps task holds' : `${tasks} ps tasks hold`;
  const n = (x: number) => x.toLocaleString('en-US');
  return fail(
    ErrorCode.MODEL_TOO_LARGE,
    `${model} has ${n(parameters)} parameters; ${held} at most ${n(PARAMETERS_PER_PS_TASK * tasks)} (${n(PARAMETERS_PER_PS_TASK)} per task): ` +
      `it needs ${needed} ps tasks: start with --ps ${needed} or a --cluster of ${needed}`,
  );
}
