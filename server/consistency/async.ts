/**
 * Downpour (Dean et al. 2012): every push that is at most maxStaleness versions old is
 * applied as it arrives, each bumping the version.
 */
import type { PushAccepted } from '../../shared/protocol.js';
import { ok, type Failure, type Result } from '../../shared/result.js';
import type { DecodedGradient } from '../params/gradient.js';
import type { ParameterStore } from '../params/parameter-store.js';
import { checkStaleness } from '../params/staleness-policy.js';
import type { Admission, ConsistencyMode } from './consistency-mode.js';

export class AsyncMode implements ConsistencyMode {
  readonly rounds = 0;
  readonly timedOut = 0;

  constructor(
    protected readonly store: ParameterStore,
    private readonly maxStaleness: number,
  ) {}

  admit(_workerId: string, baseVersion: number): Admission | Failure {
    const fresh = checkStaleness(this.store.version, baseVersion, this.maxStaleness);
    if ('ok' in fresh) return fresh;
    return { staleness: fresh.staleness, lrScale: this.lrScale(fresh.staleness) };
  }

  /** Plain Downpour: every admitted gradient at full step. */
  protected lrScale(_staleness: number): number {
    return 1;
  }

  accept(_workerId: string, admission: Admission, gradient: DecodedGradient): Result<PushAccepted> {
    const version = this.store.apply(gradient, admission.lrScale);
    return ok({ version, staleness: admission.staleness });
  }

  leave(): void {}

  halt(): void {}
}
