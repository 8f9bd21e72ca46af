import type { PushAccepted } from '../shared/protocol.js';
import type { Result } from '../shared/result.js';

/** For stage workers' `pushed` reports: resolves once `count` replica steps were accepted (stage 0's answers: one per step). */
export function acceptedSteps(count: number) {
  let accepted = 0;
  let resolve = () => {};
  const reached = new Promise<void>((r) => (resolve = r));
  return {
    reached,
    pushed: (r: Result<PushAccepted>, stage: number) => {
      if (r.ok && stage === 0 && ++accepted === count) resolve();
    },
  };
}
