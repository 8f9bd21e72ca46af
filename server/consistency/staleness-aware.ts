/**
 * Staleness-aware async SGD (Zhang et al. 2016): a gradient τ versions old is applied
 * with the learning rate divided by τ (fresh ones, τ ≤ 1, at full step), so old
 * gradients pull less. Still refused beyond maxStaleness.
 */
import { AsyncMode } from './async.js';

export class StalenessAwareMode extends AsyncMode {
  protected override lrScale(staleness: number): number {
    return 1 / Math.max(1, staleness);
  }
}
