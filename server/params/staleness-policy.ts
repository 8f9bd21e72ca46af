/**
 * Downpour's bounded asynchrony: a gradient computed against version `base` while the
 * server is at `current` has staleness current − base. Beyond maxStaleness it is
 * refused (with its code, never silently dropped).
 */
import { ErrorCode } from '../../shared/errors.js';
import { fail, type Failure } from '../../shared/result.js';

export function checkStaleness(current: number, base: number, maxStaleness: number): { staleness: number } | Failure {
  if (base > current) {
    return fail(ErrorCode.FUTURE_VERSION, `Base version ${base} is ahead of the server's ${current}`);
  }
  const staleness = current - base;
  if (staleness > maxStaleness) {
    return fail(ErrorCode.STALE, `Gradient is ${staleness} versions stale (base ${base}, now ${current}, max ${maxStaleness})`);
  }
  return { staleness };
}
